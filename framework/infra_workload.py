"""The MultiCloud ``infra_workload`` API: workloads (Heat stacks) per cloud region.

ONAP SO creates a VF module's workload, polls it by id or by stack name, asks for the A&AI
update ("heatbridge") and deletes it. Every create, update and delete is an operation of
the lifecycle engine (``framework.workload_tasks``), so it is visible at
``/api/lcm/operations/{id}``, controllable, and survives a restart; reads go to the cloud.
The ``Project`` header scopes every call to a project of the region (the region's default
without it), and the cloud keeps workloads of other projects out of sight.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from framework.directives import apply_directives
from framework.engine import Engine, OperationView, TaskSpec
from framework.errors import BadRequest, Conflict, FrameworkError, NotFound
from framework.workload_tasks import (
    AAI_UPDATE,
    CREATE,
    DELETE,
    FOLLOW,
    KIND_CREATE,
    KIND_DELETE,
    KIND_UPDATE,
    REFUSED,
    Workload,
    WorkloadContext,
)
from framework.workloads import CloudRegion, WorkloadError, WorkloadGone, WorkloadType

RUNNING = ("PROCESSING", "PAUSED", "ROLLING_BACK")
FAILED = ("FAILED_TEMP", "FAILED", "ROLLED_BACK", "CANCELLED")
MAX_PROJECT = 255


class CloudFailed(FrameworkError):
    """The cloud answered with an error, or not at all."""

    status = 502
    title = "Cloud Failed"
    type = "https://nfvd.dev/problems/cloud-failed"


class CloudForbidden(FrameworkError):
    """The cloud refused nfvd's user, for the request's project (or the region's default)."""

    status = 403
    title = "Cloud Refused"
    type = "https://nfvd.dev/problems/cloud-refused"


def _cloud_error(exc: WorkloadError) -> FrameworkError:
    return (CloudForbidden if exc.status in REFUSED else CloudFailed)(str(exc))


class CloudTimeout(FrameworkError):
    """The cloud did not accept the workload in time (the operation goes on)."""

    status = 504
    title = "Cloud Timeout"
    type = "https://nfvd.dev/problems/cloud-timeout"


def _template_data(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # some callers send the stack-create body as a JSON string
        try:
            value = json.loads(value)
        except ValueError:
            raise BadRequest("template_data: a string that is not JSON") from None
    if not isinstance(value, dict) or not value:
        raise BadRequest("template_data is required: the stack-create body (template, "
                         "parameters, files, stack_name...)")
    parameters = value.get("parameters", {})
    if parameters is not None and not isinstance(parameters, dict):
        raise BadRequest("template_data.parameters: expected an object")
    return value


class InfraWorkloads:
    """The handlers' logic for ``specs/infra-workload.yaml``."""

    def __init__(self, engine: Engine, context: WorkloadContext, *,
                 accept_seconds: float = 60.0, delete_wait_seconds: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = engine
        self.context = context
        self.accept_seconds = accept_seconds
        self.delete_wait_seconds = delete_wait_seconds
        self.sleep = sleep

    # -- what a request names --------------------------------------------------------------

    def _region(self, owner: str, region: str) -> CloudRegion:
        found = self.context.regions.get((owner, region))
        if found is None:
            known = ", ".join(f"{o}/{r}" for o, r in sorted(self.context.regions)) or "none"
            raise NotFound(f"cloud region {owner}/{region} is not configured "
                           f"(NFVD_CLOUD_REGIONS_FILE; configured: {known})")
        return found

    def _type(self, name: Any) -> tuple[str, WorkloadType]:
        if not isinstance(name, str) or not name:
            raise BadRequest("template_type is required, e.g. heat")
        found = self.context.types.get(name.lower())
        if found is None:
            loaded = ", ".join(sorted(self.context.types)) or "none"
            raise BadRequest(f"template_type: no workload type {name!r} is installed "
                             f"(installed: {loaded})")
        return name.lower(), found

    @staticmethod
    def _project(project: str | None) -> str | None:
        if project is None or not project.strip():
            return None
        if len(project) > MAX_PROJECT:
            raise BadRequest(f"Project: at most {MAX_PROJECT} characters")
        return project.strip()

    def _workload(self, owner: str, region: str, workload_id: str) -> Workload:
        self._region(owner, region)
        found = self.context.table.get(owner, region, workload_id)
        if found is None or found.deleted:
            raise NotFound(f"no workload {workload_id} in cloud region {owner}/{region}")
        return found

    def _show(self, workload: Workload, project: str | None) -> dict[str, Any]:
        kind = self.context.types.get(workload.template_type)
        if kind is None:
            raise CloudFailed(f"workload type {workload.template_type!r} is no longer installed")
        region = self._region(workload.owner, workload.region)
        try:
            return dict(kind.show(region, project, workload.workload_id))
        except WorkloadGone:
            raise NotFound(f"no workload {workload.workload_id} in cloud region "
                           f"{workload.owner}/{workload.region}"
                           + (f" for project {project}" if project else "")) from None
        except WorkloadError as exc:
            raise _cloud_error(exc) from None

    # -- create ------------------------------------------------------------------------------

    def create(self, owner: str, region: str, project: str | None,
               body: Mapping[str, Any]) -> dict[str, Any]:
        """Starts a create and answers once the cloud accepted the workload (the 201 body)."""
        self._region(owner, region)
        project = self._project(project)
        type_name, kind = self._type(body.get("template_type"))
        data = _template_data(body.get("template_data"))
        try:
            declared = kind.parameters(data)
        except WorkloadError as exc:
            raise BadRequest(f"template_data: {exc}") from None
        parameters, report = apply_directives(body, declared, data.get("parameters") or {})
        name = data.get("stack_name") or body.get("vf-module-id")
        if not isinstance(name, str) or not name:
            raise BadRequest("template_data.stack_name or vf-module-id is required: it names "
                             "the workload")
        common = {"owner": owner, "region": region, "project": project, "type": type_name,
                  "name": name, "vnf": body.get("generic-vnf-id"),
                  "vfModule": body.get("vf-module-id")}
        tasks = [TaskSpec("create", CREATE, {**common, "template_data": {
                     **data, "parameters": parameters, "stack_name": name}}),
                 TaskSpec("follow", FOLLOW, {**common, "create": "create"},
                          depends_on=("create",))]
        operation, _ = self.engine.submit(KIND_CREATE, tasks, request={
            **{k: v for k, v in body.items() if k not in ("template_data",)},
            "cloudOwner": owner, "cloudRegionId": region, "project": project,
            "stack_name": name, "directives": report})
        created = self._accepted(operation.id)
        return {"template_type": type_name, "workload_id": created["workload_id"],
                "workload_status": "CREATE_IN_PROGRESS",
                "workload_status_reason": {"stack": created["stack"], "directives": report},
                "template_response": {"stack": created["stack"]}, "operationId": operation.id}

    def _accepted(self, operation_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.accept_seconds
        while True:
            operation = self.engine.get(operation_id)
            task = operation.task("create")
            if task.state == "SUCCEEDED" and task.result:
                return dict(task.result)
            if task.state == "FAILED" or operation.state in FAILED:
                self._give_up(operation)
                reason = task.error or operation.error or "the cloud refused the workload"
                if (task.result or {}).get("rejected"):
                    raise BadRequest(f"the cloud rejected the workload: {reason}")
                if (task.result or {}).get("refused"):
                    raise CloudForbidden(reason)
                raise CloudFailed(f"operation {operation_id}: {reason}")
            if time.monotonic() > deadline:
                raise CloudTimeout(f"the cloud did not accept the workload within "
                                   f"{self.accept_seconds:g} s; operation {operation_id} goes on")
            self.sleep(0.05)

    def _give_up(self, operation: OperationView) -> None:
        """Ends a create the cloud refused: nothing was made, so nothing is left to retry."""
        try:
            if operation.state != "FAILED_TEMP":
                operation = self.engine.wait(operation.id, ["FAILED_TEMP"], 10)
            self.engine.fail(operation.id)
        except (TimeoutError, ValueError, FrameworkError):
            pass  # left for the operator, who sees why in the operation

    # -- read --------------------------------------------------------------------------------

    def show(self, owner: str, region: str, project: str | None,
             workload_id: str) -> dict[str, Any]:
        """The workload's status (the GET body); 404 when gone or in another project."""
        project = self._project(project)
        workload = self._workload(owner, region, workload_id)
        operation = self.engine.get(workload.operation_id)
        if workload.operation_kind == KIND_DELETE:
            if operation.state == "COMPLETED":
                raise NotFound(f"workload {workload_id} is deleted")
            running = operation.state in RUNNING
            try:
                self._show(workload, project)  # the project check
            except NotFound:
                if not running:  # gone from the cloud, but A&AI is still being cleaned up
                    raise
            status = "DELETE_IN_PROGRESS" if running else "DELETE_FAILED"
            return self._body(workload, status, {"operationId": operation.id,
                                                 "error": operation.error or _failure(operation)})
        stack = self._show(workload, project)
        status = str(stack.get("status"))
        reason: dict[str, Any] = {"stack": stack, "operationId": operation.id}
        if workload.operation_kind == KIND_UPDATE:
            status = ("UPDATE_IN_PROGRESS" if operation.state in RUNNING else
                      "UPDATE_COMPLETE" if operation.state == "COMPLETED" else "UPDATE_FAILED")
            reason["aai"] = operation.task("aai-update").result
            if status == "UPDATE_FAILED":
                reason["error"] = operation.error or _failure(operation)
        return self._body(workload, status, reason)

    @staticmethod
    def _body(workload: Workload, status: str, reason: dict[str, Any]) -> dict[str, Any]:
        return {"template_type": workload.template_type, "workload_id": workload.workload_id,
                "workload_status": status, "workload_status_reason": reason}

    def find(self, owner: str, region: str, project: str | None, name: str) -> dict[str, Any]:
        """The workloads named ``name`` (SO's poll by stack name); 404 when there is none."""
        project = self._project(project)
        cloud = self._region(owner, region)
        recorded = {w.template_type for w in self.context.table.named(owner, region, name)}
        stacks: list[dict[str, Any]] = []
        found_type = ""
        for type_name in sorted(recorded or self.context.types):
            kind = self.context.types.get(type_name)
            try:
                found = kind.find(cloud, project, name) if kind else []
            except WorkloadError as exc:
                raise _cloud_error(exc) from None
            stacks += found
            found_type = found_type or (type_name if found else "")
        if not stacks:
            raise NotFound(f"no workload named {name} in cloud region {owner}/{region}"
                           + (f" for project {project}" if project else ""))
        first = stacks[0]
        return {"template_type": found_type, "workload_id": str(first.get("id")),
                "workload_status": str(first.get("status")),
                "workload_status_reason": {"stacks": stacks}}

    # -- A&AI update, delete -----------------------------------------------------------------

    def _idle(self, workload: Workload) -> None:
        """Conflict while the workload's last operation runs (a create that only follows a
        finished stack aside: its stack is checked by the caller)."""
        state = self.engine.get(workload.operation_id).state
        if state in RUNNING and workload.operation_kind != KIND_CREATE:
            raise Conflict(f"workload {workload.workload_id} has an operation {state} "
                           f"({workload.operation_id}): wait for it or cancel it")

    def update(self, owner: str, region: str, project: str | None, workload_id: str,
               body: Mapping[str, Any]) -> dict[str, Any]:
        """Starts the A&AI update (heatbridge) of a workload: the 202 body."""
        project = self._project(project)
        workload = self._workload(owner, region, workload_id)
        if self.context.aai is None:
            raise BadRequest("A&AI is not configured: set NFVD_AAI_URL")
        vnf = body.get("generic-vnf-id") or workload.generic_vnf_id
        if not isinstance(vnf, str) or not vnf:
            raise BadRequest("generic-vnf-id is required: the VNF the vservers belong to")
        vf_module = body.get("vf-module-id") or workload.vf_module_id
        if vf_module is not None and not isinstance(vf_module, str):
            raise BadRequest("vf-module-id: expected a string")
        stack = self._show(workload, project)
        if workload.operation_kind == KIND_CREATE and \
                str(stack.get("status")).endswith("_IN_PROGRESS"):
            raise Conflict(f"workload {workload_id} is {stack.get('status')}: update A&AI once "
                           "it is complete")
        self._idle(workload)
        operation, _ = self.engine.submit(KIND_UPDATE, [TaskSpec("aai-update", AAI_UPDATE, {
            "owner": owner, "region": region, "project": project,
            "type": workload.template_type, "workload_id": workload_id, "vnf": vnf,
            "vfModule": vf_module})], request={"cloudOwner": owner, "cloudRegionId": region,
                                               "workload_id": workload_id, "project": project,
                                               "generic-vnf-id": vnf, "vf-module-id": vf_module})
        self.context.table.change(workload, operation_id=operation.id,
                                  operation_kind=KIND_UPDATE)
        return self._body(workload, "UPDATE_IN_PROGRESS", {"operationId": operation.id})

    def delete(self, owner: str, region: str, project: str | None,
               workload_id: str) -> dict[str, Any] | None:
        """Deletes a workload: None when it is gone within the wait (204), else the 202 body."""
        project = self._project(project)
        workload = self._workload(owner, region, workload_id)
        if workload.operation_kind == KIND_DELETE and \
                self.engine.get(workload.operation_id).state in RUNNING:
            operation_id = workload.operation_id  # asked again: wait for the same delete
        else:
            self._show(workload, project)
            self._idle(workload)
            if workload.operation_kind == KIND_CREATE:
                self._stop_following(workload)
            operation, _ = self.engine.submit(KIND_DELETE, [TaskSpec("delete", DELETE, {
                "owner": owner, "region": region, "project": project,
                "type": workload.template_type, "workload_id": workload_id})], request={
                    "cloudOwner": owner, "cloudRegionId": region, "workload_id": workload_id,
                    "project": project})
            operation_id = operation.id
            self.context.table.change(workload, operation_id=operation_id,
                                      operation_kind=KIND_DELETE)
        try:
            done = self.engine.wait(operation_id, ["COMPLETED", *FAILED],
                                    self.delete_wait_seconds)
        except TimeoutError:
            return self._body(workload, "DELETE_IN_PROGRESS", {"operationId": operation_id})
        if done.state != "COMPLETED":
            raise CloudFailed(f"operation {operation_id}: "
                              f"{done.error or _failure(done) or done.state}")
        return None

    def _stop_following(self, workload: Workload) -> None:
        """Cancels a create still following the workload: the delete replaces it."""
        try:
            if self.engine.get(workload.operation_id).state in RUNNING:
                self.engine.cancel(workload.operation_id)
        except (ValueError, FrameworkError):
            pass  # it ended meanwhile


def _failure(operation: OperationView) -> str | None:
    return next((task.error for task in operation.tasks if task.error), None)
