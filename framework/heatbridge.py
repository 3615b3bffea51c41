"""Heatbridge: a workload's servers and ports written to A&AI as vservers and l-interfaces.

ONAP calls the A&AI update of a workload "heatbridge". nfvd writes, under the cloud region,
the workload's tenant (when A&AI lacks it), then each server as a ``vserver`` with its ports
nested as ``l-interfaces``, and relates every vserver to the ``generic-vnf`` and the
``vf-module`` the request names (ONAP's own heatbridge leaves that to later steps). Writes
merge into what A&AI holds, carrying every ``resource-version``: relationships nfvd did not
make are kept, and a conflict with another writer is resolved by reading again.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from framework.aai import CONFLICTS, RV, AaiClient
from framework.workloads import WorkloadInventory

__all__ = ["Heatbridge", "interface", "vserver", "write"]


def _related(schema: str, vnf_id: str, vf_module_id: str | None) -> list[dict[str, Any]]:
    vnf_link = f"/aai/{schema}/network/generic-vnfs/generic-vnf/{quote(vnf_id, safe='')}"
    vnf_data = {"relationship-key": "generic-vnf.vnf-id", "relationship-value": vnf_id}
    found = [{"related-to": "generic-vnf", "relationship-label": "tosca.relationships.HostedOn",
              "related-link": vnf_link, "relationship-data": [vnf_data]}]
    if vf_module_id:
        found.append({
            "related-to": "vf-module",
            "relationship-label": "org.onap.relationships.inventory.Uses",
            "related-link": f"{vnf_link}/vf-modules/vf-module/{quote(vf_module_id, safe='')}",
            "relationship-data": [vnf_data, {"relationship-key": "vf-module.vf-module-id",
                                             "relationship-value": vf_module_id}]})
    return found


def interface(port: Mapping[str, Any]) -> dict[str, Any]:
    """The A&AI ``l-interface`` of a port of :class:`WorkloadInventory`."""
    item: dict[str, Any] = {
        "interface-name": str(port.get("name") or port["id"]), "interface-id": str(port["id"]),
        "is-port-mirrored": False, "in-maint": False, "is-ip-unnumbered": False}
    if port.get("mac_address"):
        item["macaddr"] = str(port["mac_address"])
    if port.get("network_id"):
        item["network-name"] = str(port["network_id"])
    for version in (4, 6):
        addresses = [{f"l3-interface-ipv{version}-address": str(ip["address"]),
                      **({f"l3-interface-ipv{version}-prefix-length": int(ip["prefix_length"])}
                         if ip.get("prefix_length") is not None else {})}
                     for ip in port.get("ips") or [] if int(ip.get("version", 4)) == version]
        if addresses:
            item[f"l3-interface-ipv{version}-address-list"] = addresses
    return item


def vserver(server: Mapping[str, Any], schema: str, vnf_id: str,
            vf_module_id: str | None) -> dict[str, Any]:
    """The A&AI ``vserver`` of a server of :class:`WorkloadInventory`, related to the VNF."""
    item: dict[str, Any] = {
        "vserver-id": str(server["id"]), "vserver-name": str(server.get("name") or server["id"]),
        "prov-status": str(server.get("status") or "ACTIVE"), "in-maint": False,
        "is-closed-loop-disabled": False,
        "relationship-list": {"relationship": _related(schema, vnf_id, vf_module_id)}}
    if server.get("selflink"):
        item["vserver-selflink"] = str(server["selflink"])
    interfaces = [interface(port) for port in server.get("interfaces") or []]
    if interfaces:
        item["l-interfaces"] = {"l-interface": interfaces}
    return item


def _merge(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """``wanted`` over ``current``, with current's versions and its other relationships."""
    merged = {k: v for k, v in copy.deepcopy(dict(current or {})).items()
              if k not in ("l-interfaces", RV)}
    merged.update(copy.deepcopy(dict(wanted)))
    if current and current.get(RV):
        merged[RV] = current[RV]
    ours = merged.get("relationship-list", {}).get("relationship", [])
    links = {item.get("related-link") for item in ours}
    theirs = [item for item in ((current or {}).get("relationship-list") or {}).get(
        "relationship", []) if isinstance(item, dict) and item.get("related-link") not in links]
    if ours or theirs:
        merged["relationship-list"] = {"relationship": [*theirs, *ours]}
    old = {item.get("interface-name"): item for item in ((current or {}).get(
        "l-interfaces") or {}).get("l-interface", []) if isinstance(item, dict)}
    for item in merged.get("l-interfaces", {}).get("l-interface", []):
        before = old.get(item["interface-name"])
        if before and before.get(RV):
            item[RV] = before[RV]
    return merged


class Heatbridge:
    """Writes and removes a workload's vservers in A&AI with one :class:`AaiClient`."""

    def __init__(self, client: AaiClient) -> None:
        self.client = client

    def tenant_path(self, owner: str, region: str, tenant_id: str) -> str:
        return (f"{self.client.region_path(owner, region)}/tenants/tenant/"
                f"{quote(tenant_id, safe='')}")

    def vserver_path(self, owner: str, region: str, tenant_id: str, vserver_id: str) -> str:
        return (f"{self.tenant_path(owner, region, tenant_id)}/vservers/vserver/"
                f"{quote(vserver_id, safe='')}")

    def ensure_tenant(self, owner: str, region: str, inventory: WorkloadInventory) -> None:
        """Creates the workload's tenant under the region unless A&AI has it."""
        path = self.tenant_path(owner, region, inventory.tenant_id)
        if self.client.read(path, depth="0") is not None:
            return
        body = {"tenant-id": inventory.tenant_id,
                "tenant-name": inventory.tenant_name or inventory.tenant_id}
        answer = self.client.send("PUT", path, body=body)
        if answer.status not in (200, 201, 204, *CONFLICTS):  # a conflict: another writer did
            hint = f" (is cloud region {owner}/{region} in A&AI?)" if answer.status == 404 else ""
            raise self.client.error("PUT", path, answer, hint)

    def put_vserver(self, owner: str, region: str, tenant_id: str,
                    item: Mapping[str, Any]) -> None:
        """Creates or updates one vserver with its l-interfaces (read, merge, PUT)."""
        self.client.write(self.vserver_path(owner, region, tenant_id, item["vserver-id"]),
                          lambda current: _merge(current, item))

    def delete_vserver(self, owner: str, region: str, tenant_id: str, vserver_id: str) -> bool:
        """Deletes the vserver's l-interfaces, then the vserver; False if A&AI had none."""
        path = self.vserver_path(owner, region, tenant_id, vserver_id)
        return self.client.delete(path, lambda current: [
            (f"{path}/l-interfaces/l-interface/"
             f"{quote(str(item.get('interface-name')), safe='')}", item)
            for item in (current.get("l-interfaces") or {}).get("l-interface", [])
            if isinstance(item, dict)])


def write(client: AaiClient, owner: str, region: str, inventory: WorkloadInventory,
          vnf_id: str, vf_module_id: str | None) -> list[str]:
    """Writes the inventory's tenant and vservers; the ids of the vservers written.

    Raises :class:`framework.aai.AaiError`; a failure part-way leaves the vservers already
    written, which a later write updates in place.
    """
    bridge = Heatbridge(client)
    bridge.ensure_tenant(owner, region, inventory)
    written = []
    for server in inventory.servers:
        item = vserver(server, client.settings.schema_version, vnf_id, vf_module_id)
        bridge.put_vserver(owner, region, inventory.tenant_id, item)
        written.append(item["vserver-id"])
    return written

