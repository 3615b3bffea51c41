"""The reference LCM coordination server (the EM side): its operations and the server.

Tests and demonstrations point a coordination client at it; ``nfvd coordination-server``
runs it as a command. Nothing here is served by ``nfvd serve``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from typing import Any, cast

import uvicorn
from connexion import request
from connexion.lifecycle import ConnexionResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from framework.coordination.server_app import (
    API_ROOT,
    TOKEN_PATH,
    create_coordination_app,
    state_of,
)
from framework.coordination.server_state import (
    API_VERSION,
    CoordinationBusy,
    CoordinationConflict,
    CoordinationRejected,
    CoordinationState,
    DecideHook,
    ReceivedRequest,
    ServerOptions,
)
from framework.web.problems import json_response

__all__ = [
    "API_VERSION",
    "CoordinationBusy",
    "CoordinationConflict",
    "CoordinationRejected",
    "CoordinationServer",
    "DecideHook",
    "ReceivedRequest",
    "ServerOptions",
    "cancel_coordination",
    "create_coordination",
    "create_coordination_app",
    "get_coordination",
]


def _state() -> CoordinationState:
    return state_of(request.scope)


def _empty(status: int, headers: dict[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(status_code=status, body=b"", headers=headers or {})


def create_coordination(body: dict[str, Any]) -> ConnexionResponse:
    """Requests a coordination: 201 with the LcmCoord (sync mode) or 202 (async mode), both
    with its Location; 503 while busy; 403 or 409 when the decide hook refuses."""
    state = _state()
    state.record(body, request.headers)
    url = request.url
    resource = state.submit(body, f"{url.scheme}://{url.netloc}{API_ROOT}/coordinations")
    headers = {"Location": resource["_links"]["self"]["href"]}
    if state.options.mode == "sync":
        return json_response(resource, status=201, headers=headers)
    return _empty(202, {**headers, "Retry-After": state.options.retry_after})


def get_coordination(coordinationId: str) -> ConnexionResponse:
    """The LcmCoord once the coordination has finished; 202 with Retry-After before."""
    state = _state()
    resource = state.read(coordinationId)
    if resource is None:
        return _empty(202, {"Retry-After": state.options.retry_after})
    return json_response(resource)


def cancel_coordination(coordinationId: str) -> ConnexionResponse:
    """Cancels a coordination in progress (202; its result is CANCELLED); 409 once finished."""
    _state().cancel(coordinationId)
    return _empty(202)


class _PeerCertProtocol(H11Protocol):
    """HTTP/1.1 that hands the client certificate to the app, as the ASGI TLS extension
    (``scope["extensions"]["tls"]["client_cert_chain"]``): uvicorn leaves it out."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return
        inner = cast(ASGIApp, self.app)
        tls = {"server_cert": None, "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)],
               "client_cert_name": None, "client_cert_error": None,
               "tls_version": None, "cipher_suite": None}

        async def with_peer_cert(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})["tls"] = tls
            await inner(scope, receive, send)

        self.app = with_peer_cert


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class CoordinationServer:
    """The reference coordination server over HTTP(S) on a background thread.

    ``with CoordinationServer(options) as server:`` (or ``start()`` ... ``stop()``).
    ``url`` is the endpoint a client is given; the API is under ``{url}/lcmcoord/v1``
    (``api_url``), the token endpoint at ``token_url``. A ``port`` of 0 takes a free port:
    the socket is bound in ``start()``, so ``url`` is right as soon as it returns.
    ``requests`` and ``token_requests`` say what the server received.
    """

    #: Seconds the server is given to start.
    START_TIMEOUT = 15.0

    def __init__(self, options: ServerOptions | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.options = options if options is not None else ServerOptions()
        self.host = host
        self.state = CoordinationState(self.options)
        self.app = create_coordination_app(self.options, self.state)
        self._port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on once started (the one asked for before)."""
        return self._port

    @property
    def url(self) -> str:
        """``http(s)://HOST:PORT``, a wildcard host given as loopback."""
        loopback = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104
        host = loopback.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.options.tls else 'http'}://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + API_ROOT

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every POST to /coordinations received, in order (busy refusals included)."""
        return self.state.requests

    @property
    def token_requests(self) -> int:
        """How many requests the token endpoint received."""
        return self.state.token_requests

    def _config(self) -> uvicorn.Config:
        options: dict[str, Any] = {"log_config": None, "access_log": False, "lifespan": "off",
                                   "server_header": False, "timeout_graceful_shutdown": 5}
        if self.options.tls:
            options.update(ssl_certfile=self.options.certfile, ssl_keyfile=self.options.keyfile)
        if self.options.client_ca:
            # asyncio's loop, not uvloop: uvloop leaks the transport of a handshake refused
            # for a missing client certificate
            options.update(ssl_ca_certs=self.options.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED,
                           loop="asyncio", http=_PeerCertProtocol)
        return uvicorn.Config(self.app, **options)

    def start(self) -> CoordinationServer:
        """Binds, serves on a daemon thread, returns once it accepts connections.

        OSError if the address is taken, ssl/OSError for unusable TLS files,
        RuntimeError if the server does not start.
        """
        if self._thread is not None:
            raise RuntimeError("the coordination server is already started")
        config = self._config()
        config.load()  # reads the TLS files here, so that a bad one fails in the caller
        sock = _bind(self.host, self._port)
        self._port = sock.getsockname()[1]
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                                  name="nfvd-coordination-server")
        self._socket, self._server, self._thread = sock, server, thread
        thread.start()
        deadline = time.monotonic() + self.START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the coordination server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stops serving and frees the port; does nothing if not started."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=5)
            if thread.is_alive():  # a client keeps a connection open: do not wait it out
                server.force_exit = True
                thread.join(timeout=15)
        if sock is not None:
            sock.close()

    def __enter__(self) -> CoordinationServer:
        """Starts the server unless ``start()`` already has (``with server.start() as s``)."""
        return self if self._thread is not None else self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
