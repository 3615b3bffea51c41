"""Leadership of the outbox relay: one relay per database publishes at a time."""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, text

from framework.store import Store

#: Key of the PostgreSQL session advisory lock held by the one relay of a database.
RELAY_LOCK_KEY = int.from_bytes(b"nfvdrely", "big")


class Leadership:
    """At most one relay per database publishes, so rows leave in the order they were written.

    The lock dies with its holder (a PostgreSQL session lock, or ``flock`` beside the SQLite
    file), so after a crash another process takes over at once, with no lease to wait out.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Connection | None = None
        self._file: BinaryIO | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        if self.store.dialect == "postgresql":
            conn = self.store.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": RELAY_LOCK_KEY})
            conn.commit()
            if got.scalar():
                self._conn = conn
                return True
            conn.close()
            return False
        database = self.store.engine.url.database or ""
        path = Path(database + ".relay.lock") if database not in ("", ":memory:") else None
        if path is None:
            return True  # an in-memory database lives in one process only
        handle = path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            # Closing gives the session back to the pool, lock and all: unlock it first, and
            # if that fails, end the session itself.
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RELAY_LOCK_KEY})
                self._conn.commit()
            except Exception:
                with contextlib.suppress(Exception):
                    self._conn.invalidate()
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None
