"""Writing outbox rows, and telling the relay which rows a transaction wrote.

On SQLite writers take turns and a new row's id is one more than the highest id in the
table, so the rows one transaction writes have consecutive ids, which the transaction
knows. A repository that keeps a :func:`journal` on its transaction's connection learns
them (id, row) and can hand them to the relay once the transaction has committed: the
relay publishes them at once when they follow the last row it sent, without reading
them back (:meth:`framework.messaging.relay.OutboxRelay.handoff`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection

from framework.store.prepared import Prepared
from framework.store.tables import outbox

#: Written rows, in order, each with its id: ``(id, {"topic", "key", "payload", "headers",
#: "created_at"})``.
Written = list[tuple[int, Mapping[str, Any]]]

_INSERT = Prepared(outbox.insert(), ["topic", "key", "payload", "headers", "created_at"])
_JOURNAL = "nfvd.outbox-journal"


def write(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (topic, key, payload and headers as JSON text, created_at) in the
    outbox, in order, noting them in the connection's journal when it keeps one."""
    if not rows:
        return
    _INSERT.many(conn, rows)
    journal: Written | None = conn.info.get(_JOURNAL)
    if journal is not None:
        raw = conn.connection.dbapi_connection
        assert raw is not None  # noqa: S101 - a connection in a transaction has one
        last = int(raw.execute("SELECT last_insert_rowid()").fetchone()[0])
        journal.extend(zip(range(last - len(rows) + 1, last + 1), rows, strict=True))


@contextmanager
def journal(conn: Connection) -> Iterator[Written]:
    """The rows :func:`write` inserts through ``conn`` inside the block (SQLite only)."""
    if conn.dialect.name != "sqlite":
        raise ValueError("outbox rows are journaled on SQLite only")
    written: Written = []
    conn.info[_JOURNAL] = written
    try:
        yield written
    finally:
        conn.info.pop(_JOURNAL, None)


class AfterCommit:
    """What a repository does once a transaction committed: hand its outbox rows to the
    relay (``handoff``, SQLite only; True when it published them) or else wake the relay
    (``wake``), which reads what is new from the outbox.

    A write made for callers who wait for it (a group commit) can leave its rows for
    :meth:`deferred`, called once the callers have their answer, so that publishing does
    not delay it.
    """

    def __init__(self, dialect: str, wake: Callable[[], None] | None,
                 handoff: Callable[[Written], bool] | None) -> None:
        self._wake = wake
        self._handoff = handoff if dialect == "sqlite" else None
        self._later = threading.local()

    def journal(self, conn: Connection) -> AbstractContextManager[Written | None]:
        """The transaction's rows, or None when they go to nobody."""
        return journal(conn) if self._handoff is not None else nullcontext(None)

    def committed(self, written: Written | None, defer: bool = False) -> None:
        """After a commit: ``written`` are its rows, or None when they were not journaled."""
        if written is not None and not written:
            return  # journaled, and no row written: nothing for the relay
        if written and defer:
            self._later.__dict__.setdefault("rows", []).extend(written)
            return
        if written and self._handoff is not None and self._handoff(written):
            return
        if self._wake is not None:
            self._wake()

    def deferred(self) -> None:
        """Hands over (or wakes the relay for) the rows this thread deferred."""
        rows = self._later.__dict__.pop("rows", None)
        if rows:
            self.committed(rows)
