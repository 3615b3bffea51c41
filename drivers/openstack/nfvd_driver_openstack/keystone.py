"""Keystone v3 over REST: project-scoped tokens, cached until shortly before they expire.

A :class:`KeystoneClient` is shared by every thread of a process: it keeps one token per
(auth URL, identity, project) and authenticates again only when that token nears its
``expires_at`` or a service refused it. A :class:`KeystoneSession` is one project's view of a
cloud region: its token, its project, and the endpoints of its catalog.

Every error is a :class:`~framework.workloads.WorkloadError` whose message is one line and
holds no password, application-credential secret or token. A requests exception is never
chained to it: its request still carries the token or the password.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from framework.coordination.errors import scrub, snippet, transport_reason
from framework.workloads import CloudRegion, WorkloadError, WorkloadGone, WorkloadRejected

__all__ = ["KeystoneClient", "KeystoneSession", "Token", "refusal"]

#: a token is renewed this many seconds before Keystone's ``expires_at``
RENEW_BEFORE = 120.0
#: what Keystone's ids look like: a value of this shape is tried as a project id first
PROJECT_ID = re.compile(r"[0-9a-f]{32}")
#: how much of what a server said is quoted in an error
SAID_CHARS = 500


@dataclasses.dataclass(frozen=True)
class Token:
    """A project-scoped Keystone token with what came with it.

    ``expires_at`` is in seconds since the epoch; ``catalog`` is the token's service catalog.
    """

    value: str = dataclasses.field(repr=False)
    expires_at: float
    project_id: str
    project_name: str | None
    catalog: list[dict[str, Any]] = dataclasses.field(repr=False, compare=False)


def refusal(step: str, response: requests.Response, secrets: tuple[str, ...] = ()) -> WorkloadError:
    """The error for an unwanted answer: 400 rejected, 404 gone, else a failure.

    It quotes what the server said: Heat's ``error.message`` (its reason, such as a template
    that does not validate), Keystone's ``error.message``, or the start of any other body.
    """
    said = ""
    try:
        body = response.json()
    except ValueError:
        said = snippet(response.content, SAID_CHARS)
    else:
        if isinstance(body, Mapping):
            error = body.get("error")
            message = error.get("message") if isinstance(error, Mapping) else None
            if not isinstance(message, str) or not message.strip():
                message = body.get("explanation") or body.get("title")
            if isinstance(message, str):
                said = snippet(message.encode(), SAID_CHARS)
    status = response.status_code
    text = scrub(f"{step}: HTTP {status}" + (f": {said}" if said else ""), secrets)
    kind = {400: WorkloadRejected, 404: WorkloadGone}.get(status, WorkloadError)
    return kind(text, status=status)


def _expiry(text: Any) -> float:
    try:
        moment = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


class KeystoneClient:
    """Authenticates cloud regions' users with Keystone v3 and caches their tokens.

    Password authentication (``username`` in ``user_domain``) or an application credential
    (id and secret). The project is the one given to :meth:`session`, else the region's
    ``default_project``: a value of 32 lowercase hex digits is tried as a project id and, when
    Keystone answers 401, as a name; any other value is a name in ``project_domain``. An
    application credential is bound to its project, which must then be the one asked for.
    Thread-safe: concurrent callers for the same key wait for one authentication.
    """

    def __init__(self, http: requests.Session | None = None, *,
                 renew_before: float = RENEW_BEFORE,
                 clock: Callable[[], float] = time.time) -> None:
        self._http = http or requests.Session()
        self._renew_before = renew_before
        self._clock = clock
        self._tokens: dict[tuple[str, ...], Token] = {}
        self._locks: dict[tuple[str, ...], threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def http(self) -> requests.Session:
        """The requests session every call to Keystone and to the services goes through."""
        return self._http

    def session(self, region: CloudRegion, project: str | None) -> KeystoneSession:
        """The view of ``project`` (None: the region's default project) in ``region``.

        Authenticates now unless a valid token is cached, so bad credentials fail here.
        """
        wanted = project if project else region.default_project
        if not wanted:
            raise WorkloadError(f"cloud region {region.owner}/{region.region} has no default "
                                "project, and the request names none")
        session = KeystoneSession(self, region, wanted)
        session.token()
        return session

    def token(self, region: CloudRegion, project: str, *,
              refused: Token | None = None) -> Token:
        """A valid token for ``project``; ``refused`` is one a service refused (401), which
        is replaced unless another thread replaced it already."""
        key = self._key(region, project)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._tokens.get(key)
            if (cached is not None and cached != refused
                    and self._clock() < cached.expires_at - self._renew_before):
                return cached
            token = self._authenticate(region, project)
            self._tokens[key] = token
            return token

    def forget(self, region: CloudRegion, project: str) -> None:
        """Drops the cached token of ``project``: the next call authenticates again."""
        with self._guard:
            self._tokens.pop(self._key(region, project), None)

    @staticmethod
    def _key(region: CloudRegion, project: str) -> tuple[str, ...]:
        # The digest of the secret keeps a token obtained with one password from serving a
        # deployment location that gives the same user with another one.
        secret = region.password or region.application_credential_secret or ""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        identity: tuple[str, ...]
        if region.application_credential_id:
            identity = ("application_credential", region.application_credential_id)
        else:
            identity = ("password", region.user_domain, region.username or "")
        return (_auth_url(region), *identity, digest, region.project_domain, project)

    def _authenticate(self, region: CloudRegion, project: str) -> Token:
        auth_url = _auth_url(region)
        if region.application_credential_id:
            if not region.application_credential_secret:
                raise WorkloadError(f"cloud region {region.owner}/{region.region}: the "
                                    "application credential has no secret")
            token = self._post(region, {
                "methods": ["application_credential"],
                "application_credential": {"id": region.application_credential_id,
                                           "secret": region.application_credential_secret}},
                project)
            if project not in (token.project_id, token.project_name):
                raise WorkloadError(
                    f"Keystone at {auth_url}: application credential "
                    f"{region.application_credential_id} is for project {token.project_name} "
                    f"({token.project_id}), not {project}", status=403)
            return token
        if not region.username or not region.password:
            raise WorkloadError(f"cloud region {region.owner}/{region.region} has neither a "
                                "username and password nor an application credential")
        identity = {"methods": ["password"], "password": {"user": {
            "name": region.username, "password": region.password,
            "domain": {"name": region.user_domain}}}}
        by_name = {"project": {"name": project, "domain": {"name": region.project_domain}}}
        if PROJECT_ID.fullmatch(project):
            try:
                return self._post(region, identity, project, {"project": {"id": project}})
            except WorkloadError as exc:
                if exc.status != 401:
                    raise
        return self._post(region, identity, project, by_name)

    def _post(self, region: CloudRegion, identity: dict[str, Any], project: str,
              scope: dict[str, Any] | None = None) -> Token:
        auth_url = _auth_url(region)
        step = f"Keystone authentication at {auth_url}"
        auth: dict[str, Any] = {"identity": identity}
        if scope is not None:
            auth["scope"] = scope
        response = call(self._http, region, "POST", f"{auth_url}/auth/tokens", step,
                        json_body={"auth": auth}, token=None)
        who = (f"application credential {region.application_credential_id}"
               if region.application_credential_id
               else f"user {region.username} (domain {region.user_domain})")
        if response.status_code == 401:
            raise WorkloadError(f"Keystone at {auth_url} refused to authenticate {who} for "
                                f"project {project}: wrong credentials, or no role in that "
                                "project", status=401)
        if response.status_code == 404:
            raise WorkloadError(f"{step}: HTTP 404: the auth URL must be Keystone's v3 URL, "
                                "such as http://keystone:5000/v3", status=404)
        if response.status_code != 201:
            refused = refusal(step, response, region.secrets)
            raise WorkloadError(str(refused), status=refused.status)
        value = response.headers.get("X-Subject-Token", "")
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("token") if isinstance(body, dict) else None
        scoped = token.get("project") if isinstance(token, dict) else None
        if not value or not isinstance(token, dict) or not isinstance(scoped, dict):
            raise WorkloadError(f"{step}: the answer holds no project-scoped token")
        catalog = token.get("catalog")
        name = scoped.get("name")
        return Token(value=value, expires_at=_expiry(token.get("expires_at")),
                     project_id=str(scoped.get("id", "")),
                     project_name=name if isinstance(name, str) else None,
                     catalog=catalog if isinstance(catalog, list) else [])


class KeystoneSession:
    """One project of one cloud region: its current token and its service endpoints.

    :meth:`request` sends the token; when a service answers 401 (the token was revoked or
    has expired early) it gets a new token once and sends the request again.
    """

    def __init__(self, client: KeystoneClient, region: CloudRegion, project: str) -> None:
        self.client = client
        self.region = region
        self.project = project
        self._token: Token | None = None

    def token(self) -> Token:
        """The current token, from the client's cache (authenticating if needed)."""
        self._token = self.client.token(self.region, self.project)
        return self._token

    @property
    def project_id(self) -> str:
        """The id of the project the token is scoped to."""
        return (self._token or self.token()).project_id

    @property
    def project_name(self) -> str | None:
        """The name of the project the token is scoped to."""
        return (self._token or self.token()).project_name

    def endpoint(self, service_type: str) -> str:
        """The catalog's URL of ``service_type`` at the region's interface, without a final /.

        The region is the cloud region's ``catalog_region``, else the only region the catalog
        has for the service, else the cloud region's own name.
        """
        interface = self.region.interface
        urls: dict[str, str] = {}
        for service in (self._token or self.token()).catalog:
            if not isinstance(service, Mapping) or service.get("type") != service_type:
                continue
            for point in service.get("endpoints") or []:
                if (isinstance(point, Mapping) and point.get("interface") == interface
                        and point.get("url")):
                    region = point.get("region_id") or point.get("region") or ""
                    urls[str(region)] = str(point["url"]).rstrip("/")
        if not urls:
            raise WorkloadError(f"the catalog of project {self.project} has no {interface} "
                                f"{service_type} endpoint")
        wanted = self.region.catalog_region
        if wanted is None and len(urls) == 1:
            return next(iter(urls.values()))
        wanted = wanted or self.region.region
        if wanted not in urls:
            raise WorkloadError(f"the catalog has no {interface} {service_type} endpoint in "
                                f"region {wanted} (its regions: {', '.join(sorted(urls))})")
        return urls[wanted]

    def request(self, method: str, url: str, step: str, *, json_body: Any = None,
                params: Mapping[str, str] | None = None) -> requests.Response:
        """``method`` on ``url`` with the token; a 401 renews the token and retries once.

        Redirects are not followed. Raises :class:`WorkloadError` when the service cannot
        be reached; any HTTP answer is returned for the caller to judge.
        """
        token = self.token()
        response = call(self.client.http, self.region, method, url, step, json_body=json_body,
                        params=params, token=token.value)
        if response.status_code != 401:
            return response
        self._token = self.client.token(self.region, self.project, refused=token)
        return call(self.client.http, self.region, method, url, step, json_body=json_body,
                    params=params, token=self._token.value)


def call(http: requests.Session, region: CloudRegion, method: str, url: str, step: str, *,
         json_body: Any = None, params: Mapping[str, str] | None = None,
         token: str | None) -> requests.Response:
    """One request with the region's CA bundle and timeout, and ``token`` if given."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["X-Auth-Token"] = token
    secrets = (*region.secrets, *((token,) if token else ()))
    verify: bool | str = region.ca_file or True
    # The error is raised outside the except clause, so that the requests exception (whose
    # request holds the token or the password) does not become its context.
    failure = ""
    try:
        response = http.request(method, url, headers=headers, json=json_body, params=params,
                                verify=verify, timeout=region.timeout, allow_redirects=False)
    except requests.Timeout:
        failure = f"{step}: no answer from {url} within {region.timeout:g} s"
    except (requests.RequestException, OSError) as exc:
        failure = f"{step}: cannot reach {url}: {transport_reason(exc)}"
    if failure:
        raise WorkloadError(scrub(failure, secrets))
    return response


def _auth_url(region: CloudRegion) -> str:
    """The region's Keystone URL without a final /; a bare ``scheme://host:port`` gets /v3."""
    url = region.auth_url.rstrip("/")
    if urlsplit(url).path in ("", "/"):
        url += "/v3"
    return url
