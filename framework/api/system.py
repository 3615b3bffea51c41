"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from connexion import request
from connexion.lifecycle import ConnexionResponse

from framework.app import runtime_of
from framework.web.problems import json_response, problem_response

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def health() -> dict[str, Any]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


def _check(runtime: Any, part: str) -> str | None:
    target = runtime.store if part == "store" else runtime.producer
    if target is None:
        return "not started"
    try:
        target.ping()
    except Exception as exc:  # any failure of the dependency means "not ready"
        return str(exc) or type(exc).__name__
    return None


def ready() -> ConnexionResponse:
    """The store and Kafka answer; 503 naming each part that does not."""
    runtime = runtime_of(request.scope)
    failures = {part: error for part in ("store", "kafka")
                if (error := _check(runtime, part)) is not None}
    checks = {part: {"status": "failed", "error": failures[part]} if part in failures
              else {"status": "ok"} for part in ("store", "kafka")}
    if failures:
        detail = "; ".join(f"{part}: {error}" for part, error in failures.items())
        return problem_response(503, f"not ready: {detail}", checks=checks)
    return json_response({"status": "ready", "checks": checks})


def management_health() -> ConnexionResponse:
    """Ignition's health report, which its drivers' deployments probe: the app is up and the
    store answers (200), or a vital is UNHEALTHY (503). Kafka is left out: requests are still
    accepted and recorded while it is away, their messages sent when it is back."""
    store = _check(runtime_of(request.scope), "store")
    vitals = {"app": {"status": "OK"},
              "store": {"status": "OK" if store is None else "UNHEALTHY"}}
    return json_response({"vitals": vitals}, 200 if store is None else 503)


def metrics() -> ConnexionResponse:
    """Every metric in the Prometheus text format."""
    body = runtime_of(request.scope).metrics.render()
    return ConnexionResponse(status_code=200, body=body.encode(), content_type=PROMETHEUS_TEXT)
