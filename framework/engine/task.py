"""Task types (what a task does) and the context a task runs with."""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from framework.engine.model import Verdict, json_problem


class LeaseLost(RuntimeError):
    """The worker no longer holds the task: its work is not wanted any more.

    Raised by :meth:`TaskContext.record_side_effect`, so that an action never makes a side
    effect for a task another worker (or the operator) has taken over.
    """


class ActionFailed(Exception):
    """Raised by an action to fail its task and keep ``result`` with it (a JSON object).

    For a refusal whose details matter to the operator, such as the answer of a peer that
    said no: the task ends FAILED with this message as its error and ``result`` stored.
    """

    def __init__(self, message: str, result: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.result = None if result is None else dict(result)


class TaskContext:
    """What a task's methods see: who they are, their params, and the operation's controls.

    ``idempotency_key`` is ``<operation id>:<task name>``, the same for every attempt and
    after a crash. ``results`` maps each dependency's name to its result (read on first
    use). ``cancelled`` turns true when the operation is cancelled (or rolled back while
    the action runs), when the attempt times out, or when the lease is lost.
    """

    def __init__(
        self,
        *,
        operation_id: str,
        task: str,
        params: Mapping[str, Any],
        attempt: int,
        side_effects: Sequence[Mapping[str, Any]] = (),
        cancel_token: threading.Event | None = None,
        save_side_effects: Callable[[Sequence[Mapping[str, Any]]], bool] | None = None,
        load_results: Callable[[], Mapping[str, Any]] | None = None,
        load_attachment: Callable[[str], bytes | None] | None = None,
    ) -> None:
        self.operation_id = operation_id
        self.task = task
        self.params = params
        self.attempt = attempt
        self.idempotency_key = f"{operation_id}:{task}"
        self._side_effects = [dict(effect) for effect in side_effects]
        self._token = cancel_token or threading.Event()
        self._save = save_side_effects
        self._load_results = load_results
        self._load_attachment = load_attachment
        self._results: Mapping[str, Any] | None = None
        self._lock = threading.Lock()
        self._frozen_reason: str | None = None

    @property
    def cancelled(self) -> bool:
        return self._token.is_set()

    @property
    def side_effects(self) -> list[dict[str, Any]]:
        """The side effects recorded for this task so far, over every attempt (a copy)."""
        with self._lock:
            return [dict(effect) for effect in self._side_effects]

    @property
    def results(self) -> Mapping[str, Any]:
        if self._results is None:
            self._results = dict(self._load_results()) if self._load_results else {}
        return self._results

    def attachment(self, name: str) -> bytes | None:
        """The operation's attachment ``name`` (read from the store each call), or None."""
        return self._load_attachment(name) if self._load_attachment else None

    def record_side_effect(self, effect: Mapping[str, Any]) -> None:
        """Persist ``effect`` (a JSON object) before making it, so a crash cannot hide it.

        Raises :class:`LeaseLost` when the task is no longer this worker's (do not make the
        side effect then), and RuntimeError where side effects are not allowed (in a
        precondition or postcondition, and in a dry run).
        """
        if self._frozen_reason is not None:
            raise RuntimeError(f"no side effect may be recorded {self._frozen_reason}")
        entry = dict(effect)
        problem = json_problem(entry)  # refuse what could not be stored and shown
        if problem is not None:
            raise ValueError(f"the side effect is {problem}")
        with self._lock:
            proposed = [*self._side_effects, entry]
            if self._save is not None and not self._save(proposed):
                self._token.set()
                raise LeaseLost(f"task {self.task!r} is no longer held by this worker")
            self._side_effects = proposed

    def frozen(self, reason: str) -> _Frozen:
        """A context manager during which recording a side effect raises (``reason`` says why)."""
        return _Frozen(self, reason)


class _Frozen:
    def __init__(self, ctx: TaskContext, reason: str) -> None:
        self._ctx, self._reason = ctx, reason

    def __enter__(self) -> None:
        self._ctx._frozen_reason = self._reason

    def __exit__(self, *exc: object) -> None:
        self._ctx._frozen_reason = None


class TaskType(abc.ABC):
    """What a task does, in four steps (see ``framework/engine/README.md``).

    ``side_effects`` declares whether the action changes anything outside nfvd. The
    default :meth:`rollback` does nothing for a type that declares none, and otherwise
    raises NotImplementedError: a type with side effects must say how to remove them.
    The default pre- and postconditions are true. A side effect known before the action
    runs can be declared (:meth:`declared_side_effect`) instead of recorded by the action.
    """

    side_effects: ClassVar[bool] = True

    def precondition(self, ctx: TaskContext) -> Verdict:
        """May the task run now? False skips it (SKIPPED, with the reason). No side effect."""
        return Verdict(True)

    @abc.abstractmethod
    def action(self, ctx: TaskContext) -> Mapping[str, Any] | None:
        """Do the work; return a JSON-able result. Record each side effect before making it."""

    def postcondition(self, ctx: TaskContext) -> Verdict:
        """Did the action really succeed? Also asked at recovery, before running it again."""
        return Verdict(True)

    def declared_side_effect(self, ctx: TaskContext) -> Mapping[str, Any] | None:
        """The side effect the action makes, when it is known before it runs (from
        ``ctx.params`` and ``ctx.idempotency_key`` alone); None (the default) when not.

        The engine records it for the action with the lease that starts the task, in the
        same transaction (no write of its own): the new operation's creation, a claim, or
        the outcome of the dependency that unblocks it. Raising, it is asked again just
        before the action, which then fails. Recorded at the lease, it is there even if the
        action never begins (a crash, a precondition that raises), so the rollback must be
        harmless for a side effect that was never made, as every rollback already must.
        Must be quick and pure.
        """
        return None

    def rollback(self, ctx: TaskContext) -> None:
        """Remove every side effect in ``ctx.side_effects``; must be idempotent."""
        if self.side_effects:
            raise NotImplementedError(
                f"{type(self).__name__} declares side effects but no rollback")


class TaskCatalog:
    """Task types by name, filled by plugins; shared by every worker of a process.

    A task whose type is not here fails (or fails to roll back) with an error naming the
    type; it never stops a worker.
    """

    def __init__(self, types: Mapping[str, TaskType] | None = None) -> None:
        self._types: dict[str, TaskType] = {}
        for name, task_type in (types or {}).items():
            self.register(name, task_type)

    def register(self, name: str, task_type: TaskType) -> None:
        """Add ``task_type`` as ``name``; ValueError if the name is taken."""
        if not isinstance(task_type, TaskType):
            raise TypeError(f"{name!r}: {task_type!r} is not a TaskType instance")
        if name in self._types:
            raise ValueError(f"task type {name!r} is already registered")
        self._types[name] = task_type

    def get(self, name: str) -> TaskType | None:
        return self._types.get(name)

    def declared(self, operation_id: str, task: str, type_name: str,
                 params: Mapping[str, Any], attempt: int) -> dict[str, Any] | None:
        """What the type ``type_name`` declares the action of ``task`` does
        (:meth:`TaskType.declared_side_effect`), to record with the task's lease: a
        :data:`framework.engine.ports.Declare`. None when the type is unknown, declares
        nothing, or fails to say (the runner asks it again before the action, and that fails
        the task)."""
        task_type = self._types.get(type_name)
        if task_type is None:
            return None
        ctx = TaskContext(operation_id=operation_id, task=task, params=params, attempt=attempt)
        try:
            with ctx.frozen("while declaring it"):
                effect = task_type.declared_side_effect(ctx)
            if effect is None:
                return None
            declared = dict(effect)
            if json_problem(declared) is not None:
                return None
        except Exception:  # a declaration is plugin code: it may raise anything
            return None
        return declared

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._types))

    def __len__(self) -> int:
        return len(self._types)
