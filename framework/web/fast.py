"""The fast path: the resource driver API's hot operations served beside connexion, not through it.

Connexion builds a validator, a request object and its context for every request; for the
two operations an orchestrator calls all the time (execute a lifecycle, find a reference)
that costs more than the work itself. :class:`FastDriverApi` answers them from a check of
the spec's request schema compiled once, and hands connexion every request it cannot prove
valid, so that every error a client sees is connexion's own.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framework.errors import FrameworkError
from framework.validation import too_deep
from framework.web.middleware import DRIVER_KEY
from framework.web.problems import (
    PROBLEM_JSON,
    error_problem,
    problem_headers,
    unexpected_problem,
)
from framework.web.schemas import Check, Unsupported, compile_check, resolve

if TYPE_CHECKING:
    from framework.api.resource_driver import Answer
    from framework.runtime import Runtime

log = logging.getLogger(__name__)
#: Content types the fast path reads; a request with another one goes to connexion.
_JSON = (b"application/json", b"application/json; charset=utf-8")
_TENANT = b"tenantid"


@dataclasses.dataclass(frozen=True)
class Route:
    """An operation served by the fast path: where, what answers it, what it accepts."""

    operation_id: str
    base_path: str
    status: int
    answer: Answer
    body: Check
    #: header parameters by lower-case name, with the check of their value
    headers: Mapping[bytes, Check]


def routes(apis: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, Route]:
    """The routes of the operations of ``apis`` (base path, spec as served) that a module
    offers to the fast path (its ``OPERATIONS``), by full path.

    An operation is left to connexion when it needs authentication (connexion's security
    handlers check it), has parameters other than headers, or a schema the compiled check
    cannot reproduce.
    """
    found: dict[str, Route] = {}
    for base, spec in apis:
        for path, item in spec.get("paths", {}).items():
            operation = item.get("post") if isinstance(item, Mapping) else None
            if not isinstance(operation, Mapping) or "operationId" not in operation:
                continue
            module, _, _name = str(operation["operationId"]).rpartition(".")
            offered = getattr(importlib.import_module(module), "OPERATIONS", {}) if module \
                else {}
            if operation["operationId"] not in offered:
                continue
            try:
                route = _route(base, spec, operation, offered[operation["operationId"]])
            except Unsupported as exc:
                log.info("%s %s is served by connexion alone: %s", "POST", base + path, exc)
                continue
            found[base + path] = route
    return found


def _route(base: str, spec: Mapping[str, Any], operation: Mapping[str, Any],
           offered: tuple[int, Answer]) -> Route:
    if operation.get("security", spec.get("security")):
        raise Unsupported("it requires authentication")
    headers: dict[bytes, Check] = {}
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = resolve(spec, parameter["$ref"])
        if parameter.get("in") != "header" or parameter.get("required") \
                or parameter.get("schema", {}).get("type") != "string":
            raise Unsupported(f"parameter {parameter.get('name')!r}")
        headers[str(parameter["name"]).lower().encode("latin-1")] = compile_check(
            spec, parameter["schema"])
    content = operation.get("requestBody", {}).get("content", {})
    if set(content) != {"application/json"}:
        raise Unsupported("a body other than JSON alone")
    status, answer = offered
    return Route(str(operation["operationId"]), base, status, answer,
                 compile_check(spec, content["application/json"]["schema"]), headers)


class FastDriverApi:
    """Serves the routes of :func:`routes` itself, every other request through ``app``.

    It sits inside the body limit, the driver prefix and the access log, so those apply
    as they do to connexion's requests. A request is served here only when connexion would
    serve it the same way: POST without query string, a JSON body (UTF-8) that the
    compiled schema check accepts, header parameters that theirs accept (each at most
    once). Anything else, whatever is wrong with it, goes on to connexion with its body
    replayed, and connexion gives its answer and its error.
    """

    def __init__(self, app: ASGIApp, runtime: Runtime,
                 apis: Iterable[tuple[str, Mapping[str, Any]]] = ()) -> None:
        self.app = app
        self.runtime = runtime
        self.routes = routes(apis)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST" or scope.get("query_string") \
                or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        headers = _headers(route, scope["headers"])
        read: list[Message] = []
        body = None if headers is None else await _body(receive, read)
        if headers is None or body is None or not route.body(body):
            await self.app(scope, _replay(read, receive), send)
            return
        scope.setdefault("extensions", {})["connexion_routing"] = {
            "api_base_path": route.base_path, "operation_id": route.operation_id}
        tenant = headers.get(_TENANT) or None
        response: list[tuple[bytes, bytes]] = []
        try:
            result = await route.answer(self.runtime, body, scope.get(DRIVER_KEY), tenant)
        except FrameworkError as exc:
            status, content, kind = exc.status, error_problem(exc), PROBLEM_JSON.encode()
            response += [(k.lower().encode("latin-1"), v.encode("latin-1"))
                         for k, v in problem_headers(exc.status).items()]
        except Exception as exc:  # answered like connexion's handler of the unexpected
            status, kind = 500, PROBLEM_JSON.encode()
            content = unexpected_problem(scope["method"], scope["path"], exc)
        else:
            status, kind = route.status, b"application/json"
            content = json.dumps(result, separators=(",", ":")).encode()
            if tenant:
                response.append((_TENANT, tenant.encode("latin-1")))
        response += [(b"content-type", kind), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": response})
        await send({"type": "http.response.body", "body": content})


def _headers(route: Route, raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, str] | None:
    """The route's header parameters, when the request's content type and headers are
    what the fast path serves; None otherwise."""
    found: dict[bytes, str] = {}
    content_type = None
    for name, value in raw:
        if name == b"content-type":
            if content_type is not None:
                return None
            content_type = value.lower()
        elif name in route.headers or name == _TENANT:
            text = value.decode("latin-1")
            check = route.headers.get(name)
            if name in found or (check is not None and not check(text)):
                return None
            found[name] = text
    return found if content_type in _JSON else None


async def _body(receive: Receive, read: list[Message]) -> Any:
    """The JSON body (None when it is not one), keeping the messages read in ``read``."""
    chunks = []
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    try:
        text = b"".join(chunks).decode("utf-8")
        body = json.loads(text) if text else None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deeply
        return None
    return None if too_deep(body) else body  # connexion answers a body nested too deeply


def _replay(read: list[Message], receive: Receive) -> Receive:
    """``receive`` with the messages already read in front."""
    pending = list(read)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
