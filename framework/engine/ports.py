"""What the engine needs from the outside: a Repository to persist into, and a Clock."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from framework.engine.model import Direction, OperationState, OperationView, TaskState


@dataclasses.dataclass(frozen=True)
class NewTask:
    """A task to persist; dependencies are indexes of tasks of the same operation."""

    name: str
    type: str
    params: Mapping[str, Any]
    depends_on: tuple[int, ...]
    dependents: tuple[int, ...]
    timeout: float | None
    cancellable: bool


@dataclasses.dataclass(frozen=True)
class StartLease:
    """Tasks of a new operation (indexes; none has a dependency) that its creation leases
    to ``owner`` until ``until``: RUNNING at once, at version 1, as a claim would leave them."""

    owner: str
    until: float
    indexes: tuple[int, ...]
    #: the side effect each leased task's type declared (by index), recorded with the lease
    declared: Mapping[int, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def side_effects(self, index: int) -> tuple[Mapping[str, Any], ...]:
        """What task ``index`` has recorded once leased: its declared side effect, if any."""
        effect = self.declared.get(index)
        return () if effect is None else (effect,)


@dataclasses.dataclass(frozen=True)
class NewOperation:
    """An operation to persist, PROCESSING, with its tasks PENDING (index = position).

    ``attachments`` are named binary contents stored with it (a resource package, say),
    which its tasks read with :meth:`TaskContext.attachment`. ``start`` leases some of its
    tasks in the same transaction, which spares the claim that would follow.
    """

    id: str
    kind: str
    request: Mapping[str, Any] | None
    idempotency_key: str | None
    tasks: tuple[NewTask, ...]
    created_at: float
    attachments: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    start: StartLease | None = None


@dataclasses.dataclass(frozen=True)
class Claim:
    """A task leased to ``owner``: RUNNING (forward) or ROLLING_BACK (compensation).

    ``version`` is the task row's version written by the claim; every later write for
    this claim is refused once the row has another version or another lease owner.
    ``recovering`` marks a task taken over from a lease that expired: its action may
    already have run.
    """

    operation_id: str
    index: int
    name: str
    type: str
    params: Mapping[str, Any]
    attempt: int
    depends_on: tuple[int, ...]
    dependents: tuple[int, ...]
    side_effects: tuple[Mapping[str, Any], ...]
    timeout: float | None
    cancellable: bool
    state: TaskState
    version: int
    owner: str
    recovering: bool = False

    @property
    def direction(self) -> Direction:
        return Direction.ROLLBACK if self.state is TaskState.ROLLING_BACK else Direction.FORWARD

    @property
    def idempotency_key(self) -> str:
        return f"{self.operation_id}:{self.name}"


#: What the type of a task declares its action does (see ``TaskType.declared_side_effect``),
#: asked with the operation id, the task's name, type, params and attempt; None: nothing.
Declare = Callable[[str, str, str, Mapping[str, Any], int], Mapping[str, Any] | None]


@dataclasses.dataclass(frozen=True)
class Lease:
    """A task (operation id, index) leased to ``owner`` until ``expires``, at ``version``."""

    operation_id: str
    index: int
    owner: str
    expires: float
    version: int


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a claimed task ended: its new ``state`` and what to store with it."""

    claim: Claim
    state: TaskState
    result: Any = None
    error: str | None = None
    reason: str | None = None
    abandoned: bool = False


@dataclasses.dataclass(frozen=True)
class Progress:
    """What one repository call committed.

    ``accepted`` says, per outcome given, whether it was written (False: the lease was
    lost, nothing changed); ``claims`` are the tasks now leased to the caller;
    ``changed`` names the operations whose state changed.
    """

    accepted: tuple[bool, ...] = ()
    claims: tuple[Claim, ...] = ()
    changed: tuple[str, ...] = ()


class Repository(Protocol):
    """Persistence of operations, tasks and their outbox events.

    Every call that changes a state commits it together with one outbox event per
    transition (numbered by the operation's ``seq``), or commits nothing. Writes for a
    claim are guarded by the claim's lease owner and version.
    """

    def create_operation(self, new: NewOperation) -> tuple[str, bool]:
        """Persist ``new``; (its id, True), its ``start`` tasks leased. With the idempotency
        key of an existing operation, persist nothing and return (that operation's id,
        False)."""

    async def create_operation_async(
            self, new: NewOperation,
            committed: Callable[[str, bool], None] | None = None) -> tuple[str, bool]:
        """:meth:`create_operation` for a coroutine, without blocking its event loop;
        ``committed`` is called with the result on the thread that wrote it, as soon as it
        is committed."""

    def get_operation(self, operation_id: str) -> OperationView | None:
        """The operation with its tasks, or None."""

    def operation_states(self, operation_ids: Collection[str],
                         ) -> dict[str, tuple[OperationState, Direction]]:
        """The state and direction of the known operations among ``operation_ids``."""

    def list_operations(self, state: OperationState | None, limit: int,
                        offset: int) -> list[OperationView]:
        """Operations, newest first, optionally in one state, with their tasks."""

    def apply_control(self, operation_id: str, control: str, expected: OperationState,
                      target: OperationState, now: float) -> bool:
        """Move the operation from ``expected`` to ``target`` for ``control``; False (and
        nothing written) if it is no longer in ``expected``.

        ``retry`` also moves FAILED tasks back to PENDING and gives FAILED and
        ROLLBACK_FAILED tasks attempt + 1; ``rollback`` marks the tasks to compensate
        (:func:`framework.engine.machine.needs_compensation`) and goes on to ROLLED_BACK
        at once when there is none.
        """

    def finish(self, operation_id: str, outcomes: Sequence[Outcome], *, owner: str, want: int,
               now: float, lease_until: float, declare: Declare | None = None) -> Progress:
        """Write the ``outcomes`` of tasks of one operation, then lease to ``owner`` up to
        ``want`` of its tasks that are runnable now; all in one transaction."""

    def finish_many(self, outcomes: Mapping[str, Sequence[Outcome]], *, owner: str, want: int,
                    now: float, lease_until: float, declare: Declare | None = None,
                    ) -> dict[str, Progress]:
        """:meth:`finish` for several operations (by id) in one transaction; up to ``want``
        claims over all of them."""

    def runnable_operations(self, limit: int) -> list[str]:
        """Operations with a task to claim now (forward or compensation), oldest first."""

    def claim(self, operation_id: str, *, owner: str, want: int, now: float,
              lease_until: float, declare: Declare | None = None) -> list[Claim]:
        """Lease to ``owner`` up to ``want`` runnable tasks of the operation (none when
        another process is writing it).

        A task leased to run forward has the side effect ``declare`` gives for it recorded
        with the lease, unless recorded already, as a new operation's creation records it
        (so the action starts without a write of its own). The claims carry it.
        """

    def claim_many(self, operation_ids: Sequence[str], *, owner: str, want: int, now: float,
                   lease_until: float, declare: Declare | None = None) -> list[Claim]:
        """:meth:`claim` over several operations, in their order, in one transaction."""

    def leases(self) -> list[Lease]:
        """Every lease held now (there are as many as tasks running, over all processes)."""

    def take_over(self, lease: Lease, *, owner: str, now: float, lease_until: float) -> Progress:
        """Take over the task of ``lease`` unless it changed since: leased to ``owner``
        (``recovering``) when it may go on, else ended CANCELLED or ROLLBACK_FAILED
        (:func:`framework.engine.machine.after_lapsed_lease`)."""

    def record_side_effect(self, claim: Claim, side_effects: Sequence[Mapping[str, Any]],
                           ) -> bool:
        """Store the task's full list of side effects; False if the claim's lease is lost."""

    def renew_leases(self, owner: str, lease_until: float,
                     tasks: Collection[tuple[str, int]]) -> set[tuple[str, int]]:
        """Extend ``owner``'s leases of ``tasks`` (operation id, task index); those still held."""

    def dependency_results(self, operation_id: str, indexes: Collection[int]) -> dict[str, Any]:
        """The results of the given tasks of an operation, by task name."""

    def attachment(self, operation_id: str, name: str) -> bytes | None:
        """The content of an attachment of the operation, or None if it has none so named."""


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch, shared by every process."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
