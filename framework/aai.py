"""The A&AI client: flavors of a cloud region and their HPA capabilities, written for OOF.

nfvd (never a plugin) writes to ONAP A&AI, schema v13 by default. A flavor is written whole,
with its nested ``hpa-capabilities``: ``put_flavor`` reads what A&AI holds, merges, and PUTs
the result with the current ``resource-version``s, so creating and updating are one call and
capabilities no longer produced leave A&AI with the PUT. Conflicts with another writer
(``409``/``412``) are resolved by reading again; ``5xx`` answers and failed connections are
retried after a short pause. Errors never quote the password.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from framework.coordination.errors import scrub, snippet, transport_reason

if TYPE_CHECKING:
    from framework.config import Settings

__all__ = ["AaiClient", "AaiError", "Answer", "AaiSettings", "aai_flavor", "merge_flavor"]

log = logging.getLogger(__name__)

#: first pause before a retry, in seconds; doubled on each further retry, up to MAX_DELAY
RETRY_DELAY = 0.1
MAX_DELAY = 2.0
#: connections kept per A&AI host: more than the largest NFVD_AAI_CONCURRENCY
POOL_SIZE = 64
MAX_BODY_BYTES = 32 * 1024 * 1024
CONFLICTS = (409, 412)
RV = "resource-version"


class AaiError(Exception):
    """A&AI did not do what was asked; the message names the request and the answer.

    ``status`` is the HTTP status of the last answer, or None when A&AI could not be reached.
    The message is one line and never holds the password.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Unreachable(AaiError):
    """No answer: the connection failed or timed out (worth trying again)."""


@dataclasses.dataclass(frozen=True)
class AaiSettings:
    """Where A&AI is and how to talk to it."""

    url: str  # base, e.g. https://aai.example:8443/aai; the schema version is appended
    username: str | None = None
    password: str | None = None
    schema_version: str = "v13"
    app_id: str = "nfvd"  # X-FromAppId
    timeout: float = 10.0  # per request, connect and read
    retries: int = 3  # after a 5xx, a failed connection, or a resource-version conflict
    ca_file: str | None = None  # CA bundle for A&AI's certificate (None: the system's)

    @classmethod
    def from_settings(cls, settings: Settings) -> AaiSettings:
        """From the ``aai_*`` settings; raises :class:`AaiError` when ``aai_url`` is unset."""
        if not settings.aai_url:
            raise AaiError("A&AI is not configured: set NFVD_AAI_URL")
        return cls(url=settings.aai_url, username=settings.aai_username,
                   password=settings.aai_password,
                   schema_version=settings.aai_schema_version, app_id=settings.aai_app_id,
                   timeout=settings.aai_timeout_seconds, ca_file=settings.aai_ca_file)


def aai_flavor(nova_flavor: Mapping[str, Any], capabilities: list[dict[str, Any]]
               ) -> dict[str, Any]:
    """The A&AI flavor object of a Nova flavor detail, holding ``capabilities``.

    Nova's ``swap`` is ``""`` for none: A&AI's ``flavor-swap`` is a string, ``"0"`` then.
    Fields Nova does not give are left out. Raises :class:`ValueError` without an ``id``.
    """
    if nova_flavor.get("id") in (None, ""):
        raise ValueError("the Nova flavor has no id")
    flavor: dict[str, Any] = {"flavor-id": str(nova_flavor["id"])}
    fields = (("flavor-name", "name"), ("flavor-vcpus", "vcpus"), ("flavor-ram", "ram"),
              ("flavor-disk", "disk"), ("flavor-ephemeral", "OS-FLV-EXT-DATA:ephemeral"),
              ("flavor-is-public", "os-flavor-access:is_public"),
              ("flavor-disabled", "OS-FLV-DISABLED:disabled"))
    for name, key in fields:
        if nova_flavor.get(key) is not None:
            flavor[name] = nova_flavor[key]
    if "swap" in nova_flavor:
        flavor["flavor-swap"] = str(nova_flavor["swap"] or 0)
    links = nova_flavor.get("links") or []
    selflink = [link.get("href") for link in links
                if isinstance(link, Mapping) and link.get("rel") == "self" and link.get("href")]
    if selflink:
        flavor["flavor-selflink"] = selflink[0]
    flavor["hpa-capabilities"] = {"hpa-capability": [dict(c) for c in capabilities]}
    return flavor


def _capabilities(flavor: Mapping[str, Any] | None) -> list[Any]:
    container = (flavor or {}).get("hpa-capabilities") or {}
    found = container.get("hpa-capability") if isinstance(container, Mapping) else None
    return list(found) if isinstance(found, list) else []


def _attributes(capability: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    found = (capability or {}).get("hpa-feature-attributes")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def _with_version(item: dict[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
    item.pop(RV, None)
    if old is not None and old.get(RV):
        item[RV] = old[RV]
    return item


def merge_flavor(current: Mapping[str, Any] | None, flavor: Mapping[str, Any]
                 ) -> dict[str, Any]:
    """The body that updates ``current`` (what A&AI holds, or None) to ``flavor``.

    ``flavor``'s fields win; fields only ``current`` has (a ``relationship-list``, say) are
    kept. Every ``resource-version`` comes from ``current``: the flavor's own, each
    capability's from the capability with the same ``hpa-capability-id``, and each
    attribute's from the attribute with the same key. A capability missing from ``flavor``'s
    list is left out, so the PUT removes it; without a ``hpa-capabilities`` key in
    ``flavor`` the capabilities are left alone.
    """
    merged = {key: value for key, value in copy.deepcopy(dict(current or {})).items()
              if key != "hpa-capabilities"}
    merged.update(copy.deepcopy(dict(flavor)))
    _with_version(merged, current)
    if "hpa-capabilities" not in flavor:
        return merged
    old_caps = {cap.get("hpa-capability-id"): cap for cap in _capabilities(current)
                if isinstance(cap, Mapping)}
    capabilities = []
    for cap in _capabilities(merged):
        if isinstance(cap, dict):  # anything else is A&AI's to refuse
            old = old_caps.get(cap.get("hpa-capability-id"))
            _with_version(cap, old)
            old_attrs = {a.get("hpa-attribute-key"): a for a in _attributes(old)}
            for attribute in _attributes(cap):
                _with_version(attribute, old_attrs.get(attribute.get("hpa-attribute-key")))
        capabilities.append(cap)
    merged["hpa-capabilities"] = {"hpa-capability": capabilities}
    return merged


def _error_text(body: bytes) -> str:
    """What an A&AI error body says (its ``%1``... filled in), or a snippet of the body."""
    try:
        data = json.loads(body)
        error = data["requestError"]
        exception = error.get("serviceException") or error.get("policyException")
        text = str(exception["text"])
        for number, value in reversed(list(enumerate(exception.get("variables") or [], 1))):
            text = text.replace(f"%{number}", str(value))
    except (ValueError, RecursionError, TypeError, KeyError, AttributeError):
        return snippet(body)
    return snippet(text.encode())


@dataclasses.dataclass(frozen=True)
class Answer:
    """An HTTP answer, its body read whole."""

    status: int
    reason: str
    body: bytes

    def json(self, what: str) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise AaiError(f"{what}: HTTP {self.status} answer is not a JSON object",
                           status=self.status)
        return data


class AaiClient:
    """Reads and writes flavors of A&AI cloud regions; safe to share between threads.

    A session given is used as it is (its connection pool should hold as many connections
    as threads share it); without one, the client makes its own with a pool of
    :data:`POOL_SIZE` and closes it in :meth:`close`.
    """

    def __init__(self, settings: AaiSettings, session: requests.Session | None = None) -> None:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise AaiError("A&AI url: expected an http:// or https:// URL without credentials")
        self.settings = settings
        self.base = f"{settings.url.rstrip('/')}/{quote(settings.schema_version, safe='')}"
        self._own_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        self._auth = None if settings.username is None else (settings.username,
                                                             settings.password or "")
        self._secrets = [settings.password or ""]
        if self._auth is not None:
            self._secrets.append(base64.b64encode(":".join(self._auth).encode()).decode())

    def __enter__(self) -> AaiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connections of the client's own session (a given one is left open)."""
        if self._own_session:
            self.session.close()

    def region_path(self, owner: str, region: str) -> str:
        """The path of a cloud region, below the base URL and schema version."""
        return (f"/cloud-infrastructure/cloud-regions/cloud-region/{quote(owner, safe='')}/"
                f"{quote(region, safe='')}")

    def flavor_path(self, owner: str, region: str, flavor_id: str) -> str:
        """The path of a flavor, below the base URL and schema version."""
        return f"{self.region_path(owner, region)}/flavors/flavor/{quote(flavor_id, safe='')}"

    def region_exists(self, owner: str, region: str) -> bool:
        """Whether A&AI has the cloud region (flavors can only be written under one)."""
        path = self.region_path(owner, region)
        answer = self.send("GET", path, {"depth": "0"})
        if answer.status in (200, 404):
            return answer.status == 200
        raise self.error("GET", path, answer)

    def get_flavor(self, owner: str, region: str, flavor_id: str, depth_all: bool = True
                   ) -> dict[str, Any] | None:
        """The flavor (with its capabilities when ``depth_all``), or None when A&AI has none."""
        return self.read(self.flavor_path(owner, region, flavor_id),
                         "all" if depth_all else None)

    def put_flavor(self, owner: str, region: str, flavor: Mapping[str, Any]) -> dict[str, Any]:
        """Creates or updates the flavor with its ``hpa-capabilities`` (:meth:`write` with
        :func:`merge_flavor`); AaiError with ``status`` 404 when the region is not in A&AI."""
        flavor_id = str(flavor.get("flavor-id") or "")
        if not flavor_id:
            raise AaiError("put_flavor: the flavor has no flavor-id")
        return self.write(self.flavor_path(owner, region, flavor_id),
                          lambda current: merge_flavor(current, flavor),
                          f" (is cloud region {owner}/{region} in A&AI?)")

    def delete_flavor(self, owner: str, region: str, flavor_id: str) -> bool:
        """Deletes the flavor's capabilities, then the flavor; False if A&AI had no flavor."""
        path = self.flavor_path(owner, region, flavor_id)
        return self.delete(path, lambda current: [
            (f"{path}/hpa-capabilities/hpa-capability/"
             f"{quote(str(cap.get('hpa-capability-id')), safe='')}", cap)
            for cap in _capabilities(current) if isinstance(cap, Mapping)])

    def read(self, path: str, depth: str | None = "all") -> dict[str, Any] | None:
        """The object at ``path`` read with ``depth`` (``all``: its nested children too), or
        None when A&AI has none."""
        answer = self.send("GET", path, None if depth is None else {"depth": depth})
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self.error("GET", path, answer)
        return answer.json(f"GET {self._url(path)}")

    def write(self, path: str, merge: Callable[[dict[str, Any] | None], dict[str, Any]],
              missing_hint: str = "") -> dict[str, Any]:
        """Creates or updates the object at ``path``; returns the body PUT.

        PUTs ``merge(what A&AI holds, or None)``, which carries the current versions; after a
        conflict (another writer was quicker) it reads and merges again, up to ``retries``
        times. ``missing_hint`` ends the error of a 404 (no parent). Raises AaiError.
        """
        for attempt in self.attempts():
            body = merge(self.read(path))
            answer = self.send("PUT", path, body=body)
            if answer.status in (200, 201, 204):
                log.debug("A&AI %s written", path)
                return body
            if answer.status not in CONFLICTS or attempt == self.settings.retries:
                raise self.error("PUT", path, answer,
                                 missing_hint if answer.status == 404 else "")
            log.info("A&AI %s changed meanwhile (%d); reading it again", path, answer.status)
        raise AssertionError("unreachable")  # pragma: no cover

    def delete(self, path: str, children: Callable[[dict[str, Any]], list[
            tuple[str, Mapping[str, Any]]]] = lambda current: []) -> bool:
        """Deletes the object at ``path`` after its nested ``children(object)`` (each a path
        and the child as read), each with the version just read; False if A&AI had no object.
        After a conflict the object is read again, up to ``retries`` times."""
        found = False
        for attempt in self.attempts():
            current = self.read(path)
            if current is None:
                return found
            found = True
            conflict = None
            for child_path, child in children(current):
                conflict = self._delete(child_path, child, attempt)
                if conflict:
                    break
            if conflict is None:
                conflict = self._delete(path, current, attempt)
                if not conflict:
                    log.debug("A&AI %s deleted", path)
                    return True
            log.info("A&AI %s changed meanwhile (%d); reading it again", path, conflict)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delete(self, path: str, item: Mapping[str, Any], attempt: int) -> int | None:
        """DELETEs ``item`` at ``path``; the status of a conflict to retry, else None."""
        answer = self.send("DELETE", path, {RV: str(item.get(RV, ""))})
        if answer.status in (200, 204, 404):
            return None
        if answer.status in CONFLICTS and attempt < self.settings.retries:
            return answer.status
        raise self.error("DELETE", path, answer)

    def attempts(self) -> Iterator[int]:
        """Attempt numbers 0 to ``settings.retries``: the first try, then each retry."""
        return iter(range(self.settings.retries + 1))

    def _url(self, path: str) -> str:
        return self.base + path

    def error(self, method: str, path: str, answer: Answer, hint: str = "") -> AaiError:
        """The error for an unwanted answer: what A&AI said about it, never a secret."""
        said = _error_text(answer.body)
        message = (f"{method} {self._url(path)}: HTTP {answer.status} {answer.reason}".rstrip()
                   + (f": {said}" if said else "") + hint)
        return AaiError(scrub(message, self._secrets), status=answer.status)

    def send(self, method: str, path: str, params: Mapping[str, str] | None = None,
             body: Mapping[str, Any] | None = None) -> Answer:
        """One request, sent again after a 5xx or a failed connection; the last answer."""
        for attempt in self.attempts():
            last = attempt == self.settings.retries
            try:
                answer = self._request(method, path, params, body)
            except _Unreachable as exc:
                if last:
                    raise
                log.warning("A&AI %s; trying again", exc)
            else:
                if answer.status < 500 or last:
                    return answer
                log.warning("A&AI %s %s answered %d; trying again", method, path,
                            answer.status)
            time.sleep(min(RETRY_DELAY * 2 ** attempt, MAX_DELAY))
        raise AssertionError("unreachable")  # pragma: no cover

    def _request(self, method: str, path: str, params: Mapping[str, str] | None,
                 body: Mapping[str, Any] | None) -> Answer:
        url = self._url(path)
        headers = {"X-FromAppId": self.settings.app_id, "X-TransactionId": str(uuid.uuid4()),
                   "Accept": "application/json", "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body)
        timeout = self.settings.timeout
        try:
            with self.session.request(method, url, params=params, data=data, headers=headers,
                                      auth=self._auth, timeout=(timeout, timeout),
                                      verify=self.settings.ca_file or True,
                                      allow_redirects=False, stream=True) as response:
                content = self._read(response, f"{method} {url}")
        except OSError as exc:  # requests' errors, and an unreadable CA file
            reason = scrub(transport_reason(exc), self._secrets)
            raise _Unreachable(f"{method} {url}: {reason}") from None
        return Answer(response.status_code, response.reason or "", content)

    @staticmethod
    def _read(response: requests.Response, what: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise AaiError(f"{what}: the answer is larger than {MAX_BODY_BYTES} bytes",
                               status=response.status_code)
            chunks.append(chunk)
        return b"".join(chunks)
