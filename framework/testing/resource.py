"""Resource drivers run as the server runs them: the package checked, the plan run task by task."""

from __future__ import annotations

import functools
import io
import json
import stat
import threading
import uuid
import zipfile
from collections.abc import Mapping
from typing import Any

from framework.engine.dag import build
from framework.engine.model import TaskSpec, Verdict
from framework.engine.runner import verdict_of
from framework.engine.task import TaskContext, TaskType
from framework.errors import BadRequest
from framework.lifecycle import (
    LIFECYCLE_TYPE,
    PACKAGE,
    LifecycleFailed,
    LifecycleTask,
    driver_plan,
    lifecycle_request,
)
from framework.packages import DEFAULT_LIMITS, DriverDirectory, verify
from framework.plugins.calls import call, describe
from framework.plugins.resource import (
    FAILURE_CODES,
    FindReferenceRequest,
    FindReferenceResult,
    LifecycleResult,
    ResourceDriver,
    ResourceDriverError,
)

Files = Mapping[str, str | bytes]


def package(files: Files | None) -> bytes:
    """``files`` (path -> content) zipped as an orchestrator sends driverFiles and checked as
    the server checks them (BadRequest naming the member). A file that starts with ``#!``
    is marked executable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in (files or {}).items():
            data = content.encode() if isinstance(content, str) else content
            info = zipfile.ZipInfo(path)
            info.external_attr = (stat.S_IFREG | (0o755 if data[:2] == b"#!" else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    verify(buffer.getvalue(), DEFAULT_LIMITS)
    return buffer.getvalue()


def default_location(driver: ResourceDriver) -> dict[str, Any]:
    """A deployment location named ``test`` of the driver's first infrastructure type."""
    types = driver.infrastructure_types
    first = types[0] if types and isinstance(types, tuple) and isinstance(types[0], str) else ""
    return {"name": "test", "type": first, "properties": {}}


def task_types(driver: ResourceDriver) -> dict[str, TaskType]:
    """The task types the driver's plan may use, as the server's catalog holds them."""
    return {**driver.task_types(), LIFECYCLE_TYPE: LifecycleTask(driver)}


def run_lifecycle(
    driver: ResourceDriver, lifecycle_name: str, *, files: Files | None = None,
    system_properties: Mapping[str, Any] | None = None,
    resource_properties: Mapping[str, Any] | None = None,
    request_properties: Mapping[str, Any] | None = None,
    deployment_location: Mapping[str, Any] | None = None,
    associated_topology: Mapping[str, Any] | None = None,
    tenant_id: str | None = None, request_id: str | None = None,
) -> LifecycleResult:
    """Run one lifecycle the way the server does; what the orchestrator is told.

    ``files`` are zipped and checked like ``driverFiles``; the request is built like the
    API builds it (a bare property value becomes a string property; the location defaults
    to one named ``test`` of the driver's first infrastructure type). The driver's plan runs
    task by task in dependency order, with the driver's task types, ``request_id`` (a new
    UUID by default) as the operation id, and a private unpacked directory per call.
    Returns the outputs and associated topology of the tasks merged, with the ``details``
    of the last task that ran. A failure raises ResourceDriverError with the failure code
    the orchestrator would get: the driver's own, INFRASTRUCTURE_ERROR for a task past its
    timeout, INTERNAL_ERROR for anything else (naming the task and the step). A request
    the server refuses (package, empty or invalid plan) raises BadRequest; a plan that
    raises, or is not a sequence of TaskSpec, raises DriverFailed as the server answers it
    (502), the driver's exception chained.
    """
    data = package(files)
    operation_id = request_id or str(uuid.uuid4())
    request = lifecycle_request({
        "lifecycleName": lifecycle_name, "systemProperties": system_properties,
        "resourceProperties": resource_properties, "requestProperties": request_properties,
        "deploymentLocation": deployment_location or default_location(driver),
        "associatedTopology": associated_topology, "tenantId": tenant_id})
    specs = list(driver_plan(type(driver).__name__, driver, request))
    if not specs:
        raise BadRequest(f"lifecycleName: the driver has nothing to run for {lifecycle_name!r}")
    try:
        order = build(specs).order
    except ValueError as exc:
        raise BadRequest(f"the driver planned an invalid operation: {exc}") from exc
    types = task_types(driver)
    results: dict[str, Any] = {}
    for spec in (specs[index] for index in order):
        task_type = types.get(spec.type)
        if task_type is None:
            raise ResourceDriverError(f"task {spec.name!r}: unknown task type {spec.type!r}",
                                      "INTERNAL_ERROR")
        earlier = {name: results.get(name) for name in spec.depends_on}
        token = threading.Event()
        ctx = TaskContext(operation_id=operation_id, task=spec.name, params=spec.params,
                          attempt=1, cancel_token=token,
                          load_results=functools.partial(dict, earlier),
                          load_attachment=functools.partial(_attachment, data))
        results[spec.name] = _run_task(spec, task_type, ctx, token)
    done = [result for result in results.values() if isinstance(result, dict)]
    outputs: dict[str, Any] = {}
    topology: dict[str, Any] = {}
    for result in done:
        outputs.update(result.get("outputs") or {})
        topology.update(result.get("associatedTopology") or {})
    return LifecycleResult(outputs, topology, dict(done[-1].get("details") or {}) if done else {})


def _attachment(data: bytes, name: str) -> bytes | None:
    return data if name == PACKAGE else None


def _run_task(spec: TaskSpec, task_type: TaskType, ctx: TaskContext,
              token: threading.Event) -> Any:
    """The task's result (None when skipped), or ResourceDriverError as the server reports it."""
    step, verdict, outcome, result = "precondition", Verdict(True), "returned", None
    try:
        with ctx.frozen("in a precondition"):
            if not verdict_of(task_type.precondition(ctx), step):
                return None
        step = "action"
        outcome, value = call(functools.partial(task_type.action, ctx), spec.timeout)
        if outcome == "raised":
            raise value
        if outcome == "returned":
            result = None if value is None else dict(value)
            json.dumps(result, allow_nan=False)  # the server stores it: it must be JSON
            step = "postcondition"
            with ctx.frozen("in a postcondition"):
                verdict = verdict_of(task_type.postcondition(ctx), step)
    except LifecycleFailed as exc:  # "CODE: description", from the driver's ResourceDriverError
        code, _, description = str(exc).partition(": ")
        if code not in FAILURE_CODES:
            code, description = "INTERNAL_ERROR", f"task {spec.name!r}: {exc}"
        raise ResourceDriverError(description, code) from exc
    except Exception as exc:  # any other error reaches the orchestrator as INTERNAL_ERROR
        raise ResourceDriverError(f"task {spec.name!r}: {step} raised {describe(exc)}",
                                  "INTERNAL_ERROR") from exc
    if outcome == "timeout":
        token.set()  # asks a driver that honours request.cancelled() to stop
        raise ResourceDriverError(f"the driver timed out after {spec.timeout:g}s",
                                  "INFRASTRUCTURE_ERROR")
    if not verdict:
        raise ResourceDriverError(f"task {spec.name!r}: postcondition false: "
                                  f"{verdict.reason or 'no reason given'}", "INTERNAL_ERROR")
    return result


def find_reference(driver: ResourceDriver, instance_name: str, *, files: Files | None = None,
                   deployment_location: Mapping[str, Any] | None = None,
                   ) -> FindReferenceResult | None:
    """Ask ``driver`` to find ``instance_name`` as the server's references/find does: the
    package zipped, checked, unpacked into a private directory and removed after the call.
    The driver's ResourceDriverError propagates (the server answers 502 with its code)."""
    with DriverDirectory(package(files), DEFAULT_LIMITS) as directory:
        return driver.find_reference(FindReferenceRequest(
            instance_name=instance_name,
            deployment_location=dict(deployment_location or default_location(driver)),
            driver_dir=str(directory.path)))
