"""A stack's servers and ports, for A&AI, from Heat's resources and their attributes.

Servers are the ``OS::Nova::Server`` resources of the stack and of its nested stacks, ports
the ``OS::Neutron::Port`` ones. What a resource is comes from its ``attributes`` as Heat
shows them: for a real server or port, Heat gives its ``show`` attribute there (the Nova
server or the Neutron port as those services show it). A port belongs to the server whose
id is its ``device_id``.

A type mapped to a provider template (``resource_registry: {OS::Nova::Server: x.yaml}``)
is listed under the type it stands for, with the nested stack's id as its physical id and
the template's outputs as its attributes. When such a template wraps a real resource of
the same type, the wrapped one is taken and the wrapper left out; when it wraps none (a
stand-in), the wrapper is the resource.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from framework.workloads import WorkloadGone, WorkloadInventory

from nfvd_driver_openstack.heat import HeatClient

__all__ = ["NESTED_DEPTH", "PORT", "SERVER", "stack_inventory"]

SERVER = "OS::Nova::Server"
PORT = "OS::Neutron::Port"
#: how deep nested stacks are looked into
NESTED_DEPTH = 5


def stack_inventory(heat: HeatClient, stack: Mapping[str, Any]) -> WorkloadInventory:
    """The inventory of ``stack`` (as :meth:`HeatClient.get` gives it)."""
    resources = heat.resources(stack, NESTED_DEPTH)
    by_stack: dict[str, list[dict[str, Any]]] = {}
    for item in resources:
        by_stack.setdefault(_link_stack_id(item, "stack"), []).append(item)
    servers: list[dict[str, Any]] = []
    ports: list[dict[str, Any]] = []
    for item in resources:
        kind = item.get("resource_type")
        if kind not in (SERVER, PORT) or not item.get("physical_resource_id"):
            continue
        if _wraps(item, str(kind), by_stack):
            continue
        attributes = _attributes(heat, item)
        if attributes is None:
            continue
        if kind == SERVER:
            servers.append(_server(item, attributes))
        else:
            ports.append(_port(item, attributes))
    for server in servers:
        server["interfaces"] = [{k: v for k, v in port.items() if k != "device_id"}
                                for port in ports if port["device_id"] == server["id"]]
    return WorkloadInventory(tenant_id=heat.session.project_id,
                             tenant_name=heat.session.project_name, servers=servers)


def _link_stack_id(item: Mapping[str, Any], rel: str) -> str:
    """The id of the stack a resource's ``rel`` link (``stack`` or ``nested``) points to."""
    for link in item.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == rel:
            return urlsplit(str(link.get("href", ""))).path.rstrip("/").rsplit("/", 1)[-1]
    return ""


def _wraps(item: Mapping[str, Any], kind: str,
           by_stack: Mapping[str, list[dict[str, Any]]]) -> bool:
    """Whether ``item`` is a provider template holding a resource of type ``kind``."""
    pending = [_link_stack_id(item, "nested")]
    seen: set[str] = set()
    while pending:
        stack_id = pending.pop()
        if not stack_id or stack_id in seen:
            continue
        seen.add(stack_id)
        for inner in by_stack.get(stack_id, []):
            if inner.get("resource_type") == kind and inner.get("physical_resource_id"):
                return True
            pending.append(_link_stack_id(inner, "nested"))
    return False


def _attributes(heat: HeatClient, item: Mapping[str, Any]) -> dict[str, Any] | None:
    """The resource's attributes, or None when it went away meanwhile."""
    path = ""
    for link in item.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == "stack":
            location = urlsplit(str(link.get("href", ""))).path
            path = location[location.rfind("/stacks/") + len("/stacks/"):].rstrip("/")
    try:
        shown = heat.resource(path, str(item.get("resource_name")))
    except WorkloadGone:
        return None
    attributes = shown.get("attributes")
    if not isinstance(attributes, dict):
        return {}
    show = attributes.get("show")
    if isinstance(show, Mapping):  # only the 'show' attribute was resolved
        return {**show, **{k: v for k, v in attributes.items() if k != "show"}}
    return attributes


def _server(item: Mapping[str, Any], attributes: Mapping[str, Any]) -> dict[str, Any]:
    selflink = None
    for link in attributes.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == "self":
            selflink = link.get("href")
    return {"id": str(item["physical_resource_id"]),
            "name": _text(attributes.get("name")) or str(item.get("resource_name")),
            "selflink": selflink, "status": _text(attributes.get("status")),
            "interfaces": []}


def _port(item: Mapping[str, Any], attributes: Mapping[str, Any]) -> dict[str, Any]:
    ips: list[dict[str, Any]] = []
    for fixed in attributes.get("fixed_ips") or []:
        address = fixed.get("ip_address") if isinstance(fixed, Mapping) else None
        try:
            version = ipaddress.ip_address(str(address)).version
        except ValueError:
            continue
        ips.append({"address": str(address), "prefix_length": None, "version": version})
    return {"id": str(item["physical_resource_id"]),
            "name": _text(attributes.get("name")) or str(item.get("resource_name")),
            "mac_address": _text(attributes.get("mac_address")),
            "network_id": _text(attributes.get("network_id")),
            "ips": ips, "device_id": _text(attributes.get("device_id"))}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
