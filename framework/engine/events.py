"""Lifecycle events: one per transition, in ``specs/schemas/lcm-event.json`` form."""

from __future__ import annotations

from typing import Any

from framework.engine.model import SOL_STATE, OperationState, TaskState, clip, iso

#: Kafka topic of lifecycle events; the key of each message is the operation id.
TOPIC = "nfvd_lcm_events"


def operation_event(operation_id: str, seq: int, at: float, old: OperationState | None,
                    new: OperationState, error: str | None = None) -> dict[str, Any]:
    """The event of the operation going from ``old`` (None: created) to ``new``."""
    return {
        "operationId": operation_id,
        "seq": seq,
        "at": iso(at),
        "entity": "operation",
        "task": None,
        "from": None if old is None else old.value,
        "to": new.value,
        "state": new.value,
        "solState": SOL_STATE[new],
        "attempt": None,
        "error": clip(error),
    }


def task_event(operation_id: str, seq: int, at: float, task: str, old: TaskState,
               new: TaskState, operation_state: OperationState, attempt: int,
               error: str | None = None) -> dict[str, Any]:
    """The event of task ``task`` going from ``old`` to ``new``; ``operation_state`` is the
    operation's state once this transition is applied."""
    return {
        "operationId": operation_id,
        "seq": seq,
        "at": iso(at),
        "entity": "task",
        "task": task,
        "from": old.value,
        "to": new.value,
        "state": operation_state.value,
        "solState": SOL_STATE[operation_state],
        "attempt": attempt,
        "error": clip(error),
    }
