"""The ASGI app of the reference coordination server: the spec, its security and token endpoint."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import ssl
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import MiddlewarePosition
from connexion.security import BasicSecurityHandler, OAuthSecurityHandler
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framework.app import load_specs
from framework.coordination.server_state import (
    API_VERSION,
    CoordinationBusy,
    CoordinationState,
    ServerOptions,
    fingerprint_digest,
)
from framework.errors import FrameworkError
from framework.web.middleware import BodyLimitMiddleware
from framework.web.problems import (
    connexion_problem,
    framework_error,
    http_error,
    problem_response,
    unexpected_error,
)
from framework.web.schemas import VALIDATORS

SPEC = "lcm-coordination.yaml"
#: Where the API is served, as the spec's server URL says.
API_ROOT = "/lcmcoord/v1"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
STATE_KEY = "nfvd.coordination"
_REALM = 'realm="lcmcoord"'


def state_of(scope: Mapping[str, Any]) -> CoordinationState:
    """The state of the server answering this request (handlers pass ``request.scope``)."""
    state: CoordinationState = scope[STATE_KEY]
    return state


class _StateMiddleware:
    """Puts the server's state in every request's scope, where the handlers find it."""

    def __init__(self, app: ASGIApp, state: CoordinationState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[STATE_KEY] = self.state
        await self.app(scope, receive, send)


class _VersionMiddleware:
    """Answers the served API version in a ``Version`` header, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      (b"version", API_VERSION.encode())]
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)


def peer_thumbprint(scope: Mapping[str, Any]) -> bytes | None:
    """SHA-256 of the client certificate (DER), from the ASGI TLS extension, if present.

    uvicorn does not fill the extension by itself; :class:`CoordinationServer` serves
    with a protocol that does when client certificates are required.
    """
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or ()
    if not chain:
        return None
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(chain[0])).digest()


def thumbprint_matches(thumbprint: bytes | None, expected: str) -> bool:
    """Compares with ``expected``: x5t#S256 (base64url, RFC 7515) or hex, colons allowed."""
    wanted = fingerprint_digest(expected)
    if thumbprint is None or wanted is None:
        return False
    return hmac.compare_digest(thumbprint, wanted)


def _same(candidate: str | None, expected: str | None) -> bool:
    if candidate is None or expected is None:
        return False
    return hmac.compare_digest(candidate.encode(), expected.encode())


class _TokenEndpoint:
    """``POST /oauth2/token``: the OAuth 2.0 client credentials grant (RFC 6749, 4.4).

    The client authenticates with its secret, in HTTP Basic or in the form; or, when the
    server requires client certificates, with its ``client_id`` alone, the TLS handshake
    having authenticated its certificate (pinned by ``client_cert_fingerprint`` if set).
    Errors are RFC 6749 JSON (``{"error": ...}``), never an echo of what was sent.
    """

    def __init__(self, app: ASGIApp, options: ServerOptions, state: CoordinationState) -> None:
        self.app = app
        self.options = options
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != TOKEN_PATH or not self.options.oauth2:
            await self.app(scope, receive, send)
            return
        self.state.count_token_request()
        request = Request(scope, receive)
        if request.method != "POST":
            response = JSONResponse({"error": "invalid_request"}, 405, headers={"Allow": "POST"})
        else:
            response = self._answer(request.headers, await request.body(), scope)
        await response(scope, receive, send)

    def _answer(self, headers: Mapping[str, str], body: bytes, scope: Scope) -> JSONResponse:
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request")
        try:
            pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True,
                                           strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            return _oauth_error(400, "invalid_request")
        fields = dict(pairs)
        if len(fields) != len(pairs):  # RFC 6749: no parameter twice
            return _oauth_error(400, "invalid_request")
        if "grant_type" not in fields:
            return _oauth_error(400, "invalid_request")
        if fields["grant_type"] != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type")
        client_id, secret = _basic_credentials(headers.get("authorization", ""))
        if client_id is None:
            client_id, secret = fields.get("client_id"), fields.get("client_secret")
        if not self._authenticated(client_id, secret, scope):
            return _oauth_error(401, "invalid_client")
        return JSONResponse({"access_token": self.state.issue_token(), "token_type": "Bearer",
                             "expires_in": self.options.token_ttl},
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _authenticated(self, client_id: str | None, secret: str | None, scope: Scope) -> bool:
        if not _same(client_id, self.options.oauth2_client_id):
            return False
        if secret is not None:
            return _same(secret, self.options.oauth2_client_secret)
        if self.options.client_ca is None:
            return False
        pinned = self.options.client_cert_fingerprint
        return pinned is None or thumbprint_matches(peer_thumbprint(scope), pinned)


def _oauth_error(status: int, error: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 401:
        headers["WWW-Authenticate"] = f"Basic {_REALM}"
    return JSONResponse({"error": error}, status, headers=headers)


def _basic_credentials(authorization: str) -> tuple[str | None, str | None]:
    """Client id and secret from an HTTP Basic header, form-encoded as RFC 6749 2.3.1 says."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None, None
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


def _security(options: ServerOptions,
              state: CoordinationState) -> tuple[dict[str, Any], dict[str, type]]:
    """The spec with only the enabled schemes required, and connexion handlers checking them."""
    spec = copy.deepcopy(load_specs()[SPEC])
    enabled = {"basicAuth"} if options.basic else set()
    enabled |= {"oauth2"} if options.oauth2 else set()
    required = [r for r in spec.pop("security", []) if set(r) <= enabled]
    if required:
        spec["security"] = required

    def check_basic(username: str, password: str) -> dict[str, Any] | None:
        if _same(username, options.basic_user) and _same(password, options.basic_password):
            return {"sub": username, "scheme": "basic"}
        return None

    def check_bearer(token: str) -> dict[str, Any] | None:
        if state.token_valid(token):
            return {"sub": options.oauth2_client_id, "scheme": "bearer", "scope": ""}
        return None

    class Basic(BasicSecurityHandler):  # type: ignore[misc]
        def _get_function(self, *_args: Any, **_kwargs: Any) -> Callable[..., Any]:
            return check_basic

    class OAuth2(OAuthSecurityHandler):  # type: ignore[misc]
        def get_tokeninfo_func(self, _definition: dict[str, Any]) -> Callable[..., Any]:
            return check_bearer

    return spec, {"basic": Basic, "oauth2": OAuth2}


def create_coordination_app(options: ServerOptions | None = None,
                            state: CoordinationState | None = None) -> AsyncApp:
    """The reference EM's ASGI app: ``specs/lcm-coordination.yaml`` under ``/lcmcoord/v1``,
    ``/oauth2/token`` when OAuth 2.0 is configured, errors as problem+json, state in memory.

    ``state`` lets the caller watch what the app receives (it must be built from the same
    ``options``); by default the app keeps its own.
    """
    options = options if options is not None else ServerOptions()
    state = state if state is not None else CoordinationState(options)
    spec, security_map = _security(options, state)
    challenge = ", ".join([f"Basic {_REALM}"] * options.basic
                          + [f"Bearer {_REALM}"] * options.oauth2)

    def problem(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        response = connexion_problem(request, exc)
        if response.status_code == 401 and challenge:
            response.headers["WWW-Authenticate"] = challenge
        return response

    def refusal(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        if not isinstance(exc, CoordinationBusy):
            return framework_error(request, exc)
        # an answer the options asked for, not a failure to log as one
        return problem_response(exc.status, exc.detail, {"Retry-After": options.retry_after},
                                title=exc.title, type_=exc.type, **exc.extra)

    app = AsyncApp(__name__, validator_map=VALIDATORS)
    app.add_api(spec, base_path=API_ROOT, security_map=security_map, strict_validation=True,
                validate_responses=True, swagger_ui_options=None)
    app.add_error_handler(FrameworkError, refusal)
    app.add_error_handler(ProblemException, problem)
    app.add_error_handler(HTTPException, http_error)
    app.add_error_handler(Exception, unexpected_error)
    # added first is outermost: the Version header goes on every answer, the limit comes
    # before the token endpoint reads a body
    app.add_middleware(_VersionMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(BodyLimitMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       max_bytes=options.max_body_bytes)
    app.add_middleware(_TokenEndpoint, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       options=options, state=state)
    app.add_middleware(_StateMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       state=state)
    return app
