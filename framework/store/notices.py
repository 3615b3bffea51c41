"""Notices: messages that an operation's kind adds to the outbox as the operation moves."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Connection, select

from framework.store.tables import lcm_notices, lcm_operations, lcm_tasks, outbox


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


class NoticeContext:
    """What a notifier reads and writes, inside the transaction of the transition.

    Everything written here commits with the transition, or not at all: a notice can be
    neither lost nor queued for a transition that did not happen.
    """

    def __init__(self, conn: Connection, transition: Transition,
                 request: Mapping[str, Any] | None = None) -> None:
        self._conn = conn
        self._transition = transition
        self._request = None if request is None else dict(request)

    def request(self) -> dict[str, Any]:
        """The operation's request (JSON object; empty if it has none)."""
        if self._request is None:
            text = self._conn.scalar(select(lcm_operations.c.request).where(
                lcm_operations.c.id == self._transition.operation_id))
            self._request = dict(json.loads(text)) if text else {}
        return self._request

    def tasks(self) -> list[TaskOutcome]:
        """The operation's tasks, in their order."""
        rows = self._conn.execute(
            select(lcm_tasks.c.name, lcm_tasks.c.state, lcm_tasks.c.result, lcm_tasks.c.error)
            .where(lcm_tasks.c.operation_id == self._transition.operation_id)
            .order_by(lcm_tasks.c.idx)).all()
        return [TaskOutcome(row.name, row.state, None if row.result is None
                            else json.loads(row.result), row.error) for row in rows]

    def once(self, name: str) -> bool:
        """True the first time it is asked with ``name`` for this operation, then False."""
        key = {"operation_id": self._transition.operation_id, "name": name}
        seen = self._conn.scalar(select(lcm_notices.c.name).where(
            lcm_notices.c.operation_id == key["operation_id"], lcm_notices.c.name == name))
        if seen is not None:
            return False
        self._conn.execute(lcm_notices.insert().values(**key, created_at=self._transition.now))
        return True

    def publish(self, topic: str, key: str, payload: Mapping[str, Any],
                headers: Mapping[str, str] | None = None) -> None:
        """Queue ``payload`` (compact UTF-8 JSON) for ``topic``, keyed by ``key``."""
        self._conn.execute(outbox.insert().values(
            topic=topic, key=key, created_at=self._transition.now,
            payload=json.dumps(dict(payload), separators=(",", ":"), ensure_ascii=False,
                               allow_nan=False),
            headers=json.dumps(dict(headers)) if headers else None))


class Notifier(Protocol):
    """Adds the messages of one kind of operation; called for each of its transitions.

    It runs inside the repository's transaction, with the operation's row locked: it
    must be quick, and an exception it raises aborts the transition.
    """

    def operation_moved(self, transition: Transition, context: NoticeContext) -> None: ...
