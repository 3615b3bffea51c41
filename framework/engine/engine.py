"""The Engine: submit operations, read them, control them, and run their tasks."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from framework.engine import dag, machine, planning
from framework.engine.model import (
    MAX_NAME,
    Direction,
    OperationState,
    OperationView,
    TaskSpec,
    TaskState,
    TaskView,
    json_problem,
)
from framework.engine.ports import (
    Claim,
    Clock,
    NewOperation,
    NewTask,
    Repository,
    StartLease,
    SystemClock,
)
from framework.engine.scheduler import Scheduler
from framework.engine.task import TaskCatalog
from framework.engine.workers import new_owner_id
from framework.errors import Conflict, NotFound

MAX_IDEMPOTENCY_KEY = 255


class Engine:
    """The lifecycle engine of one process (see ``framework/engine/README.md``).

    Reads, submits and controls work without :meth:`start`; :meth:`start` adds the
    workers, which run the tasks of every operation in the repository, together with
    the engines of other processes sharing it. Controls raise
    :class:`~framework.errors.NotFound` for an unknown operation and
    :class:`~framework.errors.Conflict` when its state does not allow them; asking for
    the state an operation is already in succeeds and changes nothing.
    """

    def __init__(self, repository: Repository, catalog: TaskCatalog, *,
                 worker_id: str | None = None, workers: int = 4, lease_seconds: float = 15.0,
                 poll_interval: float = 0.2, cancel_grace: float = 5.0,
                 clock: Clock | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if lease_seconds <= 0 or poll_interval <= 0 or cancel_grace < 0:
            raise ValueError("lease_seconds and poll_interval must be positive, "
                             "cancel_grace not negative")
        self._repo, self._catalog = repository, catalog
        self._clock: Clock = clock or SystemClock()
        self._poll = poll_interval
        self._lease = lease_seconds
        self.worker_id = worker_id or new_owner_id()
        self._changes = threading.Condition()
        self._generation = 0
        self._scheduler = Scheduler(
            repository, catalog, self._clock, owner=self.worker_id, workers=workers,
            lease_seconds=lease_seconds, poll_interval=poll_interval, cancel_grace=cancel_grace,
            on_change=self._changed)
        self._started = False

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, kind: str, tasks: Sequence[TaskSpec], *,
               request: Mapping[str, Any] | None = None,
               idempotency_key: str | None = None,
               attachments: Mapping[str, bytes] | None = None) -> tuple[OperationView, bool]:
        """Persist a new operation, PROCESSING; (it, True).

        With the ``idempotency_key`` of an existing operation nothing is persisted and
        that operation is returned, with False. ``attachments`` are stored with the
        operation, in the same transaction, for its tasks to read
        (:meth:`~framework.engine.task.TaskContext.attachment`). Raises ValueError, before
        persisting anything, for an invalid kind, request, key or attachment, or an
        invalid task graph (duplicate name, unknown dependency, cycle).
        """
        new, graph = self._new(kind, tasks, request, idempotency_key, attachments)
        start = _Start(self._scheduler, new)
        try:
            operation_id, created = self._repo.create_operation(new)
        except BaseException:
            start(new.id, False)
            raise
        start(operation_id, created)
        return self._submitted(new, graph, operation_id, created)

    async def submit_async(self, kind: str, tasks: Sequence[TaskSpec], *,
                           request: Mapping[str, Any] | None = None,
                           idempotency_key: str | None = None,
                           attachments: Mapping[str, bytes] | None = None,
                           ) -> tuple[OperationView, bool]:
        """:meth:`submit` for a coroutine: the event loop is not blocked while the
        operation is persisted (:meth:`Repository.create_operation_async`), and the tasks
        its creation leased start on the thread that committed it, before the loop
        resumes the coroutine."""
        new, graph = self._new(kind, tasks, request, idempotency_key, attachments)
        start = _Start(self._scheduler, new)
        try:
            operation_id, created = await self._repo.create_operation_async(new, start)
        except BaseException:
            start(new.id, False)
            raise
        start(operation_id, created)
        return self._submitted(new, graph, operation_id, created)

    def _new(self, kind: str, tasks: Sequence[TaskSpec], request: Mapping[str, Any] | None,
             idempotency_key: str | None, attachments: Mapping[str, bytes] | None,
             ) -> tuple[NewOperation, dag.Graph]:
        if not isinstance(kind, str) or not kind or len(kind) > MAX_NAME:
            raise ValueError(f"the kind must be a string of 1 to {MAX_NAME} characters")
        if idempotency_key is not None and not (
                isinstance(idempotency_key, str) and 0 < len(idempotency_key)
                <= MAX_IDEMPOTENCY_KEY):
            raise ValueError(f"the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        problem = None if request is None else json_problem(dict(request))
        if problem is not None:
            raise ValueError(f"the request is {problem}")
        for name, content in (attachments or {}).items():
            if not (isinstance(name, str) and 0 < len(name) <= MAX_NAME
                    and isinstance(content, bytes)):
                raise ValueError(f"an attachment is a name of 1 to {MAX_NAME} characters "
                                 "and bytes")
        graph = dag.build(tasks)
        now = self._clock.now()
        # Tasks that may start at once are leased by the creation itself when this engine's
        # workers have room: they start as soon as it commits, without a claim of their own.
        roots = tuple(i for i, deps in enumerate(graph.depends_on) if not deps)
        reserved = self._scheduler.reserve(len(roots)) if roots else 0
        operation_id = str(uuid.uuid4())
        start = StartLease(self.worker_id, now + self._lease, roots[:reserved],
                           self._declared(operation_id, tasks, roots[:reserved])) \
            if reserved else None
        new = NewOperation(
            id=operation_id, kind=kind, request=None if request is None else dict(request),
            idempotency_key=idempotency_key, created_at=now,
            tasks=tuple(NewTask(spec.name, spec.type, dict(spec.params), graph.depends_on[i],
                                graph.dependents[i], spec.timeout, spec.cancellable)
                        for i, spec in enumerate(tasks)),
            attachments=dict(attachments or {}), start=start)
        return new, graph

    def _declared(self, operation_id: str, tasks: Sequence[TaskSpec], indexes: Sequence[int],
                  ) -> dict[int, Mapping[str, Any]]:
        """The side effects the types of tasks ``indexes`` declare, to record with their
        lease. A type that fails to say is asked again before its action, which then fails."""
        declared: dict[int, Mapping[str, Any]] = {}
        for index in indexes:
            spec = tasks[index]
            effect = self._catalog.declared(operation_id, spec.name, spec.type, spec.params, 1)
            if effect is not None:
                declared[index] = effect
        return declared

    def _submitted(self, new: NewOperation, graph: dag.Graph, operation_id: str,
                   created: bool) -> tuple[OperationView, bool]:
        if not created:
            return self.get(operation_id), False
        roots = sum(1 for deps in graph.depends_on if not deps)
        if new.start is None or len(new.start.indexes) < roots:
            self._scheduler.wake()  # some task is left to claim
        self._changed([operation_id])
        return _created_view(new, graph), True

    def dry_run(self, tasks: Sequence[TaskSpec], *,
                request: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What submitting ``tasks`` would do; nothing is persisted and nothing runs but the
        preconditions (which must have no side effect). ValueError for an invalid graph.

        ``{"operationId": null, "state": null, "request", "order": [names],
        "levels": [[names that may run in parallel]], "tasks": [{"name", "type",
        "dependsOn", "level", "precondition": {"ok", "reason"}}], "rollbackOrder": [names]}``.
        """
        return planning.dry_run(self._catalog, tasks, request)

    def plan(self, operation_id: str) -> dict[str, Any]:
        """:meth:`dry_run` for a persisted operation: each task also has its ``state``, only
        PENDING tasks have a ``precondition`` (others null), and ``rollbackOrder`` holds
        the tasks a rollback would compensate now. NotFound if unknown."""
        return planning.plan(self._catalog, self.get(operation_id))

    # -- reading ---------------------------------------------------------------------------

    def get(self, operation_id: str) -> OperationView:
        """The operation and its tasks; NotFound if there is none with this id."""
        view = self._repo.get_operation(operation_id)
        if view is None:
            raise NotFound(f"no operation {operation_id!r}")
        return view

    def list(self, state: str | None = None, limit: int = 100,
             offset: int = 0) -> list[OperationView]:
        """Operations, newest first, with their tasks; ValueError for an unknown state or a
        negative limit or offset."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        wanted = None if state is None else _operation_state(state)
        return self._repo.list_operations(wanted, limit, offset)

    def wait(self, operation_id: str, states: Collection[str], timeout: float) -> OperationView:
        """The operation, as soon as it is in one of ``states``.

        Raises TimeoutError after ``timeout`` seconds, NotFound if it does not exist,
        ValueError for an unknown state.
        """
        wanted = {_operation_state(state) for state in states}
        deadline = time.monotonic() + timeout
        while True:
            with self._changes:
                generation = self._generation
            current = self._repo.operation_states([operation_id]).get(operation_id)
            if current is None:
                raise NotFound(f"no operation {operation_id!r}")
            if current[0] in wanted:
                return self.get(operation_id)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"operation {operation_id} is {current[0]} after {timeout:g}s, "
                                   f"not {' or '.join(sorted(wanted))}")
            with self._changes:
                if self._generation == generation:
                    self._changes.wait(min(remaining, self._poll))

    # -- controls ----------------------------------------------------------------------------

    def pause(self, operation_id: str) -> OperationView:
        """No task starts until :meth:`resume`; running ones finish. From PROCESSING."""
        return self._control(operation_id, "pause")

    def resume(self, operation_id: str) -> OperationView:
        """Back to PROCESSING. From PAUSED."""
        return self._control(operation_id, "resume")

    def cancel(self, operation_id: str) -> OperationView:
        """Stop: running tasks see ``ctx.cancelled`` and are abandoned after the grace period.
        From PROCESSING, PAUSED, ROLLING_BACK."""
        return self._control(operation_id, "cancel")

    def retry(self, operation_id: str) -> OperationView:
        """Run the FAILED tasks (or ROLLBACK_FAILED rollbacks) again. From FAILED_TEMP."""
        return self._control(operation_id, "retry")

    def rollback(self, operation_id: str) -> OperationView:
        """Compensate what the operation did, dependents first. From any state but
        ROLLING_BACK, ROLLED_BACK (where it is already done) and FAILED."""
        return self._control(operation_id, "rollback")

    def fail(self, operation_id: str) -> OperationView:
        """Give up: FAILED, terminal. From FAILED_TEMP, CANCELLED, PAUSED."""
        return self._control(operation_id, "fail")

    def _control(self, operation_id: str, control: str) -> OperationView:
        for _ in range(50):  # another writer may change the state between read and write
            current = self._repo.operation_states([operation_id]).get(operation_id)
            if current is None:
                raise NotFound(f"no operation {operation_id!r}")
            state, direction = current
            try:
                target = machine.control_target(control, state, direction)
            except machine.InvalidTransition as exc:
                raise Conflict(f"operation {operation_id}: {exc}") from None
            if target is None:
                return self.get(operation_id)
            if self._repo.apply_control(operation_id, control, state, target, self._clock.now()):
                self._scheduler.operation_stopped(operation_id, target)
                self._scheduler.wake()
                self._changed([operation_id])
                return self.get(operation_id)
        raise Conflict(f"operation {operation_id} keeps changing state; try again")

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers: recovery first, then tasks as they become runnable."""
        if self._started:
            raise RuntimeError("the engine is already started")
        self._started = True
        self._scheduler.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Start no more tasks; wait up to ``timeout`` for the running ones to finish."""
        if self._started:
            self._scheduler.stop(timeout)

    def _changed(self, operation_ids: Collection[str]) -> None:
        with self._changes:
            self._generation += 1
            self._changes.notify_all()


def _operation_state(state: str) -> OperationState:
    try:
        return OperationState(state)
    except ValueError:
        raise ValueError(f"unknown operation state {state!r}") from None


class _Start:
    """Hands the tasks the creation of ``new`` leased to the scheduler, once: when the
    operation was created (``created``), else it only frees the slots reserved for them."""

    def __init__(self, scheduler: Scheduler, new: NewOperation) -> None:
        self._scheduler, self._new = scheduler, new
        self._lock = threading.Lock()
        self._done = False

    def __call__(self, _operation_id: str, created: bool) -> None:
        with self._lock:
            done, self._done = self._done, True
        start = self._new.start
        if not done and start is not None:
            self._scheduler.adopt([_started(self._new, index) for index in start.indexes]
                                  if created else [], len(start.indexes))


def _started(new: NewOperation, index: int) -> Claim:
    """The claim of task ``index`` of ``new``, leased by its creation (``new.start``)."""
    assert new.start is not None  # noqa: S101 - only started tasks come here
    task = new.tasks[index]
    # what a claim reads back from the store: JSON, not the objects given to submit
    params = json.loads(json.dumps(dict(task.params)))
    return Claim(new.id, index, task.name, task.type, params, 1, task.depends_on,
                 task.dependents, new.start.side_effects(index), task.timeout,
                 task.cancellable, TaskState.RUNNING, 1,
                 new.start.owner)


def _created_view(new: NewOperation, graph: dag.Graph) -> OperationView:
    started = set(new.start.indexes) if new.start is not None else set()
    tasks = tuple(TaskView(task.name, task.type,
                           TaskState.RUNNING if i in started else TaskState.PENDING, 1,
                           tuple(graph.names[dep] for dep in task.depends_on), task.params,
                           new.created_at if i in started else None, None, None, None,
                           new.start.side_effects(i) if new.start is not None else (),
                           False, None)
                  for i, task in enumerate(new.tasks))
    state = OperationState.PROCESSING if tasks else OperationState.COMPLETED
    return OperationView(new.id, new.kind, state, Direction.FORWARD, new.request, None,
                         new.created_at, new.created_at, tasks)
