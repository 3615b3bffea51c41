"""The resource-driver contract: one abstract class that an infrastructure driver implements."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from framework.engine.model import TaskSpec
from framework.engine.task import TaskType

#: Failure codes a resource driver may report, as Brent expects them.
FAILURE_CODES = (
    "RESOURCE_ALREADY_EXISTS",
    "RESOURCE_NOT_FOUND",
    "INFRASTRUCTURE_ERROR",
    "INSUFFICIENT_CAPACITY",
    "INTERNAL_ERROR",
)


@dataclasses.dataclass(frozen=True)
class LifecycleRequest:
    """One lifecycle transition (Create, Install, Delete, ...) asked of a driver.

    ``driver_dir`` is the unpacked driver directory of the resource package (private to
    this call and removed after it), or ``None`` when there is none. Properties are maps
    of name to ``{"type": ..., "value": ...}``; a bare value the orchestrator sent is
    given as ``{"type": "string", "value": ...}``, and a ``key`` property also carries
    ``keyName``, ``privateKey`` and ``publicKey``. ``deployment_location`` is ``{"name",
    "type", "properties"}`` (``type`` may be missing or None; ``properties`` is always a
    dict). ``request_id`` is the id the orchestrator tracks (stable across retries and
    restarts), ``tenant_id`` the request's ``tenantId`` header if any. ``cancelled()``
    turns true when an operator cancels the execution or its time is up: a long call should
    check it and stop.
    """

    lifecycle_name: str
    system_properties: dict[str, Any]
    deployment_location: dict[str, Any]
    resource_properties: dict[str, Any] = dataclasses.field(default_factory=dict)
    request_properties: dict[str, Any] = dataclasses.field(default_factory=dict)
    associated_topology: dict[str, Any] = dataclasses.field(default_factory=dict)
    driver_dir: str | None = None
    request_id: str = ""
    tenant_id: str | None = None
    cancelled: Callable[[], bool] = dataclasses.field(
        default=lambda: False, compare=False, repr=False)

    def as_body(self) -> dict[str, Any]:
        """The request in the API's JSON shape (what a task's params hold)."""
        body = {"lifecycleName": self.lifecycle_name,
                "systemProperties": self.system_properties,
                "deploymentLocation": self.deployment_location,
                "resourceProperties": self.resource_properties,
                "requestProperties": self.request_properties,
                "associatedTopology": self.associated_topology}
        return body if self.tenant_id is None else {**body, "tenantId": self.tenant_id}


@dataclasses.dataclass(frozen=True)
class LifecycleResult:
    """What a completed transition produced: outputs and the resource's associated topology.

    ``details`` (JSON) is kept with the task for operators (a script's output, say) and is
    not sent to the orchestrator.
    """

    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    associated_topology: dict[str, Any] = dataclasses.field(default_factory=dict)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FindReferenceRequest:
    """Find an existing resource by name in a deployment location."""

    instance_name: str
    deployment_location: dict[str, Any]
    driver_dir: str | None = None


@dataclasses.dataclass(frozen=True)
class FindReferenceResult:
    """A resource found by :meth:`ResourceDriver.find_reference`."""

    resource_id: str
    associated_topology: dict[str, Any] = dataclasses.field(default_factory=dict)
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)


class ResourceDriverError(Exception):
    """A transition failed on the infrastructure.

    ``failure_code`` is one of :data:`FAILURE_CODES`; the message becomes the
    failure description the orchestrator sees, so it must hold no secret.
    """

    def __init__(self, message: str, failure_code: str = "INFRASTRUCTURE_ERROR") -> None:
        if failure_code not in FAILURE_CODES:
            raise ValueError(f"unknown failure code {failure_code!r}")
        super().__init__(message)
        self.failure_code = failure_code


class ResourceDriver(abc.ABC):
    """Drives one kind of infrastructure for an orchestrator's resource lifecycles.

    A driver is a class registered in the ``nfvd.resource_drivers`` entry-point
    group; the entry-point name is the driver's name. nfvd instantiates it once
    per process with no argument (a constructor that raises marks the plugin as
    failed, and the server carries on without it).

    The framework owns HTTP, persistence, retries and events; a driver only acts
    on the infrastructure and returns data. Every method may be called again for
    the same request after a crash, so it must be idempotent: use
    ``request.request_id`` as the idempotency key when the infrastructure allows.

    ``infrastructure_types`` lists the ``deploymentLocation.type`` values the
    driver serves (for example ``("Openstack",)``); requests that do not name a
    driver are dispatched on it.
    """

    #: a class attribute, or set per instance by a driver configured at start
    infrastructure_types: tuple[str, ...] = ()
    #: False for a driver that never reads ``request.driver_dir``: the package is then
    #: not unpacked for its calls (it is still checked when the request is accepted)
    uses_driver_files: bool = True

    @abc.abstractmethod
    def execute_lifecycle(self, request: LifecycleRequest) -> LifecycleResult:
        """Run one lifecycle transition to completion.

        Return the outputs and associated topology, or raise
        :class:`ResourceDriverError` with a failure code. Any other exception
        is reported as ``INTERNAL_ERROR`` with a generic description.
        """

    @abc.abstractmethod
    def find_reference(self, request: FindReferenceRequest) -> FindReferenceResult | None:
        """Look up an existing resource by instance name; ``None`` when there is none.

        Called synchronously while the orchestrator waits: keep it quick.
        Not finding anything is not an error.
        """

    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        """The tasks that carry out ``request``, run by nfvd's lifecycle engine.

        The default is one task of type ``lifecycle``, which calls
        :meth:`execute_lifecycle` with the request in its params. A driver that can
        split a transition into steps (each with its own pre/postcondition and
        rollback) returns several specs whose types it provides in :meth:`task_types`.
        Planning must have no side effect: it also serves dry runs.
        """
        return [TaskSpec(name=request.lifecycle_name, type="lifecycle",
                         params={"request": request.as_body()})]

    def task_types(self) -> Mapping[str, TaskType]:
        """The task types :meth:`plan` uses besides ``lifecycle``, by name (default: none)."""
        return {}

    def verify_lifecycle(self, request: LifecycleRequest) -> bool | None:
        """Did ``request``'s transition complete on the infrastructure?

        Asked after each call of :meth:`execute_lifecycle` (False fails the task although
        the call returned) and, when the process died during a call, before calling again:
        True adopts the transition as done, False calls again. The default, None, means the
        driver cannot tell: the call is made again unless it returned in this process, so
        it must be idempotent. No side effect.
        """
        return None

    def rollback_lifecycle(self, request: LifecycleRequest) -> None:
        """Undo what :meth:`execute_lifecycle` did for ``request``; idempotent.

        Called when an operator rolls back an operation. The default refuses, so the
        rollback of that task fails and says why, rather than pretending to succeed.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot undo {request.lifecycle_name!r}")
