"""ASGI middleware around the connexion app: body-size limit and the access log."""

from __future__ import annotations

import itertools
import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framework.metrics import Counter, Histogram
from framework.web.problems import PROBLEM_JSON, problem_body

access_log = logging.getLogger("framework.access")
_SENSITIVE_QUERY = ("token", "password", "secret", "key", "signature", "code")


async def _send_problem(send: Send, status: int, detail: str) -> None:
    body = problem_body(status, detail)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Answers 413 for a body larger than ``max_bytes`` before anything parses it.

    ``larger`` maps path prefixes to limits of their own (an API that takes packages).
    A declared ``Content-Length`` over the limit is refused without reading; a
    chunked body is read up to the limit, then refused, or replayed to the app. A body sent
    without ``Content-Type`` is described as JSON, the one type nfvd's APIs take: connexion
    already validates such a body as JSON, and its handler would otherwise get the bytes.
    """

    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = tuple((larger or {}).items())

    def _limit(self, path: str) -> int:
        return next((limit for prefix, limit in self.larger if path.startswith(prefix)),
                    self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope["path"])
        too_big = f"the request body is larger than the limit of {max_bytes} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _send_problem(send, 400, "Content-Length is not a number")
                    return
                if declared > max_bytes:
                    await _send_problem(send, 413, too_big)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # the client went away: hand the disconnect to the app as it came
                chunks_left: list[Message] = [message]
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _send_problem(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                chunks_left = []
                break
        body = b"".join(chunks)
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False},
                                 *chunks_left]
        # the body is whole now: describe it as such, since validators look at Content-Length
        headers = [(k, v) for k, v in scope["headers"]
                   if k not in (b"content-length", b"transfer-encoding")]
        headers.append((b"content-length", str(len(body)).encode()))
        if body and not any(name == b"content-type" for name, _ in headers):
            headers.append((b"content-type", b"application/json"))
        scope = {**scope, "headers": headers}

        async def replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replayed, send)


def _route(scope: Scope) -> str:
    routing = scope.get("extensions", {}).get("connexion_routing", {})
    operation = routing.get("operation_id")
    return str(operation) if operation else "unmatched"


def _safe_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, sep, _value = part.partition("=")
        sensitive = any(word in name.lower() for word in _SENSITIVE_QUERY)
        parts.append(name + sep + "***" if sep and sensitive else part)
    return "&".join(parts)


class AccessLogMiddleware:
    """Logs one line per request and counts it; adds an ``X-Request-ID`` to every response."""

    def __init__(self, app: ASGIApp, requests: Counter, durations: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.durations = durations
        # a random prefix per process and a counter: unique, and no system call per request
        # on the event loop (reading the kernel's random source can take tens of microseconds)
        self._prefix = uuid.uuid4().hex[:16]
        self._ids = itertools.count(1)

    def _next_id(self) -> str:
        return f"{self._prefix}{next(self._ids):016x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # connexion routes on a shallow copy of the scope; a shared "extensions" dict is where
        # it leaves the operation id for us to read afterwards
        scope.setdefault("extensions", {})
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming[:64] if incoming.isprintable() and incoming else self._next_id()
        state: dict[str, Any] = {"status": 500, "bytes": 0}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            status = str(state["status"])
            route = _route(scope)
            self.requests.inc(method=scope["method"], route=route, status=status)
            self.durations.observe(elapsed, method=scope["method"], route=route)
            query = scope.get("query_string", b"").decode("latin-1")
            path = scope["path"] + ("?" + _safe_query(query) if query else "")
            client = scope.get("client") or ("-", 0)
            access_log.info(
                "%s %s %s %s %.1fms", client[0], scope["method"], path, status, elapsed * 1000,
                extra={"request_id": request_id, "status": int(status), "method": scope["method"],
                       "path": scope["path"], "duration_ms": round(elapsed * 1000, 3),
                       "bytes": state["bytes"], "route": route},
            )


#: Where each resource driver is served: /drivers/{name}/api/driver/...
_DRIVER_PREFIX = re.compile(r"^/drivers/(?P<name>[^/]+)(?P<rest>/api/driver(?:/.*)?)$")
DRIVER_KEY = "nfvd.driver"


class DriverPrefixMiddleware:
    """Serves ``/drivers/{name}/api/driver/...`` as ``/api/driver/...`` for driver ``name``.

    The driver's name goes into the scope (``DRIVER_KEY``), where the handlers read it; the
    resource driver API is described once, with the prefix as a server variable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/drivers/"):
            match = _DRIVER_PREFIX.match(scope["path"])
            if match is not None:
                rest = match.group("rest")
                scope[DRIVER_KEY] = match.group("name")
                scope = {**scope, "path": rest, "raw_path": rest.encode()}
        await self.app(scope, receive, send)
