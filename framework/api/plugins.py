"""The installed plugins, as ``nfvd drivers list`` shows them."""

from __future__ import annotations

from connexion import request
from connexion.lifecycle import ConnexionResponse

from framework.app import runtime_of
from framework.web.problems import json_response


def list_plugins(status: str | None = None, group: str | None = None) -> ConnexionResponse:
    """Every entry point nfvd found, loaded or failed, optionally filtered."""
    plugins = runtime_of(request.scope).plugins.as_list()
    plugins = [p for p in plugins if (status is None or p["status"] == status)
               and (group is None or p["group"] == group)]
    return json_response({"plugins": plugins})
