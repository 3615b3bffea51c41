"""Workload types: what the MultiCloud ``infra_workload`` API drives in a cloud region.

A workload type is a plugin of the entry-point group ``nfvd.workload_types``; the entry-point
name is the ``template_type`` it serves, in lower case (``heat`` for OpenStack Heat, which the
``nfvd-driver-openstack`` distribution provides). The framework owns the API, the cloud
regions, the directives, the lifecycle engine operations and A&AI; a workload type only talks
to its cloud and returns data.

Every method receives the :class:`CloudRegion` (from the settings) and ``project``: the value
of the request's ``Project`` header (a project id or name), or None for the region's default
project. A workload type scopes every call to that project, so a workload created under one
project is not found under another. Methods may be called from several threads at once, and
again for the same workload after a crash: ``create`` must not make a second workload when a
workload of the same name exists already (it returns that one).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["CloudRegion", "WorkloadError", "WorkloadGone", "WorkloadInventory",
           "WorkloadRejected", "WorkloadType"]


@dataclasses.dataclass(frozen=True)
class CloudRegion:
    """One cloud region of the settings: where its Keystone is, and who nfvd is there.

    Either ``password`` (with ``username``) or the application credential pair is set.
    ``catalog_region`` is the region name in the Keystone catalog (None: the catalog's only
    region, else ``region``). Secrets are left out of ``repr``.
    """

    owner: str
    region: str
    auth_url: str
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    application_credential_id: str | None = None
    application_credential_secret: str | None = dataclasses.field(default=None, repr=False)
    user_domain: str = "Default"
    project_domain: str = "Default"
    default_project: str | None = None
    catalog_region: str | None = None
    interface: str = "public"
    ca_file: str | None = None
    timeout: float = 30.0

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in a log line, an event or an error."""
        return tuple(value for value in (self.password, self.application_credential_secret)
                     if value)


@dataclasses.dataclass(frozen=True)
class WorkloadInventory:
    """What a workload runs, for A&AI: its project and its servers with their ports.

    ``tenant_id`` and ``tenant_name`` are the Keystone project the workload lives in. Each
    server is ``{"id", "name", "selflink"?, "status"?, "interfaces": [port...]}`` and each
    port ``{"id", "name", "mac_address", "network_id", "ips": [{"address", "prefix_length"?,
    "version": 4|6}]}``; values a cloud does not give are None.
    """

    tenant_id: str
    tenant_name: str | None
    servers: list[dict[str, Any]]


class WorkloadError(Exception):
    """The cloud failed or could not be reached; the message is one line and holds no secret.

    ``status`` is the cloud's HTTP status behind the failure, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WorkloadRejected(WorkloadError):
    """The cloud refused the workload's template or parameters (a client error: HTTP 400)."""


class WorkloadGone(WorkloadError):
    """The workload does not exist (any more) in the project the call was scoped to."""


class WorkloadType(abc.ABC):
    """Creates, reads and deletes workloads of one template type in a cloud region.

    A workload is identified by the ``id`` that :meth:`create` returns. The dictionaries
    returned for a workload (:meth:`create`, :meth:`show`, :meth:`find`) have at least
    ``id``, ``name``, ``status`` (such as ``CREATE_IN_PROGRESS`` or ``CREATE_COMPLETE``),
    ``status_reason`` and ``links``, and whatever else the cloud says of it (Heat: the
    stack's fields, ``outputs`` included once the stack is complete).
    """

    @abc.abstractmethod
    def parameters(self, template_data: Mapping[str, Any]) -> set[str]:
        """The names of the parameters the template declares (directives fill only these).

        Raises :class:`WorkloadRejected` when the template cannot be read. No cloud call.
        """

    @abc.abstractmethod
    def create(self, region: CloudRegion, project: str | None,
               template_data: Mapping[str, Any]) -> dict[str, Any]:
        """Ask the cloud to create the workload; return it as soon as the cloud accepted it.

        ``template_data`` holds the final parameters (directives applied) and a name.
        Raises :class:`WorkloadRejected` when the cloud refuses the template.
        """

    @abc.abstractmethod
    def show(self, region: CloudRegion, project: str | None, workload_id: str) -> dict[str, Any]:
        """The workload now. Raises :class:`WorkloadGone` when it does not exist (or is
        deleted: a deleted workload still listed as ``DELETE_COMPLETE`` is gone)."""

    @abc.abstractmethod
    def find(self, region: CloudRegion, project: str | None, name: str) -> list[dict[str, Any]]:
        """The workloads named ``name`` (an empty list when there is none)."""

    @abc.abstractmethod
    def delete(self, region: CloudRegion, project: str | None, workload_id: str) -> None:
        """Ask the cloud to delete the workload; return at once. Deleting a workload that is
        gone already is not an error."""

    @abc.abstractmethod
    def inventory(self, region: CloudRegion, project: str | None,
                  workload_id: str) -> WorkloadInventory:
        """The servers and ports the workload made, for A&AI."""
