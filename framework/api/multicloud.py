"""The MultiCloud registry: register a region's flavors into A&AI, show it, remove it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connexion import request
from connexion.lifecycle import ConnexionResponse

from framework.app import runtime_of
from framework.errors import ServiceUnavailable
from framework.web.problems import json_response

if TYPE_CHECKING:
    from framework.multicloud import RegionRegistry


def _registry() -> RegionRegistry:
    registry = runtime_of(request.scope).registry
    if registry is None:
        raise ServiceUnavailable("the lifecycle engine is not running")
    return registry


def register(cloudOwner: str, cloudRegionId: str,
             body: dict[str, Any] | None = None) -> ConnexionResponse:
    """Starts a registration of the region; its status is at the same URL."""
    operation = _registry().register(cloudOwner, cloudRegionId, body or {})
    return json_response({"operationId": operation.id}, status=202, headers={
        "Location": f"/api/multicloud/v1/{cloudOwner}/{cloudRegionId}/registry"})


def registry_status(cloudOwner: str, cloudRegionId: str) -> ConnexionResponse:
    """The region's last registration."""
    return json_response(_registry().status(cloudOwner, cloudRegionId))


def unregister(cloudOwner: str, cloudRegionId: str) -> ConnexionResponse:
    """Removes the region's flavors from A&AI; 204."""
    _registry().unregister(cloudOwner, cloudRegionId)
    return ConnexionResponse(status_code=204)
