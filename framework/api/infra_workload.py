"""The MultiCloud infra_workload API: create, read, update (A&AI) and delete workloads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connexion import request
from connexion.lifecycle import ConnexionResponse

from framework.app import runtime_of
from framework.errors import ServiceUnavailable
from framework.web.problems import json_response

if TYPE_CHECKING:
    from framework.infra_workload import InfraWorkloads


def _workloads() -> InfraWorkloads:
    workloads = runtime_of(request.scope).workloads
    if workloads is None:
        raise ServiceUnavailable("the lifecycle engine is not running")
    return workloads


def _project() -> str | None:
    value: str | None = request.headers.get("Project")
    return value


def create(cloudOwner: str, cloudRegionId: str, body: dict[str, Any]) -> ConnexionResponse:
    """Creates a workload; 201 once the cloud accepted it."""
    answer = _workloads().create(cloudOwner, cloudRegionId, _project(), body)
    return json_response(answer, status=201, headers={
        "Location": f"/api/multicloud/v1/{cloudOwner}/{cloudRegionId}/infra_workload/"
                    f"{answer['workload_id']}"})


def find(cloudOwner: str, cloudRegionId: str, name: str) -> ConnexionResponse:
    """The workloads with this name."""
    return json_response(_workloads().find(cloudOwner, cloudRegionId, _project(), name))


def show(cloudOwner: str, cloudRegionId: str, workloadId: str) -> ConnexionResponse:
    """One workload's status."""
    return json_response(_workloads().show(cloudOwner, cloudRegionId, _project(), workloadId))


def update(cloudOwner: str, cloudRegionId: str, workloadId: str,
           body: dict[str, Any] | None = None) -> ConnexionResponse:
    """Starts the A&AI update of a workload; 202."""
    answer = _workloads().update(cloudOwner, cloudRegionId, _project(), workloadId, body or {})
    return json_response(answer, status=202)


def delete(cloudOwner: str, cloudRegionId: str, workloadId: str) -> ConnexionResponse:
    """Deletes a workload: 204 when gone within the wait, else 202."""
    answer = _workloads().delete(cloudOwner, cloudRegionId, _project(), workloadId)
    if answer is None:
        return ConnexionResponse(status_code=204)
    return json_response(answer, status=202)
