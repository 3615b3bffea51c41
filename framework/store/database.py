"""The Store: the one SQLAlchemy engine of a process, on SQLite or PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidatePoolError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from framework.config import redact_url
from framework.errors import StartupError
from framework.store import migrations

POSTGRES_INSTALL_HINT = "pip install 'nfv-driver-framework[postgres]'"
_DRIVERS = {"sqlite": ("sqlite", "sqlite+pysqlite"), "postgresql": ("postgresql+psycopg",)}
# busy_timeout comes first so that the switch to WAL, which briefly needs an exclusive
# lock when the file is new, waits for another process instead of failing at once.
_SQLITE_BUSY_SECONDS = 30
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={_SQLITE_BUSY_SECONDS * 1000}",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # durable with WAL except for the last commits on power loss
    "PRAGMA foreign_keys=ON",
    # a _Checkpointer copies the WAL into the database, not the commit that fills it
    "PRAGMA wal_autocheckpoint=0",
)
# Connection execution option set by Store.connect(read_only=True).
_READ_ONLY = "nfvd_read_only"


class StoreUnavailable(Exception):
    """The store cannot be used: bad URL, missing driver, unreachable server, failed migration.

    The message is one line that names the store, with its password redacted, and the
    reason; it never contains the password.
    """


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    # isolation_level=None stops pysqlite from issuing its own (deferred) BEGIN, so that
    # _sqlite_on_begin decides how every transaction starts, and DDL is transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            _sqlite_pragma(cursor, pragma)
    finally:
        cursor.close()


def _sqlite_pragma(cursor: Any, pragma: str) -> None:
    """Runs ``pragma``, again while the database is locked, for as long as the busy timeout.

    Switching a new file to WAL while other processes open it too can fail with "database is
    locked" at once, without SQLite's busy handler waiting: seen with four processes
    starting together on a fresh file, about one start in 25.
    """
    deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute(pragma)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class _SqliteWriters:
    """Begins SQLite transactions; the writing ones of this process take turns on a lock.

    A deferred transaction that reads and then writes must upgrade its lock, and two
    processes doing so at once deadlock (one gets SQLITE_BUSY without waiting), so a
    writing transaction begins IMMEDIATE, taking the database's write lock up front. Threads
    of one process first queue on a Python lock: SQLite's own busy handler waits for a
    busy lock by sleeping 1, 2, 5, 10... ms, which would add those sleeps to every write
    made while another thread writes. Other processes still wait in the busy handler.
    """

    _HELD = "nfvd.writer"

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def begin(self, conn: Connection) -> None:
        if conn.get_execution_options().get(_READ_ONLY, False):
            _begin(conn, "BEGIN")
            return
        self.lock.acquire()
        try:
            _begin(conn, "BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        conn.info[self._HELD] = True

    def end(self, conn: Connection) -> None:
        if conn.info.pop(self._HELD, False):
            self.lock.release()


class _Checkpointer:
    """Copies the WAL into the database file on a thread of its own, every ``interval``.

    Left to SQLite, the commit that takes the WAL past 1000 pages makes the copy, and its
    fsync, while it holds the write lock: one write in a few hundred took some 10 ms, and
    every writer queued behind it. A PASSIVE checkpoint waits for no reader and no writer;
    but while writes keep coming it never catches up, and the WAL only starts over once
    one has: past ``max_pages`` the checkpoint is made holding this process's write lock.
    """

    def __init__(self, path: Path, writers: threading.Lock, interval: float = 0.2,
                 max_pages: int = 4000) -> None:
        self._path, self._writers = path, writers
        self._interval, self._max_pages = interval, max_pages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nfvd-sqlite-checkpoint",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        while not self._stop.wait(self._interval):
            try:
                if connection is None:
                    connection = sqlite3.connect(self._path, isolation_level=None,
                                                 check_same_thread=False)
                _busy, pages, _copied = connection.execute(
                    "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if pages > self._max_pages:
                    with self._writers:
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:  # busy, or the file is gone: try again next time
                pass
        if connection is not None:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)


def _begin(conn: Connection, statement: str) -> None:
    """Run ``statement`` on the driver's connection: a transaction begins for every request
    the store serves, and SQLAlchemy's execution machinery would cost more than SQLite."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None  # noqa: S101 - the connection is checked out
    try:
        dbapi.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, None, exc, sqlite3.Error,
                                  dialect=conn.dialect) from exc


#: A pooled PostgreSQL connection idle this long (seconds) is tested before it is used again.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "nfvd_idle_since"


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection before use when it waited in the pool ``PING_AFTER_IDLE`` or
    more: one the server closed meanwhile (restart, idle timeout) is replaced, and so is
    every connection opened before it, as with SQLAlchemy's ``pool_pre_ping``. A connection
    used a moment ago is not tested: under load that was a round trip per transaction.
    A connection that breaks between two close uses fails that use; the disconnection then
    replaces the pool's connections the same way.
    """
    dialect = engine.dialect

    def checked_in(_dbapi: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi: DBAPIConnection, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)  # None: a new connection
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi, None):
                raise InvalidatePoolError(str(exc)) from exc
            raise

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checkout)


def _sqlite_url(url: URL) -> tuple[URL, Path | None]:
    """``url`` with a file path made absolute, and that file; in-memory databases have none."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:") or "uri" in url.query:
        return url, None
    # Resolved once here, against the working directory at start, so a later chdir cannot
    # make new pooled connections open another file.
    path = Path(database).absolute()
    return url.set(database=str(path)), path


def _reason(exc: BaseException, password: str | None) -> str:
    """One line saying why ``exc`` happened, without the driver's boilerplate or a password."""
    orig: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    primary = getattr(getattr(orig, "diag", None), "message_primary", None)
    lines = [line.strip() for line in str(primary or orig).splitlines() if line.strip()]
    # libpq: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  what'
    # (psycopg puts the last attempt first when a host name has several addresses).
    line = lines[0].rpartition("failed: ")[2] if lines else ""
    line = re.sub(r"^(FATAL|ERROR|PANIC):\s*", "", line).strip() or type(orig).__name__
    return line.replace(password, "***") if password else line


class Store:
    """The database of one nfvd process: an SQLAlchemy engine and its connection pool.

    Build one per process, after any fork, and share it between threads. ``url`` is an
    SQLAlchemy URL: ``sqlite:///PATH`` (relative to the working directory; the directory
    is created) or ``postgresql+psycopg://USER[:PASSWORD]@HOST:PORT/DB`` (plain
    ``postgresql://`` means psycopg too). Nothing connects until a method needs it.

    Raises :class:`StoreUnavailable` if the URL or its driver cannot be used.
    """

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreUnavailable(f"store {redact_url(url)}: not a database URL") from None
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self._password = parsed.password if isinstance(parsed.password, str) else None
        self._dialect = parsed.get_backend_name()
        file: Path | None = None
        if self._dialect == "sqlite":
            parsed, file = _sqlite_url(parsed)
        self._display = redact_url(parsed.render_as_string(hide_password=False))
        if parsed.drivername not in _DRIVERS.get(self._dialect, ()):
            raise StoreUnavailable(
                f"store {self._display}: unsupported database; "
                "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
            )
        if file is not None:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(
                    f"store {self._display}: cannot create directory {file.parent} "
                    f"({exc.strerror or exc})"
                ) from exc
        try:
            self._engine = self._create_engine(parsed)
        except ImportError as exc:
            raise StoreUnavailable(
                f"store {self._display}: the PostgreSQL driver psycopg is not installed "
                f"({POSTGRES_INSTALL_HINT})"
            ) from exc
        self._checkpointer: _Checkpointer | None = None
        self._checkpointer_lock = threading.Lock()
        if file is not None:
            event.listen(self._engine, "connect", lambda *_: self._checkpoint(file))

    def _checkpoint(self, file: Path) -> None:
        """Start the checkpoints of the file once a connection opened it."""
        with self._checkpointer_lock:
            if self._checkpointer is None:
                self._checkpointer = _Checkpointer(file, self._writers.lock)

    def _create_engine(self, url: URL) -> Engine:
        if self._dialect == "postgresql":
            # connect_timeout bounds a start on a dead host
            engine = create_engine(url, connect_args={"connect_timeout": 5})
            _ping_when_idle(engine)
            return engine
        engine = create_engine(url)
        writers = self._writers = _SqliteWriters()
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", writers.begin)
        event.listen(engine, "commit", writers.end)
        event.listen(engine, "rollback", writers.end)
        return engine

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @property
    def url_for_display(self) -> str:
        """The URL with its password replaced by ``***``, safe to log."""
        return self._display

    def connect(self, *, read_only: bool = False) -> Connection:
        """A connection from the pool (use it in a ``with`` block).

        On SQLite every transaction begins with BEGIN IMMEDIATE, so transactions that may
        write run one at a time. With ``read_only=True`` they begin deferred instead and
        run alongside the others (WAL readers do not block); do not write in them: the
        write could fail with "database is locked" rather than wait. On PostgreSQL they
        run in autocommit: each statement sees what was committed when it began, as in a
        transaction at the default isolation (read committed), without the BEGIN and the
        ROLLBACK, and without psycopg dropping its prepared statements after each ROLLBACK.
        """
        conn = self._engine.connect()
        if not read_only:
            return conn
        if self._dialect == "postgresql":
            return conn.execution_options(isolation_level="AUTOCOMMIT", **{_READ_ONLY: True})
        return conn.execution_options(**{_READ_ONLY: True})

    def _unavailable(self, doing: str, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"store {self._display}: {doing} ({_reason(exc, self._password)})")

    def ping(self) -> None:
        """Run ``SELECT 1``; raise :class:`StoreUnavailable` if the database cannot answer."""
        try:
            with self.connect(read_only=True) as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise self._unavailable("cannot connect", exc) from exc

    def migrate(self) -> list[int]:
        """Apply the pending migrations; return the versions this call applied.

        Safe when several processes start at once: each migration is applied once, by
        one of them. Raises :class:`StoreUnavailable` if a migration fails (it is rolled
        back) or the schema is newer than this nfvd.
        """
        try:
            return migrations.run(self._engine)
        except migrations.MigrationError as exc:
            raise StoreUnavailable(f"store {self._display}: {exc}") from exc
        except SQLAlchemyError as exc:
            raise self._unavailable("cannot migrate the schema", exc) from exc

    def schema_version(self) -> int:
        """The highest migration version applied; 0 for a database never migrated."""
        try:
            with self.connect(read_only=True) as conn:
                return migrations.current_version(conn)
        except SQLAlchemyError as exc:
            raise self._unavailable("cannot read the schema version", exc) from exc

    def close(self) -> None:
        """Close every pooled connection; the Store must not be used afterwards."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._engine.dispose()


def open_store(url: str) -> Store:
    """The Store at ``url``, reachable and migrated, for the start of nfvd.

    Raises :class:`~framework.errors.StartupError` with one line naming the store
    (password redacted) and what is wrong.
    """
    try:
        store = Store(url)
    except StoreUnavailable as exc:
        raise StartupError(str(exc)) from exc
    try:
        store.ping()
        store.migrate()
    except StoreUnavailable as exc:
        store.close()
        raise StartupError(str(exc)) from exc
    return store
