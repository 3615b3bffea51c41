"""An operation's bookkeeping inside one transaction: counters, next state, numbered events."""

from __future__ import annotations

from collections import Counter
from typing import Any

from framework.engine import events, machine
from framework.engine.model import Direction, OperationState, TaskState, clip
from framework.engine.ports import NewOperation, Outcome

Op = OperationState
Task = TaskState


class OperationBook:
    """The row of one operation, locked, as a repository transaction changes it.

    Each transition given here is checked against :mod:`framework.engine.machine` and
    adds its event, numbered from the operation's ``seq``; the repository then writes
    :meth:`row` and :attr:`events` in the same transaction. ``tasks_left`` counts the
    tasks not yet SUCCEEDED or SKIPPED, ``rollback_left`` those still to compensate,
    ``ready`` the PENDING tasks with no dependency left (so that a claim need not look for
    them when there is none).
    """

    def __init__(self, operation_id: str, *, state: Op | None, direction: Direction, seq: int,
                 error: str | None, tasks_left: int, rollback_left: int, ready: int,
                 version: int, now: float, kind: str = "") -> None:
        self.id, self.now, self.kind = operation_id, now, kind
        self._state = state
        self.direction, self.seq, self.error, self.version = direction, seq, error, version
        self.tasks_left, self.rollback_left, self.ready = tasks_left, rollback_left, ready
        self.events: list[dict[str, Any]] = []
        self.changed = False
        #: How much ``deps_left`` / ``rdeps_left`` drops, by task index.
        self.unblocked: Counter[int] = Counter()
        self.compensable: Counter[int] = Counter()

    @classmethod
    def created(cls, new: NewOperation) -> OperationBook:
        """The book of ``new`` as persisted: PROCESSING, or COMPLETED at once without tasks."""
        book = cls(new.id, state=None, direction=Direction.FORWARD, seq=0, error=None,
                   tasks_left=len(new.tasks), rollback_left=0, version=0, now=new.created_at,
                   ready=sum(1 for task in new.tasks if not task.depends_on), kind=new.kind)
        book.move(Op.PROCESSING)
        book.settle()
        return book

    @property
    def state(self) -> Op:
        if self._state is None:
            raise RuntimeError(f"operation {self.id} is not created yet")
        return self._state

    def row(self) -> dict[str, Any]:
        """The values of the operation's row now (``version`` goes up with its state)."""
        return {"state": self.state, "direction": self.direction, "seq": self.seq,
                "error": self.error, "tasks_left": self.tasks_left, "ready": self.ready,
                "rollback_left": self.rollback_left, "updated_at": self.now,
                "version": self.version + (1 if self.changed else 0)}

    def move(self, new: Op, error: str | None = None) -> None:
        """The operation goes to ``new``; ``error`` becomes its error."""
        machine.check_operation(self._state, new)
        self.seq += 1
        self.events.append(events.operation_event(self.id, self.seq, self.now, self._state,
                                                  new, error))
        self._state, self.error, self.changed = new, clip(error), True

    def settle(self) -> None:
        """Move on if nothing is left to do (:func:`framework.engine.machine.settled`)."""
        after = machine.settled(self.state, self.tasks_left, self.rollback_left)
        if after is not None:
            self.move(after)

    def task_moved(self, name: str, old: Task, new: Task, attempt: int,
                   error: str | None = None) -> None:
        """A task of the operation went from ``old`` to ``new`` (no effect on counters)."""
        machine.check_task(old, new)
        self.seq += 1
        self.events.append(events.task_event(self.id, self.seq, self.now, name, old, new,
                                             self.state, attempt, error))

    def task_finished(self, outcome: Outcome) -> None:
        """Count a written outcome; the operation moves on if it is done or has failed.

        A task done forward unblocks its dependents (:attr:`unblocked`), a task rolled back
        its dependencies (:attr:`compensable`).
        """
        claim, new = outcome.claim, outcome.state
        self.task_moved(claim.name, claim.state, new, claim.attempt, outcome.error)
        if new in (Task.SUCCEEDED, Task.SKIPPED):
            self.tasks_left -= 1
            self.unblocked.update(claim.dependents)
        elif new is Task.ROLLED_BACK:
            self.rollback_left -= 1
            self.compensable.update(claim.depends_on)
        after = machine.after_task(self.state, self.direction, new, self.tasks_left,
                                   self.rollback_left)
        if after is not None:
            what = new.lower().replace("_", " ")
            self.move(after, None if after in (Op.COMPLETED, Op.ROLLED_BACK)
                      else f"task {claim.name!r} {what}: {outcome.error or outcome.reason}")


def by_count(counts: Counter[int]) -> dict[int, list[int]]:
    """Task indexes grouped by their count (one statement per group drops them all)."""
    groups: dict[int, list[int]] = {}
    for index, n in counts.items():
        groups.setdefault(n, []).append(index)
    return groups
