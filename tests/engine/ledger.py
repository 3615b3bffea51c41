"""Fake infrastructure for engine tests: task types that keep a ledger of resources in a file.

The ledger is a JSON file, rewritten atomically under an ``flock``, so it is shared by the
threads and processes of a test and survives a process killed at any moment: what it
holds is exactly what the fake infrastructure "created". Use :func:`ledger_catalog` to get the
task types:

- ``ledger``: creates one resource, keyed by the task's idempotency key (re-running the
  action with the same key re-creates nothing). Params: ``resource`` (name, default the
  task name), ``delay`` (seconds the action takes), ``fail_action`` /
  ``fail_postcondition`` / ``fail_rollback`` (how many times that step fails before it
  succeeds, counted in the ledger, so across retries and processes),
  ``precondition_false`` (skip the task), ``cooperative`` (the delay watches
  ``ctx.cancelled`` and stops early).
- ``noop``: does nothing, declares no side effect (for benchmarks).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from framework.engine import TaskCatalog, TaskContext, TaskType, Verdict


class Ledger:
    """Resources by key, call counts and an ordered log, in one JSON file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _edit(self, write: bool = True) -> Iterator[dict[str, Any]]:
        with self._lock, open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._read()
                yield data
                if write:
                    temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                    temporary.write_text(json.dumps(data))
                    os.replace(temporary, self.path)  # atomic: a kill leaves old or new
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            data = {}
        for key in ("resources", "calls", "counters"):
            data.setdefault(key, {})
        data.setdefault("log", [])
        return data

    def snapshot(self) -> dict[str, Any]:
        """Everything in the ledger now."""
        with self._edit(write=False) as data:
            return data

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Resources that exist now, by idempotency key."""
        return dict(self.snapshot()["resources"])

    def calls(self, step: str, task: str) -> int:
        """How many times ``step`` (precondition, action, postcondition, rollback) of
        ``task`` was called, over every operation."""
        return int(self.snapshot()["calls"].get(f"{step}:{task}", 0))

    def log(self) -> list[dict[str, Any]]:
        """``{"event", "task", "n", "at", "worker"}`` entries in the order they happened
        (``n`` counts up; ``worker`` is the tag of the task type that wrote it)."""
        return list(self.snapshot()["log"])

    def position(self, event: str, task: str) -> int:
        """The ``n`` of the first log entry ``event`` of ``task``; KeyError if none."""
        for entry in self.log():
            if entry["event"] == event and entry["task"] == task:
                return int(entry["n"])
        raise KeyError((event, task))

    def record(self, event: str, task: str, *, step: str | None = None,
               worker: str = "") -> None:
        with self._edit() as data:
            data["log"].append({"event": event, "task": task, "n": len(data["log"]),
                                "at": time.time(), "worker": worker})
            if step is not None:
                name = f"{step}:{task}"
                data["calls"][name] = data["calls"].get(name, 0) + 1

    def should_fail(self, counter: str, times: int) -> bool:
        """True the first ``times`` calls for ``counter``, then False."""
        if times <= 0:
            return False
        with self._edit() as data:
            done = int(data["counters"].get(counter, 0))
            if done >= times:
                return False
            data["counters"][counter] = done + 1
            return True

    def create(self, key: str, resource: str, task: str) -> None:
        with self._edit() as data:
            entry = data["resources"].setdefault(key, {"resource": resource, "task": task,
                                                       "creations": 0})
            entry["creations"] += 1

    def delete(self, key: str) -> None:
        with self._edit() as data:
            data["resources"].pop(key, None)


class LedgerTask(TaskType):
    """Creates one fake resource per task in the ledger; see the module docstring.

    ``worker`` tags the log entries it writes (to tell engines apart in one test).
    """

    def __init__(self, ledger: Ledger, worker: str = "") -> None:
        self.ledger = ledger
        self.worker = worker

    def _record(self, event: str, ctx: TaskContext, step: str | None = None) -> None:
        self.ledger.record(event, ctx.task, step=step, worker=self.worker)

    @staticmethod
    def _param(ctx: TaskContext, name: str, default: Any = None) -> Any:
        return ctx.params.get(name, default)

    def precondition(self, ctx: TaskContext) -> Verdict:
        self._record("precondition", ctx, "precondition")
        if self._param(ctx, "precondition_false"):
            return Verdict.no(f"{ctx.task}: precondition_false is set")
        return Verdict.yes()

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        self._record("start", ctx, "action")
        if self.ledger.should_fail(f"action:{ctx.idempotency_key}",
                                   int(self._param(ctx, "fail_action", 0))):
            self._record("failed", ctx)
            raise RuntimeError(f"injected failure of the action of {ctx.task}")
        resource = str(self._param(ctx, "resource", ctx.task))
        ctx.record_side_effect({"resource": resource, "key": ctx.idempotency_key})
        delay = float(self._param(ctx, "delay", 0))
        if self._param(ctx, "cooperative"):
            ends = time.monotonic() + delay
            while time.monotonic() < ends and not ctx.cancelled:
                time.sleep(0.01)
            if ctx.cancelled:
                self._record("stopped", ctx)
                return {"stopped": True}
        elif delay:
            time.sleep(delay)
        self.ledger.create(ctx.idempotency_key, resource, ctx.task)
        self._record("end", ctx)
        return {"resource": resource, "key": ctx.idempotency_key}

    def postcondition(self, ctx: TaskContext) -> Verdict:
        self._record("postcondition", ctx, "postcondition")
        if self.ledger.should_fail(f"postcondition:{ctx.idempotency_key}",
                                   int(self._param(ctx, "fail_postcondition", 0))):
            return Verdict.no("injected postcondition failure")
        if ctx.idempotency_key not in self.ledger.resources:
            return Verdict.no(f"no resource for {ctx.idempotency_key}")
        return Verdict.yes()

    def rollback(self, ctx: TaskContext) -> None:
        self._record("rollback", ctx, "rollback")
        if self.ledger.should_fail(f"rollback:{ctx.idempotency_key}",
                                   int(self._param(ctx, "fail_rollback", 0))):
            raise RuntimeError(f"injected failure of the rollback of {ctx.task}")
        for effect in ctx.side_effects:
            self.ledger.delete(str(effect["key"]))


class NoopTask(TaskType):
    """Does nothing at all."""

    side_effects = False

    def action(self, ctx: TaskContext) -> None:
        return None


def ledger_catalog(ledger: Ledger, worker: str = "") -> TaskCatalog:
    """The fake task types: ``ledger`` (on ``ledger``, tagged ``worker``) and ``noop``."""
    return TaskCatalog({"ledger": LedgerTask(ledger, worker), "noop": NoopTask()})
