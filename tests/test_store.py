"""The Store on SQLite and on a real PostgreSQL server: connection, migrations, errors."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fixtures.store import PostgresServer

from framework.errors import StartupError
from framework.store import Store, StoreUnavailable, metadata, open_store
from framework.store.migrations import MIGRATIONS, Migration, run, schema_migrations
from framework.store.tables import outbox

ALL_VERSIONS = [migration.version for migration in MIGRATIONS]
PASSWORD = "s3cret-pw"

# Each process connects, then waits for the go line on stdin, so that all of them enter
# migrate() together rather than one after the other as they finish importing.
MIGRATE_SCRIPT = """
import json, sys
from framework.store import Store
store = Store(sys.argv[1])
store.ping()
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(store.migrate()), flush=True)
store.close()
"""


@contextlib.contextmanager
def closing_store(url: str) -> Iterator[Store]:
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def recorded_versions(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return list(conn.scalars(sa.select(schema_migrations.c.version)))


def insert_outbox(conn: sa.Connection, **values: object) -> object:
    """Insert one outbox row; its generated id."""
    primary_key = conn.execute(outbox.insert().values(**values)).inserted_primary_key
    assert primary_key is not None
    return primary_key[0]


def error_chain_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_first_migration_creates_the_outbox() -> None:
    assert MIGRATIONS[0].version == 1
    assert ALL_VERSIONS == sorted(set(ALL_VERSIONS))


def test_migrate_from_empty_applies_every_migration_and_records_it(store_url: str) -> None:
    with closing_store(store_url) as store:
        assert store.schema_version() == 0
        before = time.time()
        assert store.migrate() == ALL_VERSIONS
        assert store.schema_version() == ALL_VERSIONS[-1]
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(schema_migrations)).all()
        assert [(row.version, row.description) for row in rows] == [
            (m.version, m.description) for m in MIGRATIONS
        ]
        assert all(before <= row.applied_at <= time.time() for row in rows)


def test_second_migrate_applies_nothing(store: Store) -> None:
    assert store.migrate() == []
    assert recorded_versions(store) == ALL_VERSIONS
    with closing_store(store.engine.url.render_as_string(hide_password=False)) as again:
        assert again.migrate() == []


def test_migrated_schema_matches_the_metadata(store: Store) -> None:
    inspector = sa.inspect(store.engine)
    for table in metadata.tables.values():
        columns = {col["name"]: col for col in inspector.get_columns(table.name)}
        assert list(columns) == [col.name for col in table.columns], table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, column.name
        primary_key = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert primary_key == [col.name for col in table.primary_key]


def test_outbox_row_round_trip(store: Store) -> None:
    payload = json.dumps({"vnf": "vnf-1", "state": "INSTANTIATED", "note": "é"})
    headers = json.dumps({"type": "lifecycle"})
    now = time.time()
    with store.engine.begin() as conn:
        first = insert_outbox(conn, topic="nfvd.lifecycle", key=None, payload=payload,
                              headers=None, created_at=now)
        second = insert_outbox(conn, topic="nfvd.lifecycle", key="vnf-1", payload=payload,
                               headers=headers, created_at=now)
    assert isinstance(first, int) and isinstance(second, int) and first < second
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox).order_by(outbox.c.id)).all()
    assert [tuple(row) for row in rows] == [
        (first, "nfvd.lifecycle", None, payload, None, now),
        (second, "nfvd.lifecycle", "vnf-1", payload, headers, now),
    ]


def test_outbox_requires_a_payload(store: Store) -> None:
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
        conn.execute(outbox.insert().values(topic="t", payload=None, created_at=time.time()))


def test_ping(store_url: str) -> None:
    with closing_store(store_url) as store:
        store.ping()


def test_postgres_url_is_a_fresh_database(postgres_url: str) -> None:
    with closing_store(postgres_url) as store:
        store.ping()
        assert store.dialect == "postgresql"
        assert sa.inspect(store.engine).get_table_names() == []


def test_several_processes_migrating_at_once_apply_each_migration_once(store_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE_SCRIPT, store_url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(4)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                pytest.fail(f"migrating process failed to start: {proc.communicate()[1]}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, stderr) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, stderr
    applied = sorted(v for stdout, _ in outcomes for v in json.loads(stdout))
    assert applied == ALL_VERSIONS
    with closing_store(store_url) as store:
        assert recorded_versions(store) == ALL_VERSIONS


def test_failed_migration_is_rolled_back_with_its_record(store_url: str) -> None:
    def half_done(conn: sa.Connection) -> None:
        sa.Table("half_done", sa.MetaData(), sa.Column("x", sa.Integer)).create(conn)
        raise RuntimeError("migration bug")

    broken = (*MIGRATIONS, Migration(ALL_VERSIONS[-1] + 1, "broken", half_done))
    with closing_store(store_url) as store:
        with pytest.raises(RuntimeError, match="migration bug"):
            run(store.engine, broken)
        # The earlier migrations committed on their own; the broken one left nothing.
        assert store.schema_version() == ALL_VERSIONS[-1]
        assert not sa.inspect(store.engine).has_table("half_done")


def test_schema_from_a_newer_nfvd_stops_the_start(store: Store) -> None:
    newer = ALL_VERSIONS[-1] + 1
    with store.engine.begin() as conn:
        conn.execute(schema_migrations.insert().values(
            version=newer, description="from the future", applied_at=time.time()))
    with pytest.raises(StartupError) as caught:
        open_store(store.engine.url.render_as_string(hide_password=False))
    assert f"migrations this nfvd does not know ({newer})" in str(caught.value)
    assert str(caught.value).startswith(f"store {store.url_for_display}: ")


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    with closing_store(f"sqlite:///{tmp_path / 'nfvd.db'}") as store:
        # Two connections at once: the pragmas are set on each new one, not just the first.
        with store.connect(read_only=True) as one, store.connect(read_only=True) as two:
            for conn in (one, two):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_sqlite_transactions_take_the_write_lock_when_they_begin(tmp_path: Path) -> None:
    path = tmp_path / "nfvd.db"
    with closing_store(f"sqlite:///{path}") as store:
        store.migrate()
        with contextlib.closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as other:
            with store.engine.connect() as conn, conn.begin():
                # Nothing written yet, but BEGIN IMMEDIATE already holds the write lock.
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            other.execute("BEGIN IMMEDIATE")
            # Reads do not queue for the write lock (they would wait for busy_timeout).
            store.ping()
            assert store.schema_version() == ALL_VERSIONS[-1]
            other.execute("ROLLBACK")


def test_sqlite_relative_path_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with closing_store("sqlite:///data/nfvd.db") as store:
        assert store.dialect == "sqlite"
        assert store.url_for_display == f"sqlite:///{tmp_path}/data/nfvd.db"
        monkeypatch.chdir("/")  # a later chdir must not move the database
        assert store.migrate() == ALL_VERSIONS
    assert (tmp_path / "data" / "nfvd.db").is_file()


def test_url_for_display_hides_the_password() -> None:
    with closing_store(f"postgresql://nfvd:{PASSWORD}@db.example:5432/nfvd") as store:
        assert store.dialect == "postgresql"
        assert store.url_for_display == "postgresql+psycopg://nfvd:***@db.example:5432/nfvd"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db", "nfvd"])
def test_unsupported_url(url: str) -> None:
    with pytest.raises(StartupError, match="unsupported database|not a database URL"):
        open_store(url)


def test_unreachable_postgres_is_a_startup_error_without_the_password() -> None:
    port = closed_port()
    with pytest.raises(StartupError) as caught:
        open_store(f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{port}/nfvd")
    message = str(caught.value)
    assert message == (
        f"store postgresql+psycopg://postgres:***@127.0.0.1:{port}/nfvd: "
        "cannot connect (Connection refused)"
    )
    assert PASSWORD not in error_chain_text(caught.value)


def test_unreachable_store_ping_raises_store_unavailable() -> None:
    url = f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:{closed_port()}/x"
    with closing_store(url) as store:
        with pytest.raises(StoreUnavailable, match=r"^store .*:\*\*\*@.*: cannot connect \("):
            store.ping()


def test_missing_database_is_a_clear_startup_error(postgres_server: PostgresServer) -> None:
    name = f"nfvd_missing_{secrets.token_hex(4)}"
    url = postgres_server.url_of(name)
    with pytest.raises(StartupError) as caught:
        open_store(url)
    assert str(caught.value) == (
        f"store {Store(url).url_for_display}: cannot connect (database \"{name}\" does not exist)"
    )


def test_missing_psycopg_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(StartupError) as caught:
        open_store(f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:5432/nfvd")
    assert str(caught.value) == (
        "store postgresql+psycopg://postgres:***@127.0.0.1:5432/nfvd: the PostgreSQL driver "
        "psycopg is not installed (pip install 'nfv-driver-framework[postgres]')"
    )


def test_sqlite_path_under_a_file_is_a_clear_startup_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    path = tmp_path / "afile" / "sub" / "nfvd.db"
    with pytest.raises(StartupError) as caught:
        open_store(f"sqlite:///{path}")
    assert str(caught.value) == (
        f"store sqlite:///{path}: cannot create directory {path.parent} (Not a directory)"
    )


def test_sqlite_path_that_is_a_directory_is_a_clear_startup_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError) as caught:
        open_store(f"sqlite:///{tmp_path}")
    assert str(caught.value) == (
        f"store sqlite:///{tmp_path}: cannot connect (unable to open database file)"
    )
