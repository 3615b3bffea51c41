"""Resource-driver lifecycles as engine operations: a request becomes the driver's plan."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from framework.engine import Engine, OperationView, TaskCatalog, TaskContext, TaskSpec, TaskType
from framework.engine.model import Verdict
from framework.errors import BadRequest
from framework.plugins.registry import PluginRegistry
from framework.plugins.resource import LifecycleRequest, ResourceDriver, ResourceDriverError

LIFECYCLE_KIND = "resource.lifecycle"
#: The task type every driver has: one call of ``execute_lifecycle``.
LIFECYCLE_TYPE = "lifecycle"


def lifecycle_request(body: Mapping[str, Any], request_id: str = "") -> LifecycleRequest:
    """The driver's view of an API request body (the spec has checked its shape)."""
    return LifecycleRequest(
        lifecycle_name=body["lifecycleName"],
        system_properties=dict(body.get("systemProperties") or {}),
        deployment_location=dict(body.get("deploymentLocation") or {}),
        resource_properties=dict(body.get("resourceProperties") or {}),
        request_properties=dict(body.get("requestProperties") or {}),
        associated_topology=dict(body.get("associatedTopology") or {}),
        request_id=request_id,
    )


class LifecycleTask(TaskType):
    """Runs one transition with ``driver.execute_lifecycle``; the request is in the params.

    Its postcondition holds once the call returned in this process; after a crash
    it does not (nfvd cannot tell whether the call finished), so the call is made again
    with the same request id, which drivers must treat as the same request. A driver
    that can check the infrastructure overrides this with ``verify_lifecycle``.
    """

    def __init__(self, driver: ResourceDriver) -> None:
        self.driver = driver
        self._returned: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def _request(self, ctx: TaskContext) -> LifecycleRequest:
        return lifecycle_request(ctx.params["request"], request_id=ctx.idempotency_key)

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        request = self._request(ctx)
        ctx.record_side_effect({"lifecycle": request.lifecycle_name,
                                "requestId": ctx.idempotency_key})
        try:
            result = self.driver.execute_lifecycle(request)
        except ResourceDriverError as exc:
            raise RuntimeError(f"{exc.failure_code}: {exc}") from exc
        with self._lock:
            self._returned.add((ctx.idempotency_key, ctx.attempt))
        return {"outputs": result.outputs, "associatedTopology": result.associated_topology}

    def postcondition(self, ctx: TaskContext) -> Verdict:
        verify = getattr(self.driver, "verify_lifecycle", None)
        if callable(verify):
            return Verdict(bool(verify(self._request(ctx))), "checked by the driver")
        with self._lock:
            # taken, not just read: the mark serves this one check, and a long-running
            # process must not keep one for every task it ever ran
            key = (ctx.idempotency_key, ctx.attempt)
            done = key in self._returned
            self._returned.discard(key)
        return Verdict(done, "" if done else "the call did not return in this process")

    def rollback(self, ctx: TaskContext) -> None:
        if ctx.side_effects:
            self.driver.rollback_lifecycle(self._request(ctx))


def build_catalog(plugins: PluginRegistry) -> TaskCatalog:
    """Every task type of every loaded resource driver, named ``<driver>:<type>``."""
    catalog = TaskCatalog()
    for name, driver in plugins.resource_drivers.items():
        catalog.register(f"{name}:{LIFECYCLE_TYPE}", LifecycleTask(driver))
        for type_name, task_type in driver.task_types().items():
            catalog.register(f"{name}:{type_name}", task_type)
    return catalog


class Lifecycles:
    """Turns lifecycle requests into operations of the engine."""

    def __init__(self, engine: Engine, plugins: PluginRegistry) -> None:
        self.engine = engine
        self.plugins = plugins

    def plan(self, body: Mapping[str, Any]) -> list[TaskSpec]:
        """The driver's plan for ``body``, with task types named in the catalog."""
        name = body["driver"]
        driver = self.plugins.resource_driver(name)
        if driver is None:
            raise BadRequest(f"driver: no resource driver named {name!r} is loaded")
        specs: Sequence[TaskSpec] = driver.plan(lifecycle_request(body))
        if not specs:
            raise BadRequest(f"driver {name!r} planned nothing for {body['lifecycleName']!r}")
        return [dataclasses.replace(spec, type=f"{name}:{spec.type}") for spec in specs]

    def submit(self, body: Mapping[str, Any]) -> tuple[OperationView, bool]:
        """Persists the request as an operation (once per ``idempotencyKey``)."""
        tasks = self.plan(body)
        request = {k: v for k, v in body.items() if k != "idempotencyKey"}
        try:
            return self.engine.submit(LIFECYCLE_KIND, tasks, request=request,
                                      idempotency_key=body.get("idempotencyKey"))
        except ValueError as exc:  # the driver's plan is not a valid DAG
            raise BadRequest(f"driver {body['driver']!r}: {exc}") from exc

    def dry_run(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.engine.dry_run(self.plan(body), request=body)
