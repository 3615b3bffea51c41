"""Authorization of the coordination client: HTTP Basic, and OAuth 2.0 client credentials
with a client secret or with a client certificate (mutual TLS, RFC 8705)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus, urlsplit

import requests

from framework.coordination.certs import X5T_S256, ClientCert, find_client_cert
from framework.coordination.errors import (
    CoordinationError,
    CoordinationTimeout,
    http_error,
    transport_reason,
)

log = logging.getLogger(__name__)

BASIC = "BASIC"
CLIENT_CREDENTIALS = "OAUTH2_CLIENT_CREDENTIALS"
CLIENT_CERT = "OAUTH2_CLIENT_CERT"
#: authType -> (the member holding its parameters, the parameters it needs)
PARAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    BASIC: ("paramsBasic", ("userName", "password")),
    CLIENT_CREDENTIALS: ("paramsOauth2ClientCredentials",
                         ("clientId", "clientPassword", "tokenEndpoint")),
    CLIENT_CERT: ("paramsOauth2ClientCert", ("clientId", "certificateRef", "tokenEndpoint")),
}
#: a token is renewed this long before it expires (at most a tenth of its lifetime)
TOKEN_MARGIN_SECONDS = 30.0
#: how long a token whose answer has no ``expires_in`` is kept
DEFAULT_TOKEN_SECONDS = 300.0

TokenKey = tuple[str, str, str]


class TokenCache:
    """Bearer tokens by (token endpoint, client id, digest of the secret or certificate).

    One instance, :data:`TOKENS`, is shared by every coordination of the process, so a
    rolling update over many VNFCs fetches one token. A token is used until shortly before
    it expires; ``fetches`` counts the token requests made.
    """

    def __init__(self, margin: float = TOKEN_MARGIN_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.margin = margin
        self.clock = clock
        self.fetches = 0
        self._tokens: dict[TokenKey, tuple[str, float]] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._lock = threading.Lock()

    def token(self, key: TokenKey, fetch: Callable[[], tuple[str, float | None]],
              wait: float) -> str:
        """The cached token for ``key``, or a new one from ``fetch`` (token, lifetime).

        Concurrent callers with the same key wait (at most ``wait`` seconds) for one fetch.
        """
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        if not key_lock.acquire(timeout=max(wait, 0.0)):
            raise CoordinationTimeout("timed out waiting for an OAuth 2.0 token")
        try:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] > self.clock():
                return cached[0]
            with self._lock:
                self.fetches += 1
            token, lifetime = fetch()
            life = DEFAULT_TOKEN_SECONDS if lifetime is None else lifetime
            self._tokens[key] = (token, self.clock() + life - min(self.margin, life / 10))
            return token
        finally:
            key_lock.release()

    def invalidate(self, key: TokenKey, token: str) -> None:
        """Forget ``token`` (refused by a server), unless a newer one replaced it already."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[0] == token:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token and reset the counter."""
        with self._lock:
            self._tokens.clear()
            self.fetches = 0


#: the token cache of the process
TOKENS = TokenCache()


@dataclasses.dataclass(frozen=True)
class Transport:
    """How the coordination client sends a request: its session, server certificate checks,
    and the (connect, read) timeout left for the next request."""

    session: requests.Session
    verify: bool | str
    timeouts: Callable[[], tuple[float, float]]
    remaining: Callable[[], float]


class HeaderAuth(requests.auth.AuthBase):
    """Sets a ready ``Authorization`` header, or none; either way requests then neither
    consults ``.netrc`` nor applies a session's own ``auth``."""

    def __init__(self, value: str | None) -> None:
        self.value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.value is not None:
            request.headers["Authorization"] = self.value
        return request


class Credentials:
    """No authorization; the base of every authType."""

    kind = "none"
    cert: ClientCert | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every value that must never appear in a log or an error."""
        return ()

    def authorization(self, transport: Transport) -> str | None:
        """The ``Authorization`` header for the next API request, or None."""
        return None

    def renew(self) -> bool:
        """Drop credentials a server refused with 401; True when a retry may succeed."""
        return False


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class Basic(Credentials):
    """HTTP Basic authentication with a user name and password."""

    kind = BASIC

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self._password = password

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._password,)

    def authorization(self, transport: Transport) -> str | None:
        return _basic(self.user, self._password)


class OAuth2(Credentials):
    """A bearer token from an OAuth 2.0 token endpoint (client credentials grant).

    With ``secret`` the client authenticates with HTTP Basic (RFC 6749, 2.3.1); with
    ``cert`` it authenticates with its certificate over mutual TLS and sends only its
    ``client_id`` (RFC 8705, 2), and uses the same certificate on API requests.
    """

    def __init__(self, client_id: str, token_endpoint: str, cache: TokenCache, *,
                 secret: str | None = None, cert: ClientCert | None = None,
                 fingerprint: str = "") -> None:
        self.kind = CLIENT_CERT if cert is not None else CLIENT_CREDENTIALS
        self.client_id = client_id
        self.token_endpoint = token_endpoint
        self.cache = cache
        self.cert = cert
        self._secret = secret
        self._token: str | None = None
        proof = (hashlib.sha256(secret.encode()).hexdigest() if secret is not None
                 else f"{X5T_S256}:{fingerprint}")
        self.key: TokenKey = (token_endpoint, client_id, proof)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._secret, self._token) if s)

    def authorization(self, transport: Transport) -> str | None:
        self._token = self.cache.token(self.key, lambda: self._fetch(transport),
                                       transport.remaining())
        return "Bearer " + self._token

    def renew(self) -> bool:
        if self._token is None:
            return False
        log.info("the coordination server refused the token of client %s; fetching a new one",
                 self.client_id)
        self.cache.invalidate(self.key, self._token)
        self._token = None
        return True

    def _fetch(self, transport: Transport) -> tuple[str, float | None]:
        what = f"token request to {self.token_endpoint}"
        form = {"grant_type": "client_credentials"}
        authorization = None
        if self._secret is None:
            form["client_id"] = self.client_id
        else:
            authorization = _basic(quote_plus(self.client_id), quote_plus(self._secret))
        log.info("fetching an OAuth 2.0 token for client %s from %s (%s)",
                 self.client_id, self.token_endpoint, self.kind)
        try:
            response = transport.session.post(
                self.token_endpoint, data=form, headers={"Accept": "application/json"},
                auth=HeaderAuth(authorization), timeout=transport.timeouts(),
                verify=transport.verify, allow_redirects=False,
                cert=self.cert.for_requests if self.cert else None)
        except OSError as exc:  # requests' errors, and unreadable TLS files
            if transport.remaining() <= 0:
                raise CoordinationTimeout(f"no answer to the {what} in time") from None
            raise CoordinationError(f"{what}: {transport_reason(exc)}") from None
        if response.status_code != 200:
            raise http_error(what, response.status_code, response.reason or "",
                             response.content, self.secrets)
        return _token_answer(what, response.content)


def _token_answer(what: str, body: bytes) -> tuple[str, float | None]:
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str) \
            or not data["access_token"]:
        raise CoordinationError(f"{what}: the answer has no access_token")
    token_type = data.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise CoordinationError(f"{what}: token_type {str(token_type)[:40]!r} is not Bearer")
    expires = data.get("expires_in")
    try:
        lifetime = None if expires is None else max(float(expires), 0.0)
    except (TypeError, ValueError):
        lifetime = None
    return data["access_token"], lifetime


def _missing(params: Any, names: tuple[str, ...]) -> list[str]:
    if not isinstance(params, Mapping):
        return list(names)
    return [name for name in names
            if not (isinstance(params.get(name), str) and params[name].strip())
            and not (name == "certificateRef" and isinstance(params.get(name), Mapping))]


def _token_endpoint(url: str, kind: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CoordinationError(f"{kind}: tokenEndpoint must be an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise CoordinationError(f"{kind}: tokenEndpoint must not hold credentials")
    if kind == CLIENT_CERT and parts.scheme != "https":
        raise CoordinationError(f"{kind}: tokenEndpoint must be an https URL (mutual TLS)")
    return url


def _client_cert(params: Mapping[str, Any], client_certs: str | None,
                 cache: TokenCache) -> Credentials:
    ref = params["certificateRef"]
    ref_type, value = ref.get("type"), ref.get("value")
    if ref_type != X5T_S256:
        raise CoordinationError(f"{CLIENT_CERT}: certificateRef.type {str(ref_type)[:40]!r} "
                                f"is not supported (only {X5T_S256})")
    if not isinstance(value, str) or not value.strip():
        raise CoordinationError(f"{CLIENT_CERT}: certificateRef.value is missing")
    if not client_certs:
        raise CoordinationError(
            f"{CLIENT_CERT}: no client certificate directory is configured "
            "(NFVD_COORDINATION_CLIENT_CERTS)")
    cert = find_client_cert(client_certs, value)
    return OAuth2(params["clientId"], _token_endpoint(params["tokenEndpoint"], CLIENT_CERT),
                  cache, cert=cert, fingerprint=value.strip())


def choose_credentials(authentication: Mapping[str, Any] | None, client_certs: str | None,
                       cache: TokenCache = TOKENS) -> Credentials:
    """The credentials for an ``authentication`` structure (SOL 002, SubscriptionAuthentication).

    The first authType of ``authType`` that is supported and whose parameters are present
    is used; ``None`` or ``{}`` means no authorization. Raises CoordinationError, without
    any secret, when none is usable.
    """
    if not authentication:
        return Credentials()
    if not isinstance(authentication, Mapping):
        raise CoordinationError("authentication: expected an object")
    kinds = authentication.get("authType")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if not isinstance(kinds, list) or not kinds:
        raise CoordinationError(f"authentication.authType: expected a list of {', '.join(PARAMS)}")
    unusable = []
    for kind in kinds:
        if not isinstance(kind, str) or kind not in PARAMS:
            unusable.append(f"{str(kind)[:40]!r} is not supported")
            continue
        member, names = PARAMS[kind]
        params: Any = authentication.get(member)
        missing = _missing(params, names)
        if missing:
            unusable.append(f"{kind} lacks {member}.{'/'.join(missing)}")
            continue
        if kind == BASIC:
            return Basic(params["userName"], params["password"])
        if kind == CLIENT_CREDENTIALS:
            return OAuth2(params["clientId"],
                          _token_endpoint(params["tokenEndpoint"], CLIENT_CREDENTIALS),
                          cache, secret=params["clientPassword"])
        return _client_cert(params, client_certs, cache)
    raise CoordinationError("authentication: no usable authType: " + "; ".join(unusable))
