"""The ETSI NFV-SOL 002 LCM coordination client (API 1.0.0): one coordination action.

``coordinate`` posts an ``LcmCoordRequest`` to ``{endpoint}/lcmcoord/v1/coordinations`` and
follows whichever mode the server chooses: synchronous (``201`` with the ``LcmCoord``, or
``503`` and ``Retry-After`` to send the request again) or asynchronous (``202`` and a
``Location`` polled with GET until ``200``). One timeout bounds the whole exchange; when it
runs out after the server accepted the request, the coordination is cancelled.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

import requests

from framework.coordination.auth import (
    TOKENS,
    Credentials,
    HeaderAuth,
    TokenCache,
    Transport,
    choose_credentials,
)
from framework.coordination.certs import ClientCert, thumbprint
from framework.coordination.errors import (
    CoordinationError,
    CoordinationTimeout,
    describe,
    http_error,
    scrub,
    transport_reason,
)

if TYPE_CHECKING:
    from framework.config import Settings

__all__ = ["TOKENS", "ClientCert", "ClientTls", "CoordinationError", "CoordinationTimeout",
           "TokenCache", "coordinate", "parse_retry_after", "retry_delay", "thumbprint"]

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
API_ROOT = "/lcmcoord/v1"
RESULTS = ("CONTINUE", "ABORT", "CANCELLED")
#: wait this long when a server asks to retry without a usable Retry-After
DEFAULT_DELAY = 1.0
#: and never less than this, whatever it says, so that no server makes the client spin
MIN_DELAY = 0.2
CONNECT_TIMEOUT = 10.0
#: the best-effort cancellation after a timeout has its own, short, time limit
CANCEL_SECONDS = 3.0
MAX_BODY_BYTES = 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclasses.dataclass(frozen=True)
class ClientTls:
    """How the client checks servers' certificates and where its own certificates are."""

    ca_file: str | None = None  # CA bundle for servers' certificates (None: system default)
    client_certs: str | None = None  # directory of client certificates for OAUTH2_CLIENT_CERT
    verify: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientTls:
        """From ``coordination_ca_file`` and ``coordination_client_certs``."""
        return cls(ca_file=settings.coordination_ca_file,
                   client_certs=settings.coordination_client_certs)

    @property
    def for_requests(self) -> bool | str:
        """The value of the ``verify`` argument of requests."""
        if not self.verify:
            return False
        return self.ca_file or True


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP-date.

    ``now`` is the current time in seconds since the epoch, for dates. None when the value
    is missing, negative or not understood; a date in the past gives 0.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is always GMT
            return None
        return max(when.timestamp() - now, 0.0)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_delay(value: str | None, now: float) -> float:
    """How long to wait before the next request, given a ``Retry-After`` value (or None)."""
    seconds = parse_retry_after(value, now)
    return max(MIN_DELAY, DEFAULT_DELAY if seconds is None else seconds)


@dataclasses.dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def _collection_url(endpoint: str) -> str:
    parts = urlsplit(endpoint.strip())
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise CoordinationError("endpoint: expected an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise CoordinationError("endpoint: must not hold credentials (give them in "
                                "authentication)")
    if parts.query or parts.fragment:
        raise CoordinationError("endpoint: must not have a query or a fragment")
    base = endpoint.strip().rstrip("/")
    if not base.endswith(API_ROOT):  # accept the API root itself as well as its server
        base += API_ROOT
    return base + "/coordinations"


def _lcm_coord(answer: _Answer, what: str, coordination_id: str | None) -> dict[str, Any]:
    problem = None
    try:
        data = json.loads(answer.body)
    except (ValueError, RecursionError):
        data, problem = None, "not JSON"
    if problem is None and not isinstance(data, dict):
        problem = "not a JSON object"
    elif isinstance(data, dict) and data.get("coordinationResult") not in RESULTS:
        found = data.get("coordinationResult")
        problem = ("no coordinationResult" if found is None
                   else f"coordinationResult {str(found)[:40]!r} is not one of "
                        f"{', '.join(RESULTS)}")
    if problem is not None or not isinstance(data, dict):
        raise CoordinationError(f"{what}: HTTP {answer.status} answer is not an LcmCoord: "
                                f"{problem}", status=answer.status,
                                coordination_id=coordination_id)
    return data


class _Coordination:
    """One coordination action, from its request to its result, within one deadline."""

    def __init__(self, collection: str, body: str, credentials: Credentials,
                 session: requests.Session, tls: ClientTls, timeout: float,
                 sleep: Callable[[float], None]) -> None:
        self.collection = collection
        self.body = body
        self.credentials = credentials
        self.session = session
        self.timeout = timeout
        self.sleep = sleep
        self.deadline = time.monotonic() + timeout
        self.transport = Transport(session, tls.for_requests, self.timeouts, self.remaining)
        self.location: str | None = None
        self.coordination_id: str | None = None
        self.last_answer: str | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def timeouts(self, deadline: float | None = None) -> tuple[float, float]:
        """(connect, read) timeout of the next request: never past the deadline."""
        left = (self.deadline if deadline is None else deadline) - time.monotonic()
        if left <= 0:
            raise CoordinationTimeout("time ran out")
        return min(left, CONNECT_TIMEOUT), left

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        except CoordinationTimeout as exc:
            outcome = self._cancel()
            last = f"; last answer: {self.last_answer}" if self.last_answer else ""
            raise CoordinationTimeout(
                f"no coordination result from {self.collection} within {self.timeout:g} s "
                f"({exc}){last}; {outcome}", coordination_id=self.coordination_id) from None

    def _run(self) -> dict[str, Any]:
        what = f"POST {self.collection}"
        log.info("requesting coordination: %s", what)
        while True:
            answer = self._send("POST", self.collection, self.body)
            if answer.status == 201:
                return self._result(answer, what)
            if answer.status == 202:
                break
            if answer.status != 503:
                raise self._error(answer, what)
            log.info("coordination server busy (503); sending the request again")
            self._wait(answer)
        location = self._follow(answer)
        what = f"GET {location}"
        while True:
            self._wait(answer)
            answer = self._send("GET", location)
            if answer.status == 200:
                return self._result(answer, what)
            if answer.status not in (202, 503):
                raise self._error(answer, what)
            log.debug("coordination %s not finished yet (%d)", self.coordination_id,
                      answer.status)

    def _follow(self, answer: _Answer) -> str:
        """The ``Location`` of a 202 to poll: on the endpoint's origin, or refused."""
        location = answer.headers.get("Location", "").strip()
        if not location:
            raise CoordinationError(f"POST {self.collection}: HTTP 202 answer has no Location",
                                    status=202)
        url = urljoin(self.collection, location)
        parts = urlsplit(url)
        if _origin(url) != _origin(self.collection) or parts.username or parts.password:
            raise CoordinationError(
                f"POST {self.collection}: refusing to poll {location[:200]}, "
                "which is not on the origin (scheme, host, port) of the endpoint", status=202)
        self.location = url.split("#", 1)[0]
        self.coordination_id = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or None
        log.info("coordination %s accepted; polling %s", self.coordination_id, self.location)
        return self.location

    def _wait(self, answer: _Answer) -> None:
        self.last_answer = scrub(describe(answer.status, answer.reason, answer.body),
                                 self.credentials.secrets)
        delay = retry_delay(answer.headers.get("Retry-After"), time.time())
        # Retry-After is an estimate: when it reaches past the deadline, try once more just
        # before the deadline rather than give up at once
        left = self.remaining() - MIN_DELAY
        if left <= 0:
            raise CoordinationTimeout("no time left to try again")
        self.sleep(min(delay, left))

    def _result(self, answer: _Answer, what: str) -> dict[str, Any]:
        result = _lcm_coord(answer, what, self.coordination_id)
        log.info("coordination %s: %s", result.get("id", self.coordination_id),
                 result["coordinationResult"])
        return result

    def _error(self, answer: _Answer, what: str) -> CoordinationError:
        if answer.status == 401:
            kind = self.credentials.kind
            what += " (no authentication given)" if kind == "none" else f" ({kind} refused)"
        elif answer.status < 400:
            what += " (unexpected answer)"
        return http_error(what, answer.status, answer.reason, answer.body,
                          self.credentials.secrets, coordination_id=self.coordination_id)

    def _send(self, method: str, url: str, body: str | None = None) -> _Answer:
        renewed = False
        while True:
            answer = self._request(method, url, body, self.deadline)
            if answer.status == 401 and not renewed and self.credentials.renew():
                renewed = True
                continue
            return answer

    def _request(self, method: str, url: str, body: str | None, deadline: float) -> _Answer:
        headers = {"Version": API_VERSION, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        what = f"{method} {url}"
        cert = self.credentials.cert
        try:
            authorization = HeaderAuth(self.credentials.authorization(self.transport))
            with self.session.request(
                    method, url, data=body, headers=headers, auth=authorization,
                    timeout=self.timeouts(deadline), verify=self.transport.verify,
                    cert=cert.for_requests if cert else None, allow_redirects=False,
                    stream=True) as response:
                content = self._read(response, what, deadline)
        except OSError as exc:  # requests' errors, and unreadable TLS files
            # a read timeout in the body surfaces as a ConnectionError, not as a Timeout
            if deadline <= time.monotonic():
                raise CoordinationTimeout(f"no answer to {method} in time") from None
            if isinstance(exc, requests.Timeout):  # the connect timeout, shorter
                raise CoordinationError(f"{what}: cannot connect within {CONNECT_TIMEOUT:g} s",
                                        coordination_id=self.coordination_id) from None
            reason = scrub(transport_reason(exc), self.credentials.secrets)
            raise CoordinationError(f"{what}: {reason}",
                                    coordination_id=self.coordination_id) from None
        return _Answer(response.status_code, response.reason or "", response.headers, content)

    def _read(self, response: requests.Response, what: str, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise CoordinationError(f"{what}: the answer is larger than {MAX_BODY_BYTES} "
                                        "bytes", status=response.status_code,
                                        coordination_id=self.coordination_id)
            if deadline <= time.monotonic():
                raise CoordinationTimeout("the answer did not arrive in time")
            chunks.append(chunk)
        return b"".join(chunks)

    def _cancel(self) -> str:
        """Best effort: asks the server to cancel the coordination; says how that went."""
        if self.location is None:
            return "no coordination was accepted, nothing to cancel"
        url = self.location.rstrip("/") + "/cancel"
        log.info("cancelling coordination %s: POST %s", self.coordination_id, url)
        try:
            answer = self._request("POST", url, None, time.monotonic() + CANCEL_SECONDS)
        except CoordinationError as exc:
            log.warning("cancelling coordination %s failed: %s", self.coordination_id, exc)
            return f"cancelling coordination {self.coordination_id} failed: {exc}"
        if answer.status == 202:
            return f"cancellation of coordination {self.coordination_id} requested"
        error = self._error(answer, f"POST {url}")
        log.warning("cancelling coordination %s failed: %s", self.coordination_id, error)
        return f"cancelling coordination {self.coordination_id} failed: {error}"


def coordinate(endpoint: str, request: Mapping[str, Any], *,
               authentication: Mapping[str, Any] | None = None, timeout: float = 60.0,
               tls: ClientTls = ClientTls(), session: requests.Session | None = None,
               sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Runs one coordination action and returns the final ``LcmCoord``, whole.

    ``endpoint`` is the coordination server (``{endpoint}/lcmcoord/v1`` is the API root;
    the API root itself is accepted too), ``request`` the ``LcmCoordRequest`` and
    ``authentication`` the SOL 002 authentication structure (``authType`` and the
    ``params*`` of each). ``timeout`` bounds everything: connecting, waiting for answers,
    the delays asked for by ``Retry-After``, fetching a token. Any ``coordinationResult``
    (``CONTINUE``, ``ABORT``, ``CANCELLED``) is a result; the caller decides what it means.

    Raises :class:`CoordinationError` (:class:`CoordinationTimeout` on a timeout, after a
    best-effort cancellation of an accepted coordination) on anything else: a refusal
    (403, 409, ...), an unusable answer, an unreachable server, unusable credentials. Its
    message never holds a password, a client secret or a token.
    """
    if not isinstance(timeout, int | float) or not math.isfinite(timeout) or timeout <= 0:
        raise CoordinationError("timeout: expected a positive number of seconds")
    collection = _collection_url(endpoint)
    if not isinstance(request, Mapping):
        raise CoordinationError("request: expected an LcmCoordRequest object")
    try:
        body = json.dumps(dict(request), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CoordinationError(f"request: cannot be sent as JSON ({exc})") from None
    credentials = choose_credentials(authentication, tls.client_certs)
    if credentials.cert is not None and not collection.startswith("https:"):
        raise CoordinationError(f"{credentials.kind}: the endpoint must be an https URL "
                                "(mutual TLS)")
    own_session = session is None
    run = _Coordination(collection, body, credentials, session or requests.Session(), tls,
                        float(timeout), sleep)
    try:
        return run.run()
    finally:
        if own_session:
            run.session.close()
