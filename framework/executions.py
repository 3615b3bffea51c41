"""Resource-driver executions: an orchestrator's request becomes an engine operation."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from framework.engine import Engine, TaskSpec
from framework.errors import BadRequest, DriverFailed, NotFound
from framework.execution_events import MESSAGE_VERSION
from framework.lifecycle import (
    MAX_RESULT_BYTES,
    PACKAGE,
    deployment_location,
    driver_bug,
    driver_plan,
    lifecycle_request,
    result_problem,
)
from framework.packages import DEFAULT_LIMITS, DriverDirectory, accept
from framework.plugins.registry import PluginRegistry
from framework.plugins.resource import (
    FindReferenceRequest,
    FindReferenceResult,
    ResourceDriver,
    ResourceDriverError,
)

log = logging.getLogger(__name__)

#: The kind of the engine operations that run resource-driver executions.
KIND = "resource.execution"


class Executions:
    """Runs the resource driver API: picks the driver, checks the package, records the
    execution as an operation (the driver's plan) and finds references.

    A request names its driver by the URL prefix, or is dispatched on
    ``deploymentLocation.type`` to the driver that declares that infrastructure type (the
    first by name if several do; compared without case), or to ``default_driver``.
    """

    def __init__(self, engine: Engine, plugins: PluginRegistry, *,
                 max_package_bytes: int = DEFAULT_LIMITS.max_compressed_bytes,
                 default_driver: str | None = None, work_dir: Path | None = None,
                 max_result_bytes: int = MAX_RESULT_BYTES) -> None:
        self.engine = engine
        self.max_result_bytes = max_result_bytes
        self.plugins = plugins
        self.limits = dataclasses.replace(DEFAULT_LIMITS, max_compressed_bytes=max_package_bytes)
        self.default_driver = default_driver
        self.work_dir = work_dir

    def driver(self, name: str | None, location: Mapping[str, Any]) -> tuple[str, ResourceDriver]:
        """The driver named ``name``, or the one serving the location's type.

        NotFound for an unknown name (a URL prefix), BadRequest naming
        ``deploymentLocation.type`` when no driver serves the type.
        """
        drivers = self.plugins.resource_drivers
        if name is not None:
            if name not in drivers:
                raise NotFound(f"no resource driver named {name!r} is loaded")
            return name, drivers[name]
        wanted = str(location.get("type") or "")
        for candidate in sorted(drivers):
            if wanted.lower() in (t.lower() for t in drivers[candidate].infrastructure_types):
                return candidate, drivers[candidate]
        if self.default_driver in drivers:
            return self.default_driver, drivers[self.default_driver]
        served = ", ".join(f"{n} ({', '.join(d.infrastructure_types) or 'no type'})"
                           for n, d in sorted(drivers.items())) or "none"
        problem = (f"no resource driver serves infrastructure type {wanted!r}" if wanted
                   else "missing, and no default resource driver is set")
        raise BadRequest(f"deploymentLocation.type: {problem}; loaded drivers: {served}",
                         **{"invalid-params": [{"name": "deploymentLocation.type",
                                                "reason": problem}]})

    def package(self, driver_files: str) -> bytes:
        """The zip bytes of ``driverFiles``, checked whole (BadRequest naming the member)."""
        return accept(driver_files, self.limits)

    def execute(self, body: Mapping[str, Any], driver_name: str | None = None,
                tenant_id: str | None = None) -> dict[str, Any]:
        """Records ``body`` (the API request) as an operation; the 202 body.

        The driver's plan runs on the engine; the operation's id is the ``requestId``.
        """
        name, specs, summary, data = self._plan(body, driver_name, tenant_id)
        try:
            operation, _ = self.engine.submit(KIND, specs, request=summary,
                                              attachments={PACKAGE: data})
        except ValueError as exc:  # the driver's plan is not a valid graph
            raise BadRequest(f"driver {name!r} planned an invalid operation: {exc}") from exc
        return _accepted(operation.id)

    async def execute_async(self, body: Mapping[str, Any], driver_name: str | None = None,
                            tenant_id: str | None = None) -> dict[str, Any]:
        """:meth:`execute` for a coroutine: the package is checked and the plan made on
        the event loop, which then waits for no commit."""
        name, specs, summary, data = self._plan(body, driver_name, tenant_id)
        try:
            operation, _ = await self.engine.submit_async(KIND, specs, request=summary,
                                                          attachments={PACKAGE: data})
        except ValueError as exc:  # the driver's plan is not a valid graph
            raise BadRequest(f"driver {name!r} planned an invalid operation: {exc}") from exc
        return _accepted(operation.id)

    def _plan(self, body: Mapping[str, Any], driver_name: str | None, tenant_id: str | None,
              ) -> tuple[str, list[TaskSpec], dict[str, Any], bytes]:
        """The driver's name, its plan (task types named in the catalog), the operation's
        request and the package, for ``body``; BadRequest when they cannot be had."""
        location = body["deploymentLocation"]
        name, driver = self.driver(driver_name, location)
        data = self.package(body["driverFiles"])
        request = lifecycle_request({**body, "tenantId": tenant_id})
        specs = driver_plan(name, driver, request)
        if not specs:
            raise BadRequest(f"lifecycleName: driver {name!r} has nothing to run for "
                             f"{request.lifecycle_name!r}")
        summary = {"driver": name, "lifecycleName": request.lifecycle_name,
                   "deploymentLocation": {"name": location.get("name"),
                                          "type": location.get("type")},
                   "tenantId": tenant_id}
        return (name, [dataclasses.replace(spec, type=f"{name}:{spec.type}") for spec in specs],
                summary, data)

    def find(self, body: Mapping[str, Any], driver_name: str | None = None,
             ) -> dict[str, Any]:
        """Asks the driver to find ``instanceName``; ``{"result": null}`` when it finds none.

        A driver error is :class:`DriverFailed` (502) with its failure code; any other
        exception, or a result :func:`~framework.lifecycle.result_problem` refuses, is one
        with ``INTERNAL_ERROR``.
        """
        location = deployment_location(body["deploymentLocation"])
        name, driver = self.driver(driver_name, location)
        data = self.package(body["driverFiles"])
        with DriverDirectory(data, self.limits, self.work_dir) as directory:
            try:
                found = driver.find_reference(FindReferenceRequest(
                    instance_name=body["instanceName"], deployment_location=location,
                    driver_dir=str(directory.path)))
            except ResourceDriverError as exc:
                raise DriverFailed(f"driver {name!r}: {exc.failure_code}: {exc}",
                                   failureCode=exc.failure_code) from exc
            except Exception as exc:  # a driver's bug: its own failure, not the server's
                raise driver_bug(name, "find_reference", exc) from exc
        if found is None:
            return {"result": None}
        problem = result_problem(found, self.max_result_bytes, FindReferenceResult)
        if problem is not None:
            log.error("driver %r: find_reference returned %s", name, problem)
            raise DriverFailed(f"driver {name!r} returned {problem}",
                               failureCode="INTERNAL_ERROR")
        return {"result": {"resourceId": found.resource_id,
                           "associatedTopology": found.associated_topology,
                           "outputs": found.outputs}}


def _accepted(request_id: str) -> dict[str, Any]:
    return {"requestId": request_id, "associatedTopology": {}, "version": MESSAGE_VERSION}
