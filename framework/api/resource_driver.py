"""The resource driver API: execute a lifecycle, find a reference (Brent's wire contract)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connexion import request
from connexion.lifecycle import ConnexionResponse

from framework.app import runtime_of
from framework.errors import ServiceUnavailable
from framework.web.middleware import DRIVER_KEY
from framework.web.problems import json_response

if TYPE_CHECKING:
    from framework.executions import Executions


def _executions() -> Executions:
    executions = runtime_of(request.scope).executions
    if executions is None:
        raise ServiceUnavailable("the lifecycle engine is not running")
    return executions


def _tenant() -> str | None:
    return request.headers.get("tenantId") or None


def execute_lifecycle(body: dict[str, Any]) -> ConnexionResponse:
    """202 once the execution is recorded; its completion follows on Kafka."""
    tenant = _tenant()
    accepted = _executions().execute(body, request.scope.get(DRIVER_KEY), tenant)
    return json_response(accepted, status=202, headers={"tenantId": tenant} if tenant else None)


def find_reference(body: dict[str, Any]) -> ConnexionResponse:
    """The Resource found, or ``{"result": null}``."""
    tenant = _tenant()
    found = _executions().find(body, request.scope.get(DRIVER_KEY))
    return json_response(found, headers={"tenantId": tenant} if tenant else None)
