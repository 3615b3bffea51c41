"""Notices: messages that an operation's kind adds to the outbox as the operation moves."""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from framework.store.prepared import Prepared
from framework.store.tables import lcm_notices, lcm_operations, lcm_tasks


@dataclasses.dataclass(frozen=True)
class Transition:
    """An operation of ``kind`` went from ``old`` (None: created) to ``new``."""

    operation_id: str
    kind: str
    old: str | None
    new: str
    error: str | None
    now: float


@dataclasses.dataclass(frozen=True)
class TaskOutcome:
    """A task of the operation as it stands in the transaction: state, result, error."""

    name: str
    state: str
    result: Any
    error: str | None


_REQUEST = Prepared(select(lcm_operations.c.request)
                    .where(lcm_operations.c.id == bindparam("b_op")))
_TASKS = Prepared(select(lcm_tasks.c.name, lcm_tasks.c.state, lcm_tasks.c.result,
                         lcm_tasks.c.error)
                  .where(lcm_tasks.c.operation_id == bindparam("b_op"))
                  .order_by(lcm_tasks.c.idx))
#: A notice's mark, inserted unless the operation has it already: one statement, whose row
#: count tells whether the notice is new. Both dialects write it the same way.
_MARK = {name: Prepared(dialect.insert(lcm_notices).on_conflict_do_nothing(),
                        ["operation_id", "name", "created_at"])
         for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}


class KeptRequests:
    """The requests of the latest ``size`` operations, by id, as they were created, for
    their notifiers.

    A request never changes, and a notifier may read it at every transition of its
    operation: kept, it is not read back from the operation's row. An OrderedDict's
    single calls are atomic, so threads share it without a lock.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._kept: collections.OrderedDict[str, Mapping[str, Any]] = collections.OrderedDict()

    def keep(self, operation_id: str, request: Mapping[str, Any] | None) -> None:
        self._kept[operation_id] = {} if request is None else dict(request)
        while len(self._kept) > self._size:
            try:
                self._kept.popitem(last=False)
            except KeyError:  # another thread emptied it meanwhile
                break

    def get(self, operation_id: str) -> Mapping[str, Any] | None:
        """The request of ``operation_id`` (``{}``: it has none); None if not kept."""
        return self._kept.get(operation_id)


class NoticeContext:
    """What a notifier reads and writes, inside the transaction of the transition.

    Everything written here commits with the transition, or not at all: a notice can be
    neither lost nor queued for a transition that did not happen. The rows published are
    appended to ``outbox``, for the caller to insert in the same transaction.
    """

    def __init__(self, conn: Connection, transition: Transition,
                 request: Mapping[str, Any] | None, outbox: list[dict[str, Any]]) -> None:
        self._conn = conn
        self._transition = transition
        self._request = None if request is None else dict(request)
        self._outbox = outbox

    def request(self) -> dict[str, Any]:
        """The operation's request (JSON object; empty if it has none)."""
        if self._request is None:
            row = _REQUEST.first(self._conn, {"b_op": self._transition.operation_id})
            self._request = dict(json.loads(row.request)) if row and row.request else {}
        return self._request

    def tasks(self) -> list[TaskOutcome]:
        """The operation's tasks, in their order."""
        rows = _TASKS.rows(self._conn, {"b_op": self._transition.operation_id})
        return [TaskOutcome(row.name, row.state, None if row.result is None
                            else json.loads(row.result), row.error) for row in rows]

    def once(self, name: str) -> bool:
        """True the first time it is asked with ``name`` for this operation, then False."""
        return _MARK[self._conn.dialect.name].run(self._conn, {
            "operation_id": self._transition.operation_id, "name": name,
            "created_at": self._transition.now}) == 1

    def publish(self, topic: str, key: str, payload: Mapping[str, Any],
                headers: Mapping[str, str] | None = None) -> None:
        """Queue ``payload`` (compact UTF-8 JSON) for ``topic``, keyed by ``key``."""
        row = {"topic": topic, "key": key, "created_at": self._transition.now,
               "payload": json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False,
                                     allow_nan=False),
               "headers": json.dumps(dict(headers)) if headers else None}
        self._outbox.append(row)


class Notifier(Protocol):
    """Adds the messages of one kind of operation; called for each of its transitions.

    It runs inside the repository's transaction, with the operation's row locked: it
    must be quick, and an exception it raises aborts the transition.
    """

    def operation_moved(self, transition: Transition, context: NoticeContext) -> None: ...
