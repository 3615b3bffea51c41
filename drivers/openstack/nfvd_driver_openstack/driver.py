"""OpenStackDriver: Brent's resource lifecycles as Heat stacks made from the package's template."""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from framework import (
    FindReferenceRequest,
    FindReferenceResult,
    LifecycleRequest,
    LifecycleResult,
    ResourceDriver,
    ResourceDriverError,
)
from framework.workloads import CloudRegion, WorkloadError, WorkloadGone

from nfvd_driver_openstack.heat import DELETED, HeatClient
from nfvd_driver_openstack.location import LocationError, cloud_region
from nfvd_driver_openstack.properties import (
    driver_template,
    property_value,
    stack_name,
    stack_parameters,
)
from nfvd_driver_openstack.template import declared_parameters
from nfvd_driver_openstack.workload import HeatWorkload

__all__ = ["OpenStackDriver", "STACK_TYPE"]

logger = logging.getLogger(__name__)

#: the ``type`` of the stack's entry in the associated topology
STACK_TYPE = "Openstack"
#: the topology entry name Ignition's OpenStack driver uses for the stack
IGNITION_ENTRY = "InfrastructureStack"
#: a reason Heat gives for a stack that failed for want of room
CAPACITY = re.compile(r"quota|no valid host|insufficient|exceed", re.IGNORECASE)


class OpenStackDriver(ResourceDriver):
    """Creates and deletes a Heat stack per resource, in a deployment location's project.

    ``Create`` makes a stack from the driver files' ``heat.yaml`` (``files/`` gives the
    stack's other files), named after the ``resourceName`` system property, with the
    properties the template declares as parameters; it waits for ``CREATE_COMPLETE`` and
    answers the stack's outputs and ``{<stack name>: {"id": <stack id>, "type":
    "Openstack"}}``. ``Delete`` deletes that stack and waits until it is gone. Other
    lifecycles have nothing to do on OpenStack and complete at once. A stack of the same
    name in the project is the resource's (``Create`` adopts it), so a repeated call
    makes no second one.

    Settings, read once when the driver is made: ``NFVD_PLUGIN_OPENSTACK_CREATE_TIMEOUT``
    and ``NFVD_PLUGIN_OPENSTACK_DELETE_TIMEOUT`` (seconds to wait for a stack, 1800 and
    600), ``NFVD_PLUGIN_OPENSTACK_POLL_INTERVAL`` (seconds between looks, 2) and
    ``NFVD_PLUGIN_OPENSTACK_TYPES`` (deployment-location types served, ``Openstack``).
    """

    infrastructure_types: tuple[str, ...] = (STACK_TYPE,)
    uses_driver_files = True

    def __init__(self, workload: HeatWorkload | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.workload = workload or HeatWorkload()
        self.create_timeout = _seconds("NFVD_PLUGIN_OPENSTACK_CREATE_TIMEOUT", 1800.0)
        self.delete_timeout = _seconds("NFVD_PLUGIN_OPENSTACK_DELETE_TIMEOUT", 600.0)
        self.poll_interval = _seconds("NFVD_PLUGIN_OPENSTACK_POLL_INTERVAL", 2.0)
        self.infrastructure_types = _types("NFVD_PLUGIN_OPENSTACK_TYPES",
                                           type(self).infrastructure_types)
        self._sleep = sleep

    def execute_lifecycle(self, request: LifecycleRequest) -> LifecycleResult:
        """``Create`` and ``Delete`` act on the stack; any other lifecycle completes as is.

        ``INTERNAL_ERROR`` for a deployment location or driver files that cannot be used,
        or a cancelled wait; ``RESOURCE_NOT_FOUND`` for a ``stack_id`` property naming no
        stack; ``INSUFFICIENT_CAPACITY`` for a stack that failed for want of quota or hosts;
        ``INFRASTRUCTURE_ERROR`` when Keystone or Heat refuse or fail, with their reason.
        """
        lifecycle = request.lifecycle_name.lower()
        if lifecycle not in ("create", "delete"):
            return LifecycleResult()
        with _errors():
            region = cloud_region(request.deployment_location)
            if lifecycle == "create":
                return self._create(region, request)
            return self._delete(self.workload.heat(region, None), request)

    def rollback_lifecycle(self, request: LifecycleRequest) -> None:
        """Undoing ``Create`` deletes the stack (found by topology or name); undoing another
        lifecycle has nothing to do."""
        if request.lifecycle_name.lower() != "create":
            return
        with _errors():
            heat = self.workload.heat(cloud_region(request.deployment_location), None)
            self._delete(heat, request)

    def find_reference(self, request: FindReferenceRequest) -> FindReferenceResult | None:
        """The stack named ``instanceName`` in the location's project, or None."""
        with _errors():
            heat = self.workload.heat(cloud_region(request.deployment_location), None)
            for listed in heat.find(request.instance_name):
                if listed.get("stack_status") == DELETED:
                    continue
                try:
                    stack = heat.get(str(listed["id"]))
                except WorkloadGone:
                    continue
                return FindReferenceResult(resource_id=str(stack["id"]),
                                           associated_topology=_topology(stack),
                                           outputs=_outputs(stack))
        return None

    def _create(self, region: CloudRegion, request: LifecycleRequest) -> LifecycleResult:
        adopt = property_value(request.resource_properties, "stack_id")
        if adopt not in (None, "", "0"):
            heat = self.workload.heat(region, None)
            try:
                stack = heat.get(str(adopt).strip())
            except WorkloadGone:
                raise ResourceDriverError(f"stack {adopt} (the stack_id property) does not "
                                          "exist", "RESOURCE_NOT_FOUND") from None
        else:
            kind = property_value(request.request_properties, "template-type")
            if kind not in (None, "") and str(kind).upper() != "HEAT":
                raise ResourceDriverError(f"template-type {kind!r} is not supported: the "
                                          "driver makes stacks from heat.yaml", "INTERNAL_ERROR")
            template, files = driver_template(request.driver_dir)
            name = stack_name(request)
            body: dict[str, Any] = {
                "stack_name": name, "template": template, "files": files,
                "parameters": stack_parameters(request, declared_parameters(template)),
                "disable_rollback": True,
                "timeout_mins": max(1, math.ceil(self.create_timeout / 60))}
            heat = self.workload.heat(region, None)
            stack = self.workload.create(region, None, body)
        stack = self._wait(heat, str(stack["id"]), request.cancelled, self.create_timeout)
        status = str(stack.get("stack_status"))
        if not _complete(status):
            reason = " ".join(str(stack.get("stack_status_reason") or "").split())
            code = "INSUFFICIENT_CAPACITY" if CAPACITY.search(reason) else "INFRASTRUCTURE_ERROR"
            raise ResourceDriverError(f"stack {stack.get('stack_name')} is {status}: {reason}",
                                      code)
        return LifecycleResult(outputs=_outputs(stack), associated_topology=_topology(stack),
                               details={"stackId": stack["id"],
                                        "stackName": stack.get("stack_name"),
                                        "stackStatus": status})

    def _delete(self, heat: HeatClient, request: LifecycleRequest) -> LifecycleResult:
        entry, stack_id = _topology_stack(request.associated_topology, stack_name(request))
        if stack_id is None or entry is None:
            found = [s for s in heat.find(stack_name(request))
                     if s.get("stack_status") != DELETED]
            if not found:
                return LifecycleResult()
            entry, stack_id = str(found[0].get("stack_name")), str(found[0]["id"])
        logger.info("deleting stack %s (%s)", entry, stack_id)
        heat.delete(stack_id)
        try:
            stack = self._wait(heat, stack_id, request.cancelled, self.delete_timeout)
        except WorkloadGone:
            return LifecycleResult(associated_topology={entry: None})
        status = str(stack.get("stack_status"))
        if status != DELETED:
            reason = " ".join(str(stack.get("stack_status_reason") or "").split())
            raise ResourceDriverError(f"stack {stack.get('stack_name')} is {status}: {reason}",
                                      "INFRASTRUCTURE_ERROR")
        return LifecycleResult(associated_topology={entry: None})

    def _wait(self, heat: HeatClient, stack_id: str, cancelled: Callable[[], bool],
              timeout: float) -> dict[str, Any]:
        """The stack once it is no longer ``*_IN_PROGRESS``; :class:`WorkloadGone` when it
        went away."""
        deadline = time.monotonic() + timeout
        while True:
            stack = heat.get(stack_id)
            status = str(stack.get("stack_status"))
            if not status.endswith("_IN_PROGRESS"):
                return stack
            if cancelled():
                raise ResourceDriverError(f"cancelled while stack {stack.get('stack_name')} "
                                          f"is {status}", "INTERNAL_ERROR")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ResourceDriverError(f"stack {stack.get('stack_name')} is still {status} "
                                          f"after {timeout:g}s", "INFRASTRUCTURE_ERROR")
            self._sleep(min(self.poll_interval, left))


def _complete(status: str) -> bool:
    """Whether a stack in ``status`` stands complete (created, or updated since)."""
    action, _, state = status.rpartition("_")
    return state == "COMPLETE" and action not in ("DELETE", "ROLLBACK", "SUSPEND")


def _outputs(stack: Mapping[str, Any]) -> dict[str, Any]:
    return {str(item["output_key"]): item.get("output_value")
            for item in stack.get("outputs") or []
            if isinstance(item, Mapping) and "output_key" in item}


def _topology(stack: Mapping[str, Any]) -> dict[str, Any]:
    return {str(stack.get("stack_name")): {"id": str(stack["id"]), "type": STACK_TYPE}}


def _topology_stack(topology: Mapping[str, Any], name: str) -> tuple[str | None, str | None]:
    """The entry of the stack in an associated topology and its id: the entry named after
    the stack, else Ignition's ``InfrastructureStack``, else the one of type Openstack."""
    stacks = {key: value for key, value in topology.items()
              if isinstance(value, Mapping) and value.get("id")
              and str(value.get("type", "")).lower() == STACK_TYPE.lower()}
    for key in (name, IGNITION_ENTRY, *stacks):
        if key in stacks:
            return key, str(stacks[key]["id"])
    return None, None


@contextmanager
def _errors() -> Iterator[None]:
    """Keystone's, Heat's and the location's errors as :class:`ResourceDriverError`."""
    try:
        yield
    except LocationError as exc:
        raise ResourceDriverError(str(exc), "INTERNAL_ERROR") from None
    except WorkloadError as exc:
        raise ResourceDriverError(str(exc), "INFRASTRUCTURE_ERROR") from None


def _seconds(variable: str, default: float) -> float:
    raw = os.environ.get(variable)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{variable} must be a positive number of seconds, not {raw!r}")
    return value


def _types(variable: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(variable)
    if raw is None:
        return default
    types = tuple(name.strip() for name in raw.split(",") if name.strip())
    if not types:
        raise ValueError(f"{variable} names no infrastructure type: {raw!r}")
    return types
