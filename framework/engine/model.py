"""The lifecycle engine's vocabulary: states, task specifications, verdicts and read models."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any

#: Longest task name, task type and operation kind accepted (they appear in events).
MAX_NAME = 128
#: Errors and reasons are cut to this many characters when stored or announced.
MAX_ERROR = 4096
#: The deepest nesting of arrays and objects in anything the engine stores (an operation's
#: request, a task's params, result or side effect): room for a request at nfvd's request
#: limit (``framework.validation.MAX_DEPTH``, 64) inside a task's params, and far from the
#: 450 levels or so where Python's recursion limit stops redaction for operators.
MAX_DEPTH = 128

_CONTAINERS = (dict, list)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON) nests arrays and objects more than ``limit`` levels
    deep; a scalar is not (it runs on every request of the driver API: one level at a time,
    without recursion)."""
    level: list[Any] = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            below += [child for child in (item.values() if isinstance(item, dict) else item)
                      if isinstance(child, _CONTAINERS)]
        level = below
    return False


def nests_deeper(value: Any, limit: int, length: int) -> bool:
    """:func:`too_deep` for a value whose JSON takes ``length`` characters (or bytes): every
    level takes two at least, so the usual short value is not walked."""
    return length > 2 * limit and too_deep(value, limit)


def too_deep_to_store(value: Any) -> bool:
    """Whether ``value`` nests more than :data:`MAX_DEPTH` levels (also when the JSON
    encoder gives up on its recursion limit); raises what :func:`json.dumps` raises for a
    value that is not JSON."""
    try:
        text = json.dumps(value, allow_nan=False)
    except RecursionError:
        return True
    return nests_deeper(value, MAX_DEPTH, len(text))


def json_problem(value: Any) -> str | None:
    """Why ``value`` cannot be stored and shown ("not JSON: ...", "nested more than 128
    levels deep"), or None when it can."""
    try:
        deep = too_deep_to_store(value)
    except (TypeError, ValueError) as exc:
        return f"not JSON: {exc}"
    return f"nested more than {MAX_DEPTH} levels deep" if deep else None


class OperationState(enum.StrEnum):
    """The state of an operation; see the table in ``framework/engine/README.md``."""

    PROCESSING = "PROCESSING"
    PAUSED = "PAUSED"
    FAILED_TEMP = "FAILED_TEMP"
    COMPLETED = "COMPLETED"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class TaskState(enum.StrEnum):
    """The state of one task of an operation."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"


class Direction(enum.StrEnum):
    """Whether an operation is going forward or compensating what it did."""

    FORWARD = "forward"
    ROLLBACK = "rollback"


#: The ETSI SOL state shown for each operation state.
SOL_STATE: Mapping[OperationState, str] = {
    OperationState.PROCESSING: "PROCESSING",
    OperationState.PAUSED: "PROCESSING",
    OperationState.FAILED_TEMP: "FAILED_TEMP",
    OperationState.COMPLETED: "COMPLETED",
    OperationState.ROLLING_BACK: "ROLLING_BACK",
    OperationState.ROLLED_BACK: "ROLLED_BACK",
    OperationState.CANCELLED: "FAILED_TEMP",
    OperationState.FAILED: "FAILED",
}


def clip(text: str | None, limit: int = MAX_ERROR) -> str | None:
    """``text`` cut to ``limit`` characters (with a marker), or None."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def iso(timestamp: float | None) -> str | None:
    """Seconds since the epoch as ISO-8601 UTC with milliseconds (``...Z``), or None."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task of an operation to submit.

    ``type`` names a :class:`~framework.engine.task.TaskType` in the catalog; ``params``
    must be JSON-able; ``depends_on`` names tasks of the same operation that must be
    SUCCEEDED or SKIPPED first; ``timeout`` (seconds) bounds the run of one attempt;
    ``cancellable`` says that the action honours ``ctx.cancelled``.
    """

    name: str
    type: str
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    timeout: float | None = None
    cancellable: bool = False

    def __post_init__(self) -> None:
        # Lists are accepted (JSON has no tuples) but stored as a tuple.
        object.__setattr__(self, "depends_on", tuple(self.depends_on))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        """A spec from its JSON form ``{name, type, params?, dependsOn?, timeout?, cancellable?}``.

        Raises ValueError when a field is missing or has the wrong type.
        """
        try:
            name, type_ = data["name"], data["type"]
        except (KeyError, TypeError):
            raise ValueError("a task needs a 'name' and a 'type'") from None
        params = data.get("params") or {}
        depends_on = data.get("dependsOn") or ()
        timeout = data.get("timeout")
        cancellable = data.get("cancellable", False)
        if not isinstance(params, Mapping):
            raise ValueError(f"task {name!r}: 'params' must be an object")
        if not isinstance(depends_on, Sequence) or isinstance(depends_on, str):
            raise ValueError(f"task {name!r}: 'dependsOn' must be a list of task names")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float | None):
            raise ValueError(f"task {name!r}: 'timeout' must be a number of seconds")
        if not isinstance(cancellable, bool):
            raise ValueError(f"task {name!r}: 'cancellable' must be true or false")
        return cls(name, type_, dict(params), tuple(depends_on),
                   None if timeout is None else float(timeout), cancellable)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The answer of a precondition or a postcondition; truthy when ``ok``."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok

    @classmethod
    def yes(cls, reason: str = "") -> Verdict:
        return cls(True, reason)

    @classmethod
    def no(cls, reason: str) -> Verdict:
        return cls(False, reason)


@dataclasses.dataclass(frozen=True)
class TaskView:
    """A task as persisted, read at one moment."""

    name: str
    type: str
    state: TaskState
    attempt: int
    depends_on: tuple[str, ...]
    params: Mapping[str, Any]
    started_at: float | None
    finished_at: float | None
    error: str | None
    result: Any
    side_effects: tuple[Mapping[str, Any], ...]
    abandoned: bool
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON object the API serves for this task."""
        return {
            "name": self.name,
            "type": self.type,
            "state": self.state.value,
            "attempt": self.attempt,
            "dependsOn": list(self.depends_on),
            "params": dict(self.params),
            "startedAt": iso(self.started_at),
            "finishedAt": iso(self.finished_at),
            "error": self.error,
            "result": self.result,
            "sideEffects": [dict(effect) for effect in self.side_effects],
            "abandoned": self.abandoned,
            "reason": self.reason,
        }


@dataclasses.dataclass(frozen=True)
class OperationView:
    """An operation and its tasks (in submission order), read at one moment.

    ``result`` is, once COMPLETED, each task's non-null result by task name; None before.
    """

    id: str
    kind: str
    state: OperationState
    direction: Direction
    request: Mapping[str, Any] | None
    error: str | None
    created_at: float
    updated_at: float
    tasks: tuple[TaskView, ...]

    @property
    def sol_state(self) -> str:
        return SOL_STATE[self.state]

    @property
    def result(self) -> dict[str, Any] | None:
        if self.state is not OperationState.COMPLETED:
            return None
        return {task.name: task.result for task in self.tasks if task.result is not None}

    def task(self, name: str) -> TaskView:
        """The task called ``name``; KeyError if there is none."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def as_dict(self, tasks: bool = True) -> dict[str, Any]:
        """The JSON object the API serves for this operation; ``tasks=False`` leaves the
        tasks out (for lists)."""
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "state": self.state.value,
            "solState": self.sol_state,
            "direction": self.direction.value,
            "request": None if self.request is None else dict(self.request),
            "result": self.result,
            "error": self.error,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }
        if tasks:
            body["tasks"] = [task.as_dict() for task in self.tasks]
        return body
