"""Every error answered as RFC 7807 ``application/problem+json``; a 500 never shows internals."""

from __future__ import annotations

import json
import logging
import re
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
    """A problem+json answer; a 401 also tells the client which scheme to use."""
    headers = dict(headers or {})
    for name, value in problem_headers(status).items():
        headers.setdefault(name, value)
    return ConnexionResponse(status_code=status, mimetype=PROBLEM_JSON, content_type=PROBLEM_JSON,
                             body=problem_body(status, detail, **fields), headers=headers)


def json_response(body: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> ConnexionResponse:
    """A JSON answer; handlers use it because their operations also declare problem+json."""
    return ConnexionResponse(status_code=status, content_type="application/json",
                             body=json.dumps(body, separators=(",", ":")).encode(),
                             headers=headers or {})


def error_problem(exc: FrameworkError) -> bytes:
    """The problem body of ``exc``, raised by a handler; a server error is logged too."""
    if exc.status >= 500:
        log.error("%s: %s", exc.title, exc.detail)
    return problem_body(exc.status, exc.detail, title=exc.title, type_=exc.type, **exc.extra)


def problem_headers(status: int) -> dict[str, str]:
    """The headers of a problem answer besides its type: a 401 tells which scheme to use."""
    return {"WWW-Authenticate": 'Basic realm="nfvd"'} if status == 401 else {}


def framework_error(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Renders a :class:`FrameworkError` raised by a handler."""
    assert isinstance(exc, FrameworkError)  # noqa: S101 - registered for this class only
    return ConnexionResponse(status_code=exc.status, mimetype=PROBLEM_JSON,
                             content_type=PROBLEM_JSON, body=error_problem(exc),
                             headers=problem_headers(exc.status))


# The rules of jsonschema's messages that follow the offending value: "<value> <rule>".
_RULE = re.compile(r" (is not of type |is not one of |is too long|is too short|does not match |"
                   r"is not valid under |is (?:less|greater) than |is not a multiple of |"
                   r"has non-unique elements|is not a '|should be non-empty|"
                   r"is expected to be empty)")
_PATH = re.compile(r" - '(?P<path>[^']*)'$")


def validation_detail(message: str) -> str:
    """``<field>: the value <rule>``: the field and the rule, never the value itself.

    jsonschema quotes the value it refused, and a value in the wrong place may be a
    password; the schema dump that follows the first paragraph is dropped too.
    """
    first = message.split("\n\n", 1)[0].strip()
    path_match = _PATH.search(first)
    path = path_match.group("path") if path_match else None
    text = first[:path_match.start()] if path_match else first
    rules = list(_RULE.finditer(text))
    if rules:
        text = "the value " + text[rules[-1].start() + 1:]
    return f"{path}: {text}" if path else text


def connexion_problem(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Renders connexion's own problems (validation 400, 401, 415) with a short detail."""
    assert isinstance(exc, ProblemException)  # noqa: S101 - registered for this class only
    detail = validation_detail(str(exc.detail or exc.title or ""))
    return problem_response(exc.status, detail, headers=dict(exc.headers or {}),
                            title=exc.title or None)


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


def unexpected_problem(method: str, path: str, exc: BaseException) -> bytes:
    """Logs the traceback under an incident id; the body of a 500 that shows only that id."""
    incident = uuid.uuid4().hex[:12]
    log.error("unhandled error on %s %s (incident %s)", method, path, incident, exc_info=exc)
    return problem_body(500, f"the server failed to handle the request (incident {incident})",
                        type_=PROBLEM_BASE + "internal-error", incident=incident)


def unexpected_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Renders an exception no other handler took as a 500 (:func:`unexpected_problem`)."""
    return ConnexionResponse(status_code=500, mimetype=PROBLEM_JSON, content_type=PROBLEM_JSON,
                             body=unexpected_problem(request.method, request.url.path, exc))
