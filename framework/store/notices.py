"""Notices: messages that an operation's kind adds to the outbox as the operation moves."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, select

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
_SEEN = Prepared(select(lcm_notices.c.name).where(lcm_notices.c.operation_id == bindparam("b_op"),
                                                  lcm_notices.c.name == bindparam("b_name")))
_MARK = Prepared(lcm_notices.insert(), ["operation_id", "name", "created_at"])


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
        key = {"b_op": self._transition.operation_id, "b_name": name}
        if _SEEN.first(self._conn, key) is not None:
            return False
        _MARK.run(self._conn, {"operation_id": key["b_op"], "name": name,
                               "created_at": self._transition.now})
        return True

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
