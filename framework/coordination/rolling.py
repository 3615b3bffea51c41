"""The rolling update (ChangeCurrentVnfPkg, ``upgrade_type: RollingUpdate``) as an operation.

For each VNFC of a VDU named in ``vdu_params``, from the highest ``vnfcResourceInfo`` index
down: coordinate with the old VNF's script, update the VNFC through its resource driver,
coordinate with the new VNF's script. The tasks form one chain, so the first failure (an
``ABORT``, a script that cannot answer, a driver error) stops the update with the operation
FAILED_TEMP. Rolling back reverts each updated VNFC with its driver, newest first, and
coordinates the restored VNFC with the old VNF's script.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import Mapping
from typing import Any

from framework.coordination.scripts import Coordinator, package_member, side_param
from framework.engine import (
    ActionFailed,
    Engine,
    OperationView,
    TaskCatalog,
    TaskContext,
    TaskSpec,
    TaskType,
    Verdict,
)
from framework.errors import BadRequest
from framework.lifecycle import (
    PACKAGE,
    LifecycleTask,
    ReturnedHere,
    lifecycle_request,
    properties,
)
from framework.packages import DEFAULT_LIMITS, accept
from framework.plugins.registry import PluginRegistry
from framework.plugins.resource import LifecycleRequest, ResourceDriver

#: The kind of the engine operations that run rolling updates.
KIND = "vnf.rolling_update"
#: The task type of a coordinate step, and (prefixed by the driver's name) of a VNFC update.
COORDINATE = "coordination:coordinate"
VNFC_UPDATE = "vnfc-update"
OLD_SCRIPT = "lcm-operation-coordinate-old-vnf"
NEW_SCRIPT = "lcm-operation-coordinate-new-vnf"
#: The coordination action named when neither the request nor the VNFC names one.
DEFAULT_ACTION = "prv.nfvd.rolling_update"
#: Seconds the engine allows a step beyond its coordination timeout before abandoning it.
STEP_MARGIN = 30.0


def coord_request(params: Mapping[str, Any], operation_id: str) -> dict[str, Any]:
    """The ``LcmCoordRequest`` of one step: the VNFC is named in ``inputParams``."""
    vnf = params["vnfInstanceId"]
    return {
        "vnfInstanceId": vnf,
        "vnfLcmOpOccId": operation_id,
        "lcmOperationType": "CHANGE_VNFPKG",
        "coordinationActionName": params.get("coordinationActionName") or DEFAULT_ACTION,
        "inputParams": {"vnfcInstanceId": params["vnfcInstanceId"], "vduId": params["vduId"]},
        "_links": {"vnfLcmOpOcc": {"href": f"/api/lcm/operations/{operation_id}"},
                   "vnfInstance": {"href": params.get("vnfInstanceHref")
                                   or f"urn:nfvd:vnf-instance:{vnf}"}},
    }


def step_context(params: Mapping[str, Any], operation_id: str, side: str,
                 rollback: bool = False) -> dict[str, Any]:
    """What a coordinate script is told about its step (besides the VNFC's parameters)."""
    return {"vnfInstanceId": params["vnfInstanceId"], "vnfLcmOpOccId": operation_id,
            "vduId": params["vduId"], "vnfcInstanceId": params["vnfcInstanceId"],
            "side": side, "rollback": rollback,
            "LcmCoordRequest": coord_request(params, operation_id)}


def refusal(script: str, lcm: Mapping[str, Any]) -> str:
    """Why a step stops the update: the result, and the server's problem detail if any."""
    error = lcm.get("error") if isinstance(lcm.get("error"), Mapping) else {}
    detail = error.get("detail") or error.get("title") if error else None
    return (f"coordinate script {script!r} answered {lcm['coordinationResult']}"
            + (f": {detail}" if detail else ""))


class CoordinateTask(TaskType):
    """One coordinate step; its result is the final ``LcmCoord``, kept also when it stops
    the update. After a crash the step is asked again: a coordination has no side effect
    nfvd must undo, and the server sees a new request for the same operation."""

    side_effects = False

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self._returned = ReturnedHere()

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        params = ctx.params
        lcm = self.coordinator.run(params["script"], params["vnfc"],
                                   step_context(params, ctx.operation_id, params["side"]),
                                   lambda: ctx.attachment(PACKAGE))
        if lcm["coordinationResult"] != "CONTINUE":
            raise ActionFailed(refusal(params["script"], lcm), lcm)
        self._returned.add(ctx)
        return lcm

    def postcondition(self, ctx: TaskContext) -> Verdict:
        return self._returned.take(ctx, "the coordination")


class VnfcUpdateTask(LifecycleTask):
    """Updates one VNFC with its resource driver; the request id is the task's key, the same
    for every attempt. Its rollback reverts the VNFC with the driver, then coordinates the
    restored VNFC with the old VNF's script (which must answer CONTINUE)."""

    def __init__(self, driver: ResourceDriver, coordinator: Coordinator) -> None:
        super().__init__(driver)
        self.coordinator = coordinator

    def _request(self, ctx: TaskContext) -> LifecycleRequest:
        return dataclasses.replace(lifecycle_request(ctx.params["request"], ctx.idempotency_key),
                                   cancelled=lambda: ctx.cancelled)

    def rollback(self, ctx: TaskContext) -> None:
        if not ctx.side_effects:
            return
        super().rollback(ctx)
        params = ctx.params
        lcm = self.coordinator.run(params["script"], params["vnfc"],
                                   step_context(params, ctx.operation_id, "old", rollback=True),
                                   lambda: ctx.attachment(PACKAGE))
        if lcm["coordinationResult"] != "CONTINUE":
            raise RuntimeError(refusal(params["script"], lcm) + " for the restored VNFC")


def register(catalog: TaskCatalog, plugins: PluginRegistry, coordinator: Coordinator) -> None:
    """Adds the rolling update's task types: the coordinate step, and a VNFC update for each
    loaded resource driver (``<driver>:vnfc-update``, unless the driver has one itself)."""
    catalog.register(COORDINATE, CoordinateTask(coordinator))
    for name, driver in plugins.resource_drivers.items():
        if f"{name}:{VNFC_UPDATE}" not in catalog:
            catalog.register(f"{name}:{VNFC_UPDATE}", VnfcUpdateTask(driver, coordinator))


class RollingUpdates:
    """Turns rolling-update requests into operations."""

    def __init__(self, engine: Engine, plugins: PluginRegistry, *, timeout: float = 60.0,
                 max_package_bytes: int = DEFAULT_LIMITS.max_compressed_bytes) -> None:
        self.engine = engine
        self.plugins = plugins
        self.timeout = timeout  # of a coordinate step whose VNFC parameters give none
        self.limits = dataclasses.replace(DEFAULT_LIMITS, max_compressed_bytes=max_package_bytes)

    def package(self, body: Mapping[str, Any]) -> bytes | None:
        """The request's VNF package (``driverFiles``), checked whole; None without one."""
        if not body.get("driverFiles"):
            return None
        return accept(body["driverFiles"], self.limits)

    def plan(self, body: Mapping[str, Any], package: bytes | None = None) -> list[TaskSpec]:
        """The chain of steps, highest VNFC index first; BadRequest naming the field."""
        driver = body["driver"]
        if self.plugins.resource_driver(driver) is None:
            raise BadRequest(f"driver: no resource driver named {driver!r} is loaded")
        extra = body["additionalParams"]
        scripts = {"old": extra[OLD_SCRIPT], "new": extra[NEW_SCRIPT]}
        _check_scripts(scripts, package)
        vnfcs = list(body["vnfcResourceInfo"])
        ids = [vnfc["id"] for vnfc in vnfcs]
        if len(set(ids)) != len(ids):
            raise BadRequest("vnfcResourceInfo: VNFC ids must be unique")
        entries = _vdu_params(extra.get("vdu_params") or [], {v["vduId"] for v in vnfcs})
        tasks: list[TaskSpec] = []
        for vnfc in reversed(vnfcs):
            entry = entries.get(vnfc["vduId"])
            if entry is not None:
                tasks += self._steps(body, vnfc, entry, scripts, tasks[-1].name if tasks else None)
        if not tasks:
            raise BadRequest("additionalParams.vdu_params: names no VDU of vnfcResourceInfo; "
                             "nothing to update")
        return tasks

    def _steps(self, body: Mapping[str, Any], vnfc: Mapping[str, Any],
               entry: Mapping[str, Any], scripts: Mapping[str, str],
               after: str | None) -> list[TaskSpec]:
        vnfc_id = vnfc["id"]
        common = {"vnfInstanceId": body["vnfInstanceId"], "vduId": vnfc["vduId"],
                  "vnfcInstanceId": vnfc_id, "vnfc": dict(entry),
                  "coordinationActionName": body.get("coordinationActionName"),
                  "vnfInstanceHref": body.get("vnfInstanceHref")}
        update = {"lifecycleName": body.get("lifecycleName") or "Upgrade",
                  "deploymentLocation": dict(body.get("deploymentLocation") or {}),
                  "systemProperties": properties({"vnfInstanceId": body["vnfInstanceId"],
                                                  "vnfcInstanceId": vnfc_id}),
                  "resourceProperties": {
                      **properties(body.get("resourceProperties")),
                      **properties({"vduId": vnfc["vduId"], "vnfcInstanceId": vnfc_id,
                                    "vnfdId": body.get("vnfdId")})},
                  "associatedTopology": {}, "tenantId": body.get("tenantId")}

        def timeout(side: str) -> float:
            param = side_param(entry, {"side": side})
            return float(param.get("timeout") or self.timeout) + STEP_MARGIN

        old, new = f"{vnfc_id}:coordinate-old", f"{vnfc_id}:coordinate-new"
        return [
            TaskSpec(old, COORDINATE, {**common, "script": scripts["old"], "side": "old"},
                     depends_on=(after,) if after else (), timeout=timeout("old")),
            TaskSpec(f"{vnfc_id}:update", f"{body['driver']}:{VNFC_UPDATE}",
                     {**common, "script": scripts["old"], "request": update},
                     depends_on=(old,), cancellable=True),
            TaskSpec(new, COORDINATE, {**common, "script": scripts["new"], "side": "new"},
                     depends_on=(f"{vnfc_id}:update",), timeout=timeout("new")),
        ]

    def submit(self, body: Mapping[str, Any]) -> tuple[OperationView, bool]:
        """Persists the request as an operation (once per ``idempotencyKey``)."""
        package = self.package(body)
        tasks = self.plan(body, package)
        request = {k: v for k, v in body.items() if k not in ("idempotencyKey", "driverFiles")}
        return self.engine.submit(KIND, tasks, request=request,
                                  idempotency_key=body.get("idempotencyKey"),
                                  attachments={PACKAGE: package} if package else None)


def _check_scripts(scripts: Mapping[str, str], package: bytes | None) -> None:
    names = set(zipfile.ZipFile(io.BytesIO(package)).namelist()) if package else set()
    for side, script in scripts.items():
        field = f"additionalParams.{OLD_SCRIPT if side == 'old' else NEW_SCRIPT}"
        try:
            member = package_member(script)
        except ValueError as exc:
            raise BadRequest(f"{field}: {exc}") from None
        if member is None:
            continue  # a plugin's name: the plugin answers when the step runs
        if package is None:
            raise BadRequest(f"{field}: {script!r} is a script file, but the request has no "
                             "VNF package (driverFiles)")
        if member not in names:
            raise BadRequest(f"{field}: {script!r} is not a file of the VNF package")


def _vdu_params(entries: list[Mapping[str, Any]], vdus: set[str]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for index, entry in enumerate(entries):
        vdu = entry["vdu_id"]
        where = f"additionalParams.vdu_params[{index}].vdu_id"
        if vdu in found:
            raise BadRequest(f"{where}: VDU {vdu!r} is given twice")
        if vdu not in vdus:
            raise BadRequest(f"{where}: no VNFC of VDU {vdu!r} in vnfcResourceInfo")
        found[vdu] = entry
    return found
