"""A resource driver for crash tests: five chained steps on a file-backed ledger.

The serving process kills itself with SIGKILL at the point named by
``NFVD_TEST_CRASH`` (``<task>:<point>``), once: a marker file beside the ledger
remembers that the crash happened, so the restarted process runs on.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from framework import (
    FindReferenceRequest,
    LifecycleRequest,
    LifecycleResult,
    ResourceDriver,
    TaskContext,
    TaskSpec,
    TaskType,
    Verdict,
)

STEPS = ("t1", "t2", "t3", "t4", "t5")


class Ledger:
    """What the fake infrastructure holds, in a JSON file shared by processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = json.loads(self.path.read_text()) if self.path.exists() else {
                "resources": {}, "calls": []}
            yield data
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)

    def read(self) -> dict[str, Any]:
        with self._locked() as data:
            return data

    def create(self, key: str) -> None:
        with self._locked() as data:
            data["calls"].append(["create", key])
            data["resources"][key] = True

    def note(self, what: str, key: str) -> None:
        with self._locked() as data:
            data["calls"].append([what, key])

    def delete(self, key: str) -> None:
        with self._locked() as data:
            data["calls"].append(["delete", key])
            data["resources"].pop(key, None)

    def exists(self, key: str) -> bool:
        with self._locked() as data:
            return key in data["resources"]


def crash_point(ledger: Ledger, task: str, point: str) -> None:
    """SIGKILL this process if ``NFVD_TEST_CRASH`` names this point and it has not fired."""
    wanted = os.environ.get("NFVD_TEST_CRASH", "")
    if wanted != f"{task}:{point}":
        return
    marker = ledger.path.with_name(ledger.path.name + ".crashed")
    if marker.exists():
        return
    marker.write_text(f"{task}:{point}")
    os.kill(os.getpid(), signal.SIGKILL)


class Step(TaskType):
    """Creates one resource per idempotency key; rolls it back by deleting it."""

    def _ledger(self, ctx: TaskContext) -> Ledger:
        return Ledger(ctx.params["ledger"])

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        ledger = self._ledger(ctx)
        ledger.note("action", ctx.idempotency_key)
        crash_point(ledger, ctx.task, "before_record")
        ctx.record_side_effect({"resource": ctx.idempotency_key})
        crash_point(ledger, ctx.task, "after_record")
        if not ledger.exists(ctx.idempotency_key):
            ledger.create(ctx.idempotency_key)
        crash_point(ledger, ctx.task, "after_effect")
        delay = float(ctx.params.get("delay", 0))
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not ctx.cancelled:
            time.sleep(0.02)
        return {"resource": ctx.idempotency_key}

    def postcondition(self, ctx: TaskContext) -> Verdict:
        ledger = self._ledger(ctx)
        crash_point(ledger, ctx.task, "postcondition")
        return Verdict(ledger.exists(ctx.idempotency_key), "the resource exists")

    def rollback(self, ctx: TaskContext) -> None:
        ledger = self._ledger(ctx)
        crash_point(ledger, ctx.task, "rollback_before")
        for effect in ctx.side_effects:
            ledger.delete(effect["resource"])
        crash_point(ledger, ctx.task, "rollback_after")


class CrashDriver(ResourceDriver):
    """Plans five chained steps; ``requestProperties.delay`` slows each one down."""

    infrastructure_types = ("Crash",)

    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        props = request.request_properties
        ledger = props["ledger"]["value"]
        delay = float(props.get("delay", {}).get("value", 0))
        return [TaskSpec(name=step, type="step", params={"ledger": ledger, "delay": delay},
                         depends_on=(STEPS[i - 1],) if i else (), cancellable=True)
                for i, step in enumerate(STEPS)]

    def task_types(self) -> Mapping[str, TaskType]:
        return {"step": Step()}

    def execute_lifecycle(self, request: LifecycleRequest) -> LifecycleResult:
        raise NotImplementedError("the crash driver only runs its plan")

    def find_reference(self, request: FindReferenceRequest) -> None:
        return None
