"""A fake resource driver that keeps an in-memory ledger; the tests and demos use it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from framework.engine.model import TaskSpec
from framework.plugins.resource import (
    FindReferenceRequest,
    FindReferenceResult,
    LifecycleRequest,
    LifecycleResult,
    ResourceDriver,
    ResourceDriverError,
)


def _prop(properties: dict[str, Any], name: str, default: Any = None) -> Any:
    entry = properties.get(name, default)
    return entry.get("value", default) if isinstance(entry, dict) else entry


class FakeResourceDriver(ResourceDriver):
    """Creates and deletes imaginary resources, recording them in a ledger.

    ``Create`` adds the resource named by the ``resourceName`` system property
    (``RESOURCE_ALREADY_EXISTS`` if present), ``Delete`` removes it
    (``RESOURCE_NOT_FOUND`` if absent), any other lifecycle succeeds. Request
    properties steer it: ``fakeDelay`` (seconds to sleep), ``fakeFailure`` (a failure code
    to raise) and ``fakePlanError`` (its plan raises RuntimeError, as a driver with a bug
    would). ``calls`` lists every call as ``(method, lifecycle name, request id)``, in order.
    """

    infrastructure_types: tuple[str, ...] = ("Fake",)
    uses_driver_files = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ledger: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []

    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        """The one-task plan of every driver, unless ``fakePlanError`` asks it to raise."""
        if _prop(request.request_properties, "fakePlanError"):
            raise RuntimeError("injected plan error")
        return super().plan(request)

    def execute_lifecycle(self, request: LifecycleRequest) -> LifecycleResult:
        """Create, Delete or any other lifecycle on the ledger, as the class says."""
        with self._lock:
            self.calls.append(("execute", request.lifecycle_name, request.request_id))
        delay = float(_prop(request.request_properties, "fakeDelay", 0) or 0)
        if delay:
            time.sleep(delay)
        failure = _prop(request.request_properties, "fakeFailure")
        if failure:
            raise ResourceDriverError(f"injected failure {failure}", failure_code=str(failure))
        name = str(_prop(request.system_properties, "resourceName", "") or "")
        with self._lock:
            if request.lifecycle_name == "Create":
                if name in self.ledger:
                    raise ResourceDriverError(f"{name} exists", "RESOURCE_ALREADY_EXISTS")
                self.ledger[name] = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "fake:" + name))}
            elif request.lifecycle_name == "Delete":
                if self.ledger.pop(name, None) is None:
                    raise ResourceDriverError(f"{name} not found", "RESOURCE_NOT_FOUND")
                return LifecycleResult()
            entry = self.ledger.get(name)
        topology = {name: {"id": entry["id"], "type": "Fake"}} if entry else {}
        return LifecycleResult(outputs={"lifecycle": request.lifecycle_name},
                               associated_topology=topology)

    def rollback_lifecycle(self, request: LifecycleRequest) -> None:
        """Undoes a Create by forgetting the resource; other lifecycles left nothing behind."""
        with self._lock:
            self.calls.append(("rollback", request.lifecycle_name, request.request_id))
        if request.lifecycle_name == "Create":
            with self._lock:
                self.ledger.pop(str(_prop(request.system_properties, "resourceName", "")), None)

    def find_reference(self, request: FindReferenceRequest) -> FindReferenceResult | None:
        """The ledger's resource named ``instance_name``, or None."""
        with self._lock:
            entry = self.ledger.get(request.instance_name)
        if entry is None:
            return None
        return FindReferenceResult(
            resource_id=entry["id"],
            associated_topology={request.instance_name: {"id": entry["id"], "type": "Fake"}},
        )
