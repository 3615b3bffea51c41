"""HeatWorkload: Heat stacks as the MultiCloud ``infra_workload`` API's workloads."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from framework.workloads import (
    CloudRegion,
    WorkloadError,
    WorkloadGone,
    WorkloadInventory,
    WorkloadRejected,
    WorkloadType,
)

from nfvd_driver_openstack.heat import DELETED, HeatClient
from nfvd_driver_openstack.inventory import stack_inventory
from nfvd_driver_openstack.keystone import KeystoneClient
from nfvd_driver_openstack.template import declared_parameters

__all__ = ["HeatWorkload", "describe"]

logger = logging.getLogger(__name__)


def describe(stack: Mapping[str, Any]) -> dict[str, Any]:
    """A stack as a workload: Heat's fields plus ``id``, ``name``, ``status``,
    ``status_reason`` and ``links`` (and Heat's ``outputs`` list when it has them)."""
    described = dict(stack)
    described.update(id=str(stack.get("id", "")), name=stack.get("stack_name"),
                     status=stack.get("stack_status"),
                     status_reason=stack.get("stack_status_reason") or "",
                     links=stack.get("links") or [])
    return described


class HeatWorkload(WorkloadType):
    """Workloads of template type ``heat``: stacks in the project the call is scoped to.

    ``template_data`` is a Heat stack-create body (``template``, ``parameters``, ``files``,
    ``environment``, ``stack_name``, ``disable_rollback``, ``timeout_mins``...), sent to Heat
    as it is. Tokens are cached by the :class:`KeystoneClient`, shared by every call.
    """

    def __init__(self, keystone: KeystoneClient | None = None) -> None:
        self.keystone = keystone or KeystoneClient()

    def heat(self, region: CloudRegion, project: str | None) -> HeatClient:
        """A Heat client scoped to ``project`` (None: the region's default project)."""
        return HeatClient(self.keystone.session(region, project))

    def parameters(self, template_data: Mapping[str, Any]) -> set[str]:
        """The parameters ``template_data["template"]`` declares (a mapping, YAML or JSON)."""
        return declared_parameters(template_data.get("template"))

    def create(self, region: CloudRegion, project: str | None,
               template_data: Mapping[str, Any]) -> dict[str, Any]:
        """Creates the stack ``template_data["stack_name"]``, or returns the stack of that
        name the project has already (Heat's 409; unless it is being deleted)."""
        name = template_data.get("stack_name")
        if not isinstance(name, str) or not name:
            raise WorkloadRejected("template_data.stack_name: a stack name is required",
                                   status=400)
        try:
            json.dumps(template_data)
        except (TypeError, ValueError) as exc:
            raise WorkloadRejected(f"template_data cannot be sent as JSON: {exc}",
                                   status=400) from None
        heat = self.heat(region, project)
        created = heat.create(template_data)  # a name taken answers the existing stack
        status = str(created.get("stack_status", "CREATE_IN_PROGRESS"))
        if status.startswith("DELETE_"):
            raise WorkloadError(f"stack {name} cannot be created: the project's stack of that "
                                f"name is {status}", status=409)
        logger.info("stack %s created as %s in project %s", name, created["id"],
                    heat.session.project_id)
        # Heat's answer holds the id and links: the stack is read again only when polled
        return describe({"stack_name": name, "stack_status": status, **created})

    def show(self, region: CloudRegion, project: str | None, workload_id: str) -> dict[str, Any]:
        """The stack now, with its outputs once it has them; gone when deleted."""
        stack = self.heat(region, project).get(workload_id)
        if stack.get("stack_status") == DELETED:
            raise WorkloadGone(f"stack {workload_id} is deleted", status=404)
        return describe(stack)

    def find(self, region: CloudRegion, project: str | None, name: str) -> list[dict[str, Any]]:
        """The project's stacks named ``name`` that are not deleted, as Heat lists them."""
        return [describe(stack) for stack in self.heat(region, project).find(name)
                if stack.get("stack_status") != DELETED]

    def delete(self, region: CloudRegion, project: str | None, workload_id: str) -> None:
        """Asks Heat to delete the stack; one that is gone already is fine."""
        self.heat(region, project).delete(workload_id)

    def inventory(self, region: CloudRegion, project: str | None,
                  workload_id: str) -> WorkloadInventory:
        """The stack's servers (``OS::Nova::Server``) with their ports
        (``OS::Neutron::Port``), nested stacks included, and the project as tenant."""
        heat = self.heat(region, project)
        stack = heat.get(workload_id)
        if stack.get("stack_status") == DELETED:
            raise WorkloadGone(f"stack {workload_id} is deleted", status=404)
        return stack_inventory(heat, stack)

