"""Every error answered as RFC 7807 ``application/problem+json``; a 500 never shows internals."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from framework.errors import PROBLEM_BASE, FrameworkError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Content",
           500: "Internal Server Error", 503: "Service Unavailable"}


def problem_body(status: int, detail: str, title: str | None = None,
                 type_: str = "about:blank", **extra: Any) -> bytes:
    body = {"type": type_, "title": title or _TITLES.get(status, "Error"), "status": status,
            "detail": detail, **extra}
    return json.dumps(body, separators=(",", ":")).encode()


def problem_response(status: int, detail: str, headers: dict[str, str] | None = None,
                     **fields: Any) -> ConnexionResponse:
    return ConnexionResponse(status_code=status, mimetype=PROBLEM_JSON, content_type=PROBLEM_JSON,
                             body=problem_body(status, detail, **fields), headers=headers or {})


def json_response(body: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> ConnexionResponse:
    """A JSON answer; handlers use it because their operations also declare problem+json."""
    return ConnexionResponse(status_code=status, content_type="application/json",
                             body=json.dumps(body, separators=(",", ":")).encode(),
                             headers=headers or {})


def framework_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Renders a :class:`FrameworkError` raised by a handler."""
    assert isinstance(exc, FrameworkError)  # noqa: S101 - registered for this class only
    if exc.status >= 500:
        log.error("%s: %s", exc.title, exc.detail)
    body = json.dumps(exc.to_problem(), separators=(",", ":")).encode()
    headers = {"WWW-Authenticate": 'Basic realm="nfvd"'} if exc.status == 401 else {}
    return ConnexionResponse(status_code=exc.status, mimetype=PROBLEM_JSON,
                             content_type=PROBLEM_JSON, body=body, headers=headers)


def connexion_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Renders connexion's own problems (validation 400, 401, 415) with a one-paragraph detail.

    jsonschema's messages go on to print the whole schema; the first paragraph
    names the field and the rule, which is what the caller needs.
    """
    assert isinstance(exc, ProblemException)  # noqa: S101 - registered for this class only
    detail = str(exc.detail or exc.title or "").split("\n\n", 1)[0].strip()
    headers = dict(exc.headers or {})
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="nfvd"')
    return problem_response(exc.status, detail, headers=headers, title=exc.title or None)


def http_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Renders routing errors (unknown path 404, wrong method 405) as problems."""
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this class only
    detail = exc.detail if exc.detail and exc.detail != _TITLES.get(exc.status_code) else None
    if exc.status_code == 404:
        detail = detail or f"no resource at {_request.url.path}"
    elif exc.status_code == 405:
        detail = detail or f"method {_request.method} is not allowed on {_request.url.path}"
    return problem_response(exc.status_code, detail or _TITLES.get(exc.status_code, "Error"),
                            headers=dict(exc.headers or {}))


def unexpected_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Logs the traceback under an incident id and answers a 500 that shows only that id."""
    incident = uuid.uuid4().hex[:12]
    log.error("unhandled error on %s %s (incident %s)", request.method, request.url.path,
              incident, exc_info=exc)
    return problem_response(500, f"the server failed to handle the request (incident {incident})",
                            type_=PROBLEM_BASE + "internal-error", incident=incident)
