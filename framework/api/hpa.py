"""HPA discovery: the capabilities of one flavor from every HPA plugin."""

from __future__ import annotations

from typing import Any

from connexion import request
from connexion.lifecycle import ConnexionResponse

from framework.app import runtime_of
from framework.errors import ServiceUnavailable
from framework.web.problems import json_response


def discover(body: dict[str, Any]) -> ConnexionResponse:
    """Each plugin's result validated on its own; a dropped one is reported with its reason."""
    discovery = runtime_of(request.scope).discovery
    if discovery is None:
        raise ServiceUnavailable("HPA discovery is not running")
    return json_response(discovery.discover(body))
