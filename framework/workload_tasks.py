"""The lifecycle engine's side of infra_workload: the workload table and the task types.

A create is one operation of two tasks: ``create`` asks the cloud to create the workload
(idempotent by name, so a retry after a crash finds the one already made) and records it;
``follow`` reads its status until the cloud finished. An A&AI update is one task,
``aai-update``; a delete is one task, ``delete``, that waits until the workload is gone and
removes the vservers nfvd wrote for it from A&AI.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import and_, insert, select, update

from framework import heatbridge
from framework.aai import AaiClient, AaiError, AaiSettings
from framework.engine import ActionFailed, TaskContext, TaskType
from framework.store import Store
from framework.store.tables import mc_workloads
from framework.workloads import (
    CloudRegion,
    WorkloadError,
    WorkloadGone,
    WorkloadRejected,
    WorkloadType,
)

CREATE, FOLLOW = "workload:create", "workload:follow"
AAI_UPDATE, DELETE = "workload:aai-update", "workload:delete"
KIND_CREATE = "multicloud.workload.create"
KIND_UPDATE = "multicloud.workload.update"
KIND_DELETE = "multicloud.workload.delete"
#: statuses with which a cloud refuses nfvd's user (in that project): retrying will not help
REFUSED = (401, 403)


@dataclasses.dataclass(frozen=True)
class Workload:
    """One row of ``mc_workloads``."""

    owner: str
    region: str
    workload_id: str
    name: str
    template_type: str
    project: str | None
    create_operation: str
    operation_id: str
    operation_kind: str
    generic_vnf_id: str | None = None
    vf_module_id: str | None = None
    aai: dict[str, Any] = dataclasses.field(default_factory=dict)
    deleted: bool = False


class WorkloadTable:
    """The workloads nfvd made, by (cloud owner, cloud region id, workload id)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _key(owner: str, region: str, workload_id: str) -> Any:
        return and_(mc_workloads.c.cloud_owner == owner, mc_workloads.c.cloud_region_id == region,
                    mc_workloads.c.workload_id == workload_id)

    @staticmethod
    def _row(row: Any) -> Workload:
        return Workload(row.cloud_owner, row.cloud_region_id, row.workload_id, row.name,
                        row.template_type, row.project or None, row.create_operation,
                        row.operation_id, row.operation_kind, row.generic_vnf_id,
                        row.vf_module_id, json.loads(row.aai), bool(row.deleted))

    def get(self, owner: str, region: str, workload_id: str) -> Workload | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(mc_workloads).where(
                self._key(owner, region, workload_id))).first()
        return None if row is None else self._row(row)

    def named(self, owner: str, region: str, name: str) -> list[Workload]:
        """The workloads of the region with this name that are not deleted."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(mc_workloads).where(
                mc_workloads.c.cloud_owner == owner, mc_workloads.c.cloud_region_id == region,
                mc_workloads.c.name == name, mc_workloads.c.deleted.is_(False))).all()
        return [self._row(row) for row in rows]

    def add(self, workload: Workload) -> None:
        """Records a workload; one recorded already (a retried create) is updated instead."""
        values = {"name": workload.name, "template_type": workload.template_type,
                  "project": workload.project or "",
                  "create_operation": workload.create_operation,
                  "operation_id": workload.operation_id,
                  "operation_kind": workload.operation_kind,
                  "generic_vnf_id": workload.generic_vnf_id,
                  "vf_module_id": workload.vf_module_id, "aai": json.dumps(workload.aai),
                  "deleted": False, "updated_at": time.time()}
        key = self._key(workload.owner, workload.region, workload.workload_id)
        with self.store.engine.begin() as conn:
            if not conn.execute(update(mc_workloads).where(key).values(**values)).rowcount:
                conn.execute(insert(mc_workloads).values(
                    cloud_owner=workload.owner, cloud_region_id=workload.region,
                    workload_id=workload.workload_id, **values))

    def change(self, workload: Workload, **values: Any) -> None:
        """Updates fields of a recorded workload (``aai`` is given as a dict)."""
        if "aai" in values:
            values["aai"] = json.dumps(values["aai"])
        with self.store.engine.begin() as conn:
            conn.execute(update(mc_workloads).where(self._key(
                workload.owner, workload.region, workload.workload_id)).values(
                    **values, updated_at=time.time()))


@dataclasses.dataclass(frozen=True)
class WorkloadContext:
    """What every workload task needs: the types, the regions, the table, A&AI, the timing."""

    types: Mapping[str, WorkloadType]
    regions: Mapping[tuple[str, str], CloudRegion]
    table: WorkloadTable
    #: None when A&AI is not configured
    aai: AaiSettings | None
    poll_seconds: float = 1.0
    timeout_seconds: float = 3600.0

    def aai_client(self) -> AaiClient | None:
        """A new client of A&AI (the caller closes it), or None when it is not configured."""
        return None if self.aai is None else AaiClient(self.aai)

    def target(self, params: Mapping[str, Any]) -> tuple[WorkloadType, CloudRegion]:
        """The workload type and cloud region a task's params name."""
        region = self.regions.get((params["owner"], params["region"]))
        if region is None:
            raise RuntimeError(f"cloud region {params['owner']}/{params['region']} is no "
                               "longer configured (NFVD_CLOUD_REGIONS_FILE)")
        kind = self.types.get(params["type"])
        if kind is None:
            raise RuntimeError(f"workload type {params['type']!r} is no longer installed")
        return kind, region

    def wait(self, ctx: TaskContext, read: Callable[[], dict[str, Any] | None]
             ) -> dict[str, Any] | None:
        """``read()`` until it gives a status not ``*_IN_PROGRESS`` (or None: gone)."""
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            found = read()
            if found is None or not str(found.get("status", "")).endswith("_IN_PROGRESS"):
                return found
            if ctx.cancelled:
                raise RuntimeError(f"stopped while the workload was {found.get('status')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workload is still {found.get('status')} after "
                                   f"{self.timeout_seconds:g} s")
            time.sleep(self.poll_seconds)


def _cloud(call: Callable[[], Any]) -> Any:
    """``call()``; a rejected template or refused credentials fail the task for good, other
    cloud errors may be retried."""
    try:
        return call()
    except WorkloadRejected as exc:
        raise ActionFailed(str(exc), {"rejected": True, "status": exc.status}) from None
    except WorkloadError as exc:
        if exc.status in REFUSED:
            raise ActionFailed(str(exc), {"refused": True, "status": exc.status}) from None
        raise RuntimeError(str(exc)) from None


def _show(kind: WorkloadType, region: CloudRegion, project: str | None,
          workload_id: str) -> dict[str, Any] | None:
    """The workload now, or None when it is gone."""
    try:
        return dict(kind.show(region, project, workload_id))
    except WorkloadGone:
        return None
    except WorkloadError as exc:
        raise RuntimeError(str(exc)) from None


class CreateWorkload(TaskType):
    """Asks the cloud to create the workload and records it; rollback deletes it."""

    def __init__(self, context: WorkloadContext) -> None:
        self.context = context

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        params = ctx.params
        kind, region = self.context.target(params)
        ctx.record_side_effect({"name": params["name"]})
        made = _cloud(lambda: kind.create(region, params["project"], params["template_data"]))
        self.context.table.add(Workload(
            params["owner"], params["region"], str(made["id"]), params["name"], params["type"],
            params["project"], ctx.operation_id, ctx.operation_id, KIND_CREATE,
            params.get("vnf"), params.get("vfModule")))
        return {"workload_id": str(made["id"]), "status": made.get("status"),
                "stack": {"id": made["id"], "name": made.get("name"),
                          "links": made.get("links") or []}}

    def rollback(self, ctx: TaskContext) -> None:
        params = ctx.params
        kind, region = self.context.target(params)
        try:
            found_all = kind.find(region, params["project"], params["name"])
            for found in found_all:
                kind.delete(region, params["project"], str(found["id"]))
        except WorkloadError as exc:
            raise RuntimeError(str(exc)) from None
        for found in found_all:
            workload = self.context.table.get(params["owner"], params["region"], str(found["id"]))
            if workload is not None:
                self.context.table.change(workload, deleted=True)


class FollowWorkload(TaskType):
    """Reads the workload until the cloud finished creating it; fails with the cloud's reason."""

    side_effects = False

    def __init__(self, context: WorkloadContext) -> None:
        self.context = context

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        params = ctx.params
        kind, region = self.context.target(params)
        workload_id = ctx.results[params["create"]]["workload_id"]
        found = self.context.wait(ctx, lambda: _show(kind, region, params["project"],
                                                     workload_id))
        if found is None:
            raise ActionFailed("the workload was deleted before it was complete",
                               {"status": "DELETED"})
        status, reason = str(found.get("status")), found.get("status_reason")
        if not status.endswith("_COMPLETE"):
            raise ActionFailed(f"{status}: {reason}", {"status": status, "reason": reason})
        return {"status": status, "outputs": found.get("outputs") or []}


class UpdateAai(TaskType):
    """Writes the workload's servers and ports to A&AI; rollback removes what it wrote."""

    def __init__(self, context: WorkloadContext) -> None:
        self.context = context

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        params = ctx.params
        kind, region = self.context.target(params)
        workload = self._workload(params)
        inventory = _cloud(lambda: kind.inventory(region, params["project"],
                                                  params["workload_id"]))
        ids = [str(server["id"]) for server in inventory.servers]
        ctx.record_side_effect({"tenant": inventory.tenant_id, "vservers": ids})
        client = self._client()
        try:
            heatbridge.write(client, params["owner"], params["region"], inventory,
                             params["vnf"], params.get("vfModule"))
        except AaiError as exc:
            raise RuntimeError(f"A&AI: {exc}") from None
        finally:
            client.close()
        self.context.table.change(workload, aai={"tenant": inventory.tenant_id, "vservers": ids},
                                  generic_vnf_id=params["vnf"], vf_module_id=params.get("vfModule"))
        return {"tenant": inventory.tenant_id, "vservers": ids,
                "interfaces": sum(len(s.get("interfaces") or []) for s in inventory.servers)}

    def _workload(self, params: Mapping[str, Any]) -> Workload:
        workload = self.context.table.get(params["owner"], params["region"], params["workload_id"])
        if workload is None:
            raise RuntimeError(f"workload {params['workload_id']} is not recorded")
        return workload

    def _client(self) -> AaiClient:
        client = self.context.aai_client()
        if client is None:
            raise RuntimeError("A&AI is not configured: set NFVD_AAI_URL")
        return client

    def rollback(self, ctx: TaskContext) -> None:
        client = self._client()
        try:
            bridge = heatbridge.Heatbridge(client)
            for effect in ctx.side_effects:
                for vserver in effect.get("vservers", []):
                    bridge.delete_vserver(ctx.params["owner"], ctx.params["region"],
                                          effect["tenant"], vserver)
        finally:
            client.close()
        self.context.table.change(self._workload(ctx.params), aai={})


class DeleteWorkload(TaskType):
    """Deletes the workload, waits until it is gone, and removes its vservers from A&AI."""

    def __init__(self, context: WorkloadContext) -> None:
        self.context = context

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        params = ctx.params
        kind, region = self.context.target(params)
        workload_id = params["workload_id"]
        ctx.record_side_effect({"deleting": workload_id})
        _cloud(lambda: kind.delete(region, params["project"], workload_id))
        found = self.context.wait(ctx, lambda: _show(kind, region, params["project"],
                                                     workload_id))
        if found is not None:
            raise ActionFailed(f"{found.get('status')}: {found.get('status_reason')}",
                               {"status": found.get("status")})
        workload = self.context.table.get(params["owner"], params["region"], workload_id)
        removed: list[str] = []
        if workload is not None and workload.aai.get("vservers"):
            removed = self._remove_vservers(params, workload)
        if workload is not None:
            self.context.table.change(workload, deleted=True, aai={})
        return {"status": "DELETE_COMPLETE", "aaiVserversRemoved": removed}

    def _remove_vservers(self, params: Mapping[str, Any], workload: Workload) -> list[str]:
        client = self.context.aai_client()
        if client is None:
            return []
        bridge = heatbridge.Heatbridge(client)
        try:
            return [vserver for vserver in workload.aai["vservers"] if bridge.delete_vserver(
                params["owner"], params["region"], workload.aai["tenant"], vserver)]
        except AaiError as exc:
            raise RuntimeError(f"the workload is deleted; A&AI: {exc}") from None
        finally:
            client.close()

    def rollback(self, ctx: TaskContext) -> None:
        raise NotImplementedError("a deleted workload cannot be restored")
