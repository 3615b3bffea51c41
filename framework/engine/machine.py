"""The state machine: every allowed transition of operations and tasks, and the controls."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from framework.engine.model import Direction, OperationState, TaskState

Op = OperationState
Task = TaskState


class InvalidTransition(ValueError):
    """A state change that the tables below do not allow."""


#: Operation transitions; ``None`` is "not yet created".
OPERATION_TRANSITIONS: Mapping[Op | None, frozenset[Op]] = {
    None: frozenset({Op.PROCESSING}),
    Op.PROCESSING: frozenset(
        {Op.PAUSED, Op.COMPLETED, Op.FAILED_TEMP, Op.CANCELLED, Op.ROLLING_BACK}),
    # A task still running when paused may fail (but completing waits for resume).
    Op.PAUSED: frozenset({Op.PROCESSING, Op.CANCELLED, Op.FAILED, Op.ROLLING_BACK,
                          Op.FAILED_TEMP}),
    Op.FAILED_TEMP: frozenset({Op.PROCESSING, Op.ROLLING_BACK, Op.FAILED}),
    Op.COMPLETED: frozenset({Op.ROLLING_BACK}),
    Op.ROLLING_BACK: frozenset({Op.ROLLED_BACK, Op.FAILED_TEMP, Op.CANCELLED}),
    Op.CANCELLED: frozenset({Op.ROLLING_BACK, Op.FAILED}),
    Op.ROLLED_BACK: frozenset(),
    Op.FAILED: frozenset(),
}

#: Task transitions. Tasks are created PENDING (no transition, no event).
TASK_TRANSITIONS: Mapping[Task, frozenset[Task]] = {
    Task.PENDING: frozenset({Task.RUNNING}),
    # SKIPPED: the precondition is evaluated by the worker that claimed the task.
    Task.RUNNING: frozenset({Task.SUCCEEDED, Task.FAILED, Task.SKIPPED, Task.CANCELLED}),
    Task.SUCCEEDED: frozenset({Task.ROLLING_BACK}),
    Task.FAILED: frozenset({Task.PENDING, Task.ROLLING_BACK}),
    Task.SKIPPED: frozenset(),
    Task.CANCELLED: frozenset({Task.ROLLING_BACK}),
    Task.ROLLING_BACK: frozenset({Task.ROLLED_BACK, Task.ROLLBACK_FAILED, Task.CANCELLED}),
    Task.ROLLBACK_FAILED: frozenset({Task.ROLLING_BACK}),
    Task.ROLLED_BACK: frozenset(),
}

#: Task states a rollback claims from (when the task is marked for compensation).
COMPENSABLE = frozenset({Task.SUCCEEDED, Task.FAILED, Task.CANCELLED, Task.ROLLBACK_FAILED})
#: Task states held under a worker's lease.
LEASED = frozenset({Task.RUNNING, Task.ROLLING_BACK})


def check_operation(old: Op | None, new: Op) -> None:
    """Raise :class:`InvalidTransition` unless the operation may go from ``old`` to ``new``."""
    if new not in OPERATION_TRANSITIONS[old]:
        raise InvalidTransition(f"operation cannot go from {old} to {new}")


def check_task(old: Task, new: Task) -> None:
    """Raise :class:`InvalidTransition` unless a task may go from ``old`` to ``new``."""
    if new not in TASK_TRANSITIONS[old]:
        raise InvalidTransition(f"task cannot go from {old} to {new}")


@dataclasses.dataclass(frozen=True)
class Control:
    """An operator's control: the states it acts from, and those where it is already done."""

    name: str
    allowed_from: frozenset[Op]
    settled_in: frozenset[Op]


CONTROLS: Mapping[str, Control] = {
    control.name: control
    for control in (
        Control("pause", frozenset({Op.PROCESSING}), frozenset({Op.PAUSED})),
        Control("resume", frozenset({Op.PAUSED}), frozenset({Op.PROCESSING})),
        Control("cancel", frozenset({Op.PROCESSING, Op.PAUSED, Op.ROLLING_BACK}),
                frozenset({Op.CANCELLED})),
        Control("retry", frozenset({Op.FAILED_TEMP}),
                frozenset({Op.PROCESSING, Op.ROLLING_BACK})),
        Control("rollback",
                frozenset({Op.PROCESSING, Op.PAUSED, Op.FAILED_TEMP, Op.COMPLETED, Op.CANCELLED}),
                frozenset({Op.ROLLING_BACK, Op.ROLLED_BACK})),
        Control("fail", frozenset({Op.FAILED_TEMP, Op.CANCELLED, Op.PAUSED}),
                frozenset({Op.FAILED})),
    )
}


def control_target(control: str, state: Op, direction: Direction) -> Op | None:
    """The state ``control`` moves an operation in ``state`` to; None if it is already done.

    Raises KeyError for an unknown control and :class:`InvalidTransition` when ``state``
    does not allow it.
    """
    spec = CONTROLS[control]
    if state in spec.settled_in:
        return None
    if state not in spec.allowed_from:
        allowed = ", ".join(sorted(spec.allowed_from))
        raise InvalidTransition(f"cannot {control} an operation in state {state} "
                                f"(allowed from {allowed})")
    target = {
        "pause": Op.PAUSED,
        "resume": Op.PROCESSING,
        "cancel": Op.CANCELLED,
        "retry": Op.ROLLING_BACK if direction is Direction.ROLLBACK else Op.PROCESSING,
        "rollback": Op.ROLLING_BACK,
        "fail": Op.FAILED,
    }[control]
    check_operation(state, target)
    return target


def allowed_controls(state: Op) -> list[str]:
    """The controls that would change an operation in ``state``, in a stable order."""
    return [name for name, spec in CONTROLS.items() if state in spec.allowed_from]


def stops_running_tasks(state: Op, task: Task) -> bool:
    """Whether a task running in ``task`` state must be told to stop (``ctx.cancelled``).

    Cancel and fail stop everything; a rollback stops the forward actions still running.
    """
    if state in (Op.CANCELLED, Op.FAILED, Op.ROLLED_BACK):
        return True
    return state is Op.ROLLING_BACK and task is Task.RUNNING


def needs_compensation(state: Task, has_side_effects: bool) -> bool:
    """Whether a rollback compensates a task now in ``state``.

    SUCCEEDED and in-flight tasks always are; FAILED and CANCELLED ones when they recorded
    a side effect; ROLLBACK_FAILED ones again. PENDING, SKIPPED and ROLLED_BACK never are.
    """
    if state in (Task.SUCCEEDED, Task.RUNNING, Task.ROLLING_BACK, Task.ROLLBACK_FAILED):
        return True
    return state in (Task.FAILED, Task.CANCELLED) and has_side_effects


def after_task(state: Op, direction: Direction, task: Task, tasks_left: int,
               rollback_left: int) -> Op | None:
    """The operation's new state after one of its tasks reached ``task``, or None.

    ``tasks_left`` counts tasks not yet SUCCEEDED or SKIPPED and ``rollback_left`` tasks
    still to compensate, both after this change. A task failing fails the operation at
    once (FAILED_TEMP; tasks still running finish), even PAUSED; the last task done
    completes it (:func:`settled`), except PAUSED: ``resume`` does.
    """
    if direction is Direction.FORWARD and state in (Op.PROCESSING, Op.PAUSED):
        if task in (Task.FAILED, Task.CANCELLED):
            return Op.FAILED_TEMP
    elif direction is Direction.ROLLBACK and state is Op.ROLLING_BACK:
        if task is Task.ROLLBACK_FAILED:
            return Op.FAILED_TEMP
    return settled(state, tasks_left, rollback_left)


def settled(state: Op, tasks_left: int, rollback_left: int) -> Op | None:
    """COMPLETED for an operation PROCESSING with no task left to run, ROLLED_BACK for one
    ROLLING_BACK with nothing left to compensate; otherwise None."""
    if state is Op.PROCESSING and tasks_left == 0:
        return Op.COMPLETED
    if state is Op.ROLLING_BACK and rollback_left == 0:
        return Op.ROLLED_BACK
    return None


def after_lapsed_lease(task: Task, operation: Op) -> Task | None:
    """What becomes of a task whose worker's lease lapsed while it was in ``task`` state.

    None: it goes on under a new lease (a forward task of a PROCESSING, PAUSED or
    FAILED_TEMP operation, checked by its postcondition first; a rollback of a
    ROLLING_BACK one, run again). Otherwise the state it ends in.
    """
    if task is Task.RUNNING:
        going_on = operation in (Op.PROCESSING, Op.PAUSED, Op.FAILED_TEMP)
        return None if going_on else Task.CANCELLED
    return None if operation is Op.ROLLING_BACK else Task.ROLLBACK_FAILED
