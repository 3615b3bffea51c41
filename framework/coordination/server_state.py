"""The reference coordination server's options, its decisions and its in-memory state."""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import email.utils
import hashlib
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

from framework.errors import PROBLEM_BASE, Conflict, FrameworkError, NotFound, ServiceUnavailable

log = logging.getLogger(__name__)

#: The API version served, answered in the ``Version`` header of every response.
API_VERSION = "1.0.0"
#: What a decision may answer; CANCELLED only comes from a cancel request.
RESULTS = ("CONTINUE", "ABORT")
_DECISION_KEYS = frozenset({"coordinationResult", "outputParams", "warnings", "error"})

#: Given the LcmCoordRequest (a copy), returns "CONTINUE", "ABORT", or a mapping with
#: ``coordinationResult`` and optionally ``outputParams``, ``warnings`` and ``error``.
DecideHook = Callable[[dict[str, Any]], Mapping[str, Any] | str]


class CoordinationRejected(FrameworkError):
    """Raised by a decide hook: the EM refuses to start this coordination (403)."""

    status = 403
    title = "Forbidden"
    type = PROBLEM_BASE + "coordination-rejected"


class CoordinationConflict(Conflict):
    """Raised by a decide hook: conflicts with coordinations in progress (409); also a cancel
    of a finished coordination."""

    type = PROBLEM_BASE + "coordination-conflict"


class CoordinationBusy(ServiceUnavailable):
    """Raised by a decide hook: cannot coordinate now; the answer is 503 with Retry-After."""

    type = PROBLEM_BASE + "coordination-busy"


def _valid_retry_after(value: str) -> bool:
    if re.fullmatch(r"[0-9]+", value):
        return True
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False


def fingerprint_digest(fingerprint: str) -> bytes | None:
    """The SHA-256 digest a certificate fingerprint names: x5t#S256 (base64url, RFC 7515)
    or hex, colons allowed; ``None`` if it is neither."""
    text = fingerprint.strip()
    try:
        digest = bytes.fromhex(text.replace(":", ""))
    except ValueError:
        try:
            digest = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
    return digest if len(digest) == hashlib.sha256().digest_size else None


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """How the reference coordination server answers; every field has a usable default.

    ``mode`` "sync" answers a POST with 201 and the result; "async" answers 202, then
    ``polls`` GETs answer 202 before the result (200). ``busy`` refuses the first N POSTs
    with 503. ``retry_after`` (seconds or an HTTP-date) is sent on every 503 and 202.
    ``decide`` chooses each result (default: ``result``); it may raise
    :class:`CoordinationRejected` (403), :class:`CoordinationConflict` (409) or
    :class:`CoordinationBusy` (503). Security is enforced only when configured: Basic with
    ``basic_user``/``basic_password``; OAuth 2.0 bearer tokens from ``/oauth2/token`` with
    ``oauth2_client_id`` and either ``oauth2_client_secret`` or ``client_ca`` (the client
    certificate authenticates the client, optionally pinned by ``client_cert_fingerprint``:
    the SHA-256 thumbprint, x5t#S256 base64url or hex). ``certfile``/``keyfile`` serve
    HTTPS; ``client_ca`` requires client certificates signed by that CA. A body over
    ``max_body_bytes`` gets 413. A bad combination raises ValueError naming the field.
    """

    mode: Literal["sync", "async"] = "sync"
    result: Literal["CONTINUE", "ABORT"] = "CONTINUE"
    busy: int = 0
    retry_after: str = "1"
    polls: int = 1
    basic_user: str | None = None
    basic_password: str | None = dataclasses.field(default=None, repr=False)
    oauth2_client_id: str | None = None
    oauth2_client_secret: str | None = dataclasses.field(default=None, repr=False)
    token_ttl: int = 3600
    certfile: str | None = None
    keyfile: str | None = None
    client_ca: str | None = None
    client_cert_fingerprint: str | None = None
    decide: DecideHook | None = None
    max_body_bytes: int = 1048576

    def __post_init__(self) -> None:
        problems = [
            (self.mode not in ("sync", "async"), "mode: expected sync or async"),
            (self.result not in RESULTS, "result: expected CONTINUE or ABORT"),
            (self.busy < 0 or self.polls < 0, "busy and polls: expected 0 or more"),
            (self.token_ttl < 1 or self.max_body_bytes < 1,
             "token_ttl and max_body_bytes: expected 1 or more"),
            (not _valid_retry_after(self.retry_after),
             "retry_after: expected seconds or an HTTP-date"),
            ((self.basic_user is None) != (self.basic_password is None),
             "basic_user and basic_password: give both or neither"),
            (self.oauth2_client_secret is not None and self.oauth2_client_id is None,
             "oauth2_client_secret: needs oauth2_client_id"),
            (self.oauth2_client_id is not None and self.oauth2_client_secret is None
             and self.client_ca is None,
             "oauth2_client_id: needs oauth2_client_secret, or client_ca for client certificates"),
            ((self.keyfile or self.client_ca) is not None and self.certfile is None,
             "keyfile and client_ca: need certfile (TLS)"),
            (self.client_cert_fingerprint is not None and self.client_ca is None,
             "client_cert_fingerprint: needs client_ca"),
            (self.client_cert_fingerprint is not None
             and fingerprint_digest(self.client_cert_fingerprint) is None,
             "client_cert_fingerprint: expected a SHA-256 thumbprint, x5t#S256 or hex"),
        ]
        for failed, message in problems:
            if failed:
                raise ValueError(message)

    @property
    def basic(self) -> bool:
        return self.basic_user is not None

    @property
    def oauth2(self) -> bool:
        return self.oauth2_client_id is not None

    @property
    def tls(self) -> bool:
        return self.certfile is not None

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for the log masker."""
        return tuple(s for s in (self.basic_password, self.oauth2_client_secret) if s)


@dataclasses.dataclass(frozen=True)
class ReceivedRequest:
    """One POST to /coordinations as received: the body, the headers (lower-case names,
    ``authorization`` left out) and the scheme of the credentials ("basic", "bearer", None)."""

    body: dict[str, Any]
    headers: dict[str, str]
    auth: str | None


@dataclasses.dataclass
class _Coordination:
    resource: dict[str, Any]
    polls_left: int


def _decision(value: Any, request: Mapping[str, Any]) -> dict[str, Any]:
    """A decide hook's answer as the result fields of an LcmCoord; TypeError/ValueError if the
    hook broke its contract (the caller then gets a 500)."""
    if isinstance(value, str):
        value = {"coordinationResult": value}
    if not isinstance(value, Mapping):
        raise TypeError(f"the decide hook returned {type(value).__name__}, not a str or mapping")
    unknown = sorted(set(value) - _DECISION_KEYS)
    if unknown:
        raise ValueError(f"the decide hook returned unknown keys {unknown}")
    if value.get("coordinationResult") not in RESULTS:
        raise ValueError("the decide hook returned no coordinationResult CONTINUE or ABORT")
    decision = {key: copy.deepcopy(item) for key, item in value.items() if item is not None}
    if decision["coordinationResult"] == "ABORT" and "error" not in decision:
        # SOL 002: an ABORT carries the reason
        decision["error"] = {"title": "Coordination aborted", "status": 409,
                             "detail": f"the coordination action "
                                       f"{request['coordinationActionName']} answered ABORT"}
    return decision


class CoordinationState:
    """The coordinations, issued tokens and received requests of one server; thread-safe.

    The decision is made when a coordination is requested (in both modes); in async mode
    it is revealed after ``options.polls`` reads.
    """

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._coordinations: dict[str, _Coordination] = {}
        self._busy_left = options.busy
        self._tokens: dict[str, float] = {}  # SHA-256 of the token -> monotonic expiry
        self._requests: list[ReceivedRequest] = []
        self._token_requests = 0

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every POST to /coordinations received so far (refused ones included), in order."""
        with self._lock:
            return list(self._requests)

    @property
    def token_requests(self) -> int:
        """How many requests the token endpoint received (refused ones included)."""
        with self._lock:
            return self._token_requests

    def record(self, body: dict[str, Any], headers: Mapping[str, str]) -> None:
        """Keeps a received POST; the credentials themselves are not kept."""
        kept = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme = authorization.split(" ", 1)[0].lower() or None
        with self._lock:
            self._requests.append(ReceivedRequest(copy.deepcopy(body), kept, scheme))

    def submit(self, request: dict[str, Any], collection_url: str) -> dict[str, Any]:
        """Decides a coordination and keeps it; returns the LcmCoord (its self link under
        ``collection_url``). Raises CoordinationBusy for the first ``options.busy`` calls,
        and whatever the decide hook raises."""
        with self._lock:
            busy = self._busy_left > 0
            if busy:
                self._busy_left -= 1
        if busy:
            raise CoordinationBusy("the coordination server is busy; retry later")
        hook = self.options.decide
        # outside the lock: a hook may take its time
        answer = hook(copy.deepcopy(request)) if hook is not None else self.options.result
        decision = _decision(answer, request)
        coordination_id = str(uuid.uuid4())
        links = request["_links"]
        resource = {
            "id": coordination_id,
            **{key: request[key] for key in ("vnfInstanceId", "vnfLcmOpOccId",
                                             "lcmOperationType", "coordinationActionName")},
            **decision,
            "_links": {"self": {"href": f"{collection_url}/{coordination_id}"},
                       "vnfLcmOpOcc": dict(links["vnfLcmOpOcc"]),
                       "vnfInstance": dict(links["vnfInstance"])},
        }
        polls = self.options.polls if self.options.mode == "async" else 0
        with self._lock:
            self._coordinations[coordination_id] = _Coordination(resource, polls)
        log.info("coordination %s: %s %s of VNF %s -> %s", coordination_id,
                 request["lcmOperationType"], request["coordinationActionName"],
                 request["vnfInstanceId"], decision["coordinationResult"])
        return copy.deepcopy(resource)

    def _get(self, coordination_id: str) -> _Coordination:
        coordination = self._coordinations.get(coordination_id)
        if coordination is None:
            raise NotFound(f"no coordination {coordination_id}")
        return coordination

    def read(self, coordination_id: str) -> dict[str, Any] | None:
        """The LcmCoord once finished; ``None`` while in progress (each such read counts as
        one of the ``polls``). NotFound for an unknown id."""
        with self._lock:
            coordination = self._get(coordination_id)
            if coordination.polls_left > 0:
                coordination.polls_left -= 1
                return None
            return copy.deepcopy(coordination.resource)

    def cancel(self, coordination_id: str) -> None:
        """Cancels a coordination in progress: its result becomes CANCELLED at once.
        CoordinationConflict when it has finished; NotFound for an unknown id."""
        with self._lock:
            coordination = self._get(coordination_id)
            if coordination.polls_left == 0:
                raise CoordinationConflict(f"coordination {coordination_id} has finished")
            resource = coordination.resource
            for key in _DECISION_KEYS:
                resource.pop(key, None)
            resource["coordinationResult"] = "CANCELLED"
            coordination.polls_left = 0
        log.info("coordination %s: cancelled", coordination_id)

    def count_token_request(self) -> None:
        with self._lock:
            self._token_requests += 1

    def issue_token(self) -> str:
        """A new bearer token, valid for ``options.token_ttl`` seconds."""
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v > now}
            self._tokens[hashlib.sha256(token.encode()).hexdigest()] = now + self.options.token_ttl
        return token

    def token_valid(self, token: str) -> bool:
        """True for a token this server issued that has not expired."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            return self._tokens.get(digest, 0.0) > time.monotonic()
