"""Lifecycle operations: list, show, plan, create, and the operator's controls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connexion import request
from connexion.lifecycle import ConnexionResponse

from framework.app import runtime_of
from framework.errors import ServiceUnavailable
from framework.lifecycle import redact
from framework.web.problems import json_response

if TYPE_CHECKING:
    from framework.lifecycle import Lifecycles


def _lifecycles() -> Lifecycles:
    lifecycles = runtime_of(request.scope).lifecycles
    if lifecycles is None:
        raise ServiceUnavailable("the lifecycle engine is not running")
    return lifecycles


def list_operations(state: str | None = None, limit: int = 100,
                    offset: int = 0) -> ConnexionResponse:
    """Operations, newest first, without their tasks."""
    operations = _lifecycles().engine.list(state=state, limit=limit, offset=offset)
    return json_response({"operations": [op.as_dict(tasks=False) for op in operations]})


def create_operation(body: dict[str, Any]) -> ConnexionResponse:
    """Plans the request with its resource driver and persists it as an operation."""
    operation, created = _lifecycles().submit(body)
    return json_response(redact(operation.as_dict()), status=201 if created else 200)


def dry_run(body: dict[str, Any]) -> ConnexionResponse:
    """What the request would run, with no side effect."""
    return json_response(_lifecycles().dry_run(body))


def get_operation(operationId: str) -> ConnexionResponse:
    """One operation with its tasks (secret property values hidden)."""
    return json_response(redact(_lifecycles().engine.get(operationId).as_dict()))


def get_plan(operationId: str) -> ConnexionResponse:
    """The persisted plan, preconditions evaluated now, and the rollback order."""
    return json_response(_lifecycles().engine.plan(operationId))


def control_operation(operationId: str, control: str) -> ConnexionResponse:
    """pause, resume, cancel, retry, rollback or fail; 409 when the state does not allow it."""
    engine = _lifecycles().engine
    operation = getattr(engine, control)(operationId)
    return json_response(redact(operation.as_dict()))


def create_rolling_update(body: dict[str, Any]) -> ConnexionResponse:
    """Plans the rolling update of a VNF's VNFCs and persists it as an operation."""
    rolling = runtime_of(request.scope).rolling_updates
    if rolling is None:
        raise ServiceUnavailable("the lifecycle engine is not running")
    operation, created = rolling.submit(body)
    return json_response(redact(operation.as_dict()), status=201 if created else 200)
