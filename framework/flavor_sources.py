"""Flavor sources: where the MultiCloud registry reads the flavors of one cloud region.

A source is a plugin of the entry-point group ``nfvd.flavor_sources``. The registry calls
``list_flavors`` with the parameters of the registration request and gets each flavor as the
pair that HPA discovery takes: ``{"flavor": <Nova flavor detail>, "extra_specs": {...}}``.
Two sources come with the core: ``InlineFlavorSource`` (the flavors are in the request) and
``OpenStackFlavorSource`` (Keystone v3 and the compute API of a real cloud).
"""

from __future__ import annotations

import abc
import dataclasses
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import requests

from framework.coordination.errors import scrub, snippet, transport_reason

__all__ = ["FlavorSource", "FlavorSourceError", "InlineFlavorSource", "OpenStackFlavorSource",
           "OpenStackSession", "normalize_flavor", "openstack_session"]

#: the first compute API microversion whose flavor details carry ``extra_specs``
COMPUTE_MICROVERSION = "2.61"
DEFAULT_TIMEOUT = 30.0
#: the Nova flavor fields every listed flavor has, with the value Nova gives when unset
FLAVOR_DEFAULTS: Mapping[str, Any] = {
    "disk": 0, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": True,
    "OS-FLV-DISABLED:disabled": False, "links": [],
}


class FlavorSourceError(Exception):
    """The flavors of a cloud region could not be listed; the message says which step failed.

    The message is one line, safe to log and to return to a client: it never holds a password
    or a token, and the exception carries no chained cause that could. ``status`` is the HTTP
    status behind the failure, if there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class FlavorSource(abc.ABC):
    """Lists one cloud region's flavors for the MultiCloud registry.

    A plugin of the entry-point group ``nfvd.flavor_sources``; the registration request names
    the source, and its body carries the source's parameters. A source holds no state between
    calls and may be called from several threads at once.
    """

    @abc.abstractmethod
    def list_flavors(self, owner: str, region: str,
                     params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every flavor of cloud region ``owner``/``region``, in the order the cloud lists them.

        Each item is ``{"flavor": {...}, "extra_specs": {...}}``. ``flavor`` is a Nova flavor
        detail with at least ``id`` and ``name`` (strings), ``vcpus``, ``ram``, ``disk``,
        ``swap``, ``OS-FLV-EXT-DATA:ephemeral``, ``os-flavor-access:is_public``,
        ``OS-FLV-DISABLED:disabled`` and ``links``, and without ``extra_specs``;
        ``extra_specs`` maps strings to strings. ``params`` is the part of the registration
        request body meant for the source. Raises ``FlavorSourceError`` when the flavors
        cannot be listed: a partial list is never returned.
        """


def normalize_flavor(item: Any, where: str) -> dict[str, Any]:
    """One flavor in the shape ``list_flavors`` returns, from either accepted input shape.

    ``item`` is ``{"flavor": {...}, "extra_specs": {...}}``, or a Nova flavor detail that
    holds its ``extra_specs`` inline (microversion 2.61 and later). Fields Nova always sets are
    filled with Nova's defaults when absent; other fields are kept as given. Scalar extra-spec
    values become strings. ``where`` names the item in the ``FlavorSourceError`` raised for a
    malformed one.
    """
    if not isinstance(item, Mapping):
        raise FlavorSourceError(f"{where}: a flavor must be an object")
    flavor = item["flavor"] if "flavor" in item else item
    if not isinstance(flavor, Mapping):
        raise FlavorSourceError(f"{where}.flavor: a flavor must be an object")
    specs = item.get("extra_specs") if "flavor" in item else None
    if specs is None:
        specs = flavor.get("extra_specs") or {}
    flavor_id = flavor.get("id")
    if isinstance(flavor_id, bool) or not isinstance(flavor_id, str | int) or flavor_id == "":
        raise FlavorSourceError(f"{where}: the flavor has no id")
    if not isinstance(flavor.get("name"), str) or not flavor["name"]:
        raise FlavorSourceError(f"{where}: the flavor has no name")
    if not isinstance(specs, Mapping):
        raise FlavorSourceError(f"{where}: extra_specs must be an object")
    extra_specs: dict[str, str] = {}
    for key, value in specs.items():
        if isinstance(value, dict | list) or value is None:
            raise FlavorSourceError(f"{where}: extra spec {key!r} must be a string")
        extra_specs[str(key)] = value if isinstance(value, str) else json.dumps(value)
    normal = dict(FLAVOR_DEFAULTS) | {k: v for k, v in flavor.items() if k != "extra_specs"}
    normal["id"] = str(flavor_id)
    return {"flavor": normal, "extra_specs": extra_specs}


class InlineFlavorSource(FlavorSource):
    """The flavors come with the registration request, in ``params["flavors"]``.

    For clouds nfvd cannot ask, and for tests. Each item is either shape that
    ``normalize_flavor`` accepts; flavor ids must be unique.
    """

    def list_flavors(self, owner: str, region: str,
                     params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The flavors of ``params["flavors"]``, normalized, in the given order."""
        items = params.get("flavors")
        if not isinstance(items, list):
            raise FlavorSourceError("flavors: a list of flavors is required")
        flavors: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            flavor = normalize_flavor(item, f"flavors[{index}]")
            flavor_id = flavor["flavor"]["id"]
            if flavor_id in seen:
                raise FlavorSourceError(f"flavors[{index}]: flavor id {flavor_id!r} is also "
                                        f"the id of flavors[{seen[flavor_id]}]")
            seen[flavor_id] = index
            flavors.append(flavor)
        return flavors


@dataclasses.dataclass(frozen=True)
class OpenStackSession:
    """A Keystone v3 token scoped to a project, and what comes with it.

    ``verify`` and ``timeout`` are the arguments every later request of the session takes;
    ``http`` carries them, and ``close`` releases its connections.
    """

    token: str = dataclasses.field(repr=False)
    catalog: list[dict[str, Any]]
    project: str
    verify: bool | str
    timeout: float
    http: requests.Session = dataclasses.field(repr=False, compare=False)

    def close(self) -> None:
        """Releases the connections of ``http``."""
        self.http.close()

    def endpoints(self, service_type: str, interface: str) -> dict[str, str]:
        """The catalog's URLs of ``service_type`` at ``interface``, by region."""
        return {point.get("region_id") or point.get("region") or "": point["url"].rstrip("/")
                for service in self.catalog if service.get("type") == service_type
                for point in service.get("endpoints") or []
                if point.get("interface") == interface and point.get("url")}

    def endpoint(self, service_type: str, region: str | None, interface: str) -> str:
        """The URL of ``service_type`` at ``interface``, in ``region``.

        ``region`` None means the only region the catalog has for this service. Raises
        ``FlavorSourceError`` when the catalog has no such endpoint.
        """
        urls = self.endpoints(service_type, interface)
        if not urls:
            raise FlavorSourceError(f"the catalog of project {self.project} has no {interface} "
                                    f"{service_type} endpoint")
        if region is None and len(urls) == 1:
            return next(iter(urls.values()))
        if region is None or region not in urls:
            known = ", ".join(sorted(urls))
            wanted = f"in region {region}" if region else "without a regionName"
            raise FlavorSourceError(f"no {interface} {service_type} endpoint {wanted} "
                                    f"(the catalog has regions: {known})")
        return urls[region]

    def call(self, method: str, url: str, step: str, *, json_body: Any = None,
             headers: Mapping[str, str] | None = None) -> requests.Response:
        """One request with the session's token, TLS settings and timeout."""
        return _call(self.http, method, url, step, headers={"X-Auth-Token": self.token,
                                                             **(headers or {})},
                     json_body=json_body, verify=self.verify, timeout=self.timeout,
                     secrets=(self.token,))


def _call(http: requests.Session, method: str, url: str, step: str, *,
          headers: Mapping[str, str], json_body: Any, verify: bool | str, timeout: float,
          secrets: tuple[str, ...]) -> requests.Response:
    # The error is raised outside the except clause: a requests exception keeps the request,
    # whose headers and body hold the token or the password, and must not become its context.
    failure = ""
    try:
        response = http.request(method, url, headers={"Accept": "application/json", **headers},
                                json=json_body, verify=verify, timeout=timeout,
                                allow_redirects=False)
    except requests.Timeout:
        failure = f"{step}: no answer from {url} within {timeout:g} s"
    except (requests.RequestException, OSError) as exc:
        failure = f"{step}: cannot reach {url}: {scrub(transport_reason(exc), secrets)}"
    if failure:
        raise FlavorSourceError(failure)
    return response


def _refusal(step: str, response: requests.Response, secrets: tuple[str, ...]) -> FlavorSourceError:
    """The error for an unwanted answer, quoting what the server said about it."""
    said = ""
    try:
        body = response.json()
    except ValueError:
        said = snippet(response.content)
    else:
        if isinstance(body, Mapping):
            for inner in body.values():  # Keystone {"error": {...}}, Nova {"itemNotFound": {...}}
                if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
                    said = snippet(inner["message"].encode())
                    break
    text = f"{step}: HTTP {response.status_code}" + (f": {said}" if said else "")
    return FlavorSourceError(scrub(text, secrets), status=response.status_code)


def _json(step: str, response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise FlavorSourceError(f"{step}: the answer is not a JSON object",
                                status=response.status_code)
    return body


def _text(openstack: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = openstack.get(key, default)
    if not isinstance(value, str) or not value:
        raise FlavorSourceError(f"openstack.{key}: a non-empty string is required")
    return value


def openstack_session(openstack: Mapping[str, Any],
                      http: requests.Session | None = None) -> OpenStackSession:
    """Authenticates with Keystone v3 (password, project scope) and returns the session.

    ``openstack`` is the ``openstack`` object of the parameters of ``OpenStackFlavorSource``;
    every request goes through ``http``, a new ``requests.Session`` when None, which the
    caller closes in the end (``OpenStackSession.close``). Raises ``FlavorSourceError`` when
    the parameters are incomplete, Keystone cannot be reached, or it refuses the credentials.
    """
    if not isinstance(openstack, Mapping):
        raise FlavorSourceError("openstack: the connection parameters are required")
    auth_url = _text(openstack, "authUrl").rstrip("/")
    username = _text(openstack, "username")
    password = _text(openstack, "password")
    project = _text(openstack, "projectName")
    timeout = openstack.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise FlavorSourceError("openstack.timeout: a positive number of seconds is required")
    verify: bool | str = _text(openstack, "caFile") if "caFile" in openstack else True
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": username, "password": password,
            "domain": {"name": _text(openstack, "userDomainName", "Default")}}}},
        "scope": {"project": {
            "name": project, "domain": {"name": _text(openstack, "projectDomainName", "Default")}}},
    }}
    step = f"Keystone authentication at {auth_url}"
    http = http or requests.Session()
    response = _call(http, "POST", f"{auth_url}/auth/tokens", step, headers={},
                     json_body=body, verify=verify, timeout=float(timeout), secrets=(password,))
    if response.status_code == 401:
        raise FlavorSourceError(f"Keystone refused the credentials for user {username} "
                                f"(project {project})", status=401)
    if response.status_code == 404:
        raise FlavorSourceError(f"{step}: HTTP 404: authUrl must be the Keystone v3 URL, "
                                "such as http://keystone:5000/v3", status=404)
    if response.status_code != 201:
        raise _refusal(step, response, (password,))
    token = response.headers.get("X-Subject-Token", "")
    scoped = _json(step, response).get("token")
    catalog = scoped.get("catalog") if isinstance(scoped, dict) else None
    if not token or not isinstance(catalog, list):
        raise FlavorSourceError(f"{step}: the answer holds no token or no catalog")
    return OpenStackSession(token=token, catalog=catalog, project=project, verify=verify,
                            timeout=float(timeout), http=http)


class OpenStackFlavorSource(FlavorSource):
    """The flavors of an OpenStack cloud, read with the compute API.

    ``params["openstack"]`` holds ``authUrl`` (Keystone v3), ``username``, ``password``,
    ``projectName``; optionally ``userDomainName`` and ``projectDomainName`` (``Default``),
    ``regionName`` (the catalog region; by default the ``region`` argument when the catalog
    has it, else the catalog's only region), ``interface`` (``public``), ``caFile`` (CA
    bundle for HTTPS), ``timeout`` (seconds per request, 30) and ``pageSize`` (flavors per
    page; by default Nova's own limit). Public and private flavors are listed (private ones
    only as far as the user may see them); their extra specs come inline with microversion
    2.61, or from ``os-extra_specs`` for a cloud that does not offer it.
    """

    #: the compute API microversion asked for; a cloud without it answers 406
    microversion = COMPUTE_MICROVERSION

    def __init__(self, http: requests.Session | None = None) -> None:
        """``http``: the session for every request; by default a new one for each listing."""
        self._http = http

    def list_flavors(self, owner: str, region: str,
                     params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every flavor of the project's compute endpoint, with its extra specs."""
        openstack = params.get("openstack")
        if not isinstance(openstack, Mapping):
            raise FlavorSourceError("openstack: the connection parameters are required")
        page_size = openstack.get("pageSize")
        if page_size is not None and (isinstance(page_size, bool)
                                      or not isinstance(page_size, int) or page_size < 1):
            raise FlavorSourceError("openstack.pageSize: a positive integer is required")
        interface = _text(openstack, "interface", "public")
        http = self._http or requests.Session()
        try:
            session = openstack_session(openstack, http)
            region_name = _text(openstack, "regionName") if openstack.get("regionName") else None
            if region_name is None and region in session.endpoints("compute", interface):
                region_name = region
            compute = session.endpoint("compute", region_name, interface)
            flavors = self._with_specs(session, compute, self._pages(session, compute, page_size))
        finally:
            if self._http is None:
                http.close()
        return [normalize_flavor(flavor, f"compute flavor {flavor.get('id')!r}")
                for flavor in flavors]

    def _pages(self, session: OpenStackSession, compute: str,
               page_size: int | None) -> list[dict[str, Any]]:
        headers = {"OpenStack-API-Version": f"compute {self.microversion}",
                   "X-OpenStack-Nova-API-Version": self.microversion}
        flavors: list[dict[str, Any]] = []
        marker: str | None = None
        markers: set[str] = set()
        while True:
            query = {"is_public": "None"}
            if page_size:
                query["limit"] = str(page_size)
            if marker:
                query["marker"] = marker
            url = f"{compute}/flavors/detail?{urlencode(query)}"
            step = f"listing the flavors at {compute}"
            response = session.call("GET", url, step, headers=headers)
            if response.status_code == 406 and headers:  # a cloud older than the microversion
                headers = {}
                continue
            if response.status_code != 200:
                raise _refusal(step, response, ())
            body = _json(step, response)
            page = body.get("flavors")
            if not isinstance(page, list) or not all(isinstance(f, dict) for f in page):
                raise FlavorSourceError(f"{step}: the answer holds no list of flavors")
            flavors.extend(page)
            marker = self._next_marker(body, page)
            if marker is None or marker in markers:
                return flavors
            markers.add(marker)

    @staticmethod
    def _next_marker(body: Mapping[str, Any], page: list[dict[str, Any]]) -> str | None:
        # The "next" link is built from the host Nova thinks it has, which may not be the one
        # the catalog names: only its marker is used, with the catalog's URL.
        for link in body.get("flavors_links") or []:
            if isinstance(link, Mapping) and link.get("rel") == "next":
                found = parse_qs(urlsplit(str(link.get("href", ""))).query).get("marker")
                if found:
                    return found[0]
                return str(page[-1].get("id")) if page else None
        return None

    @staticmethod
    def _with_specs(session: OpenStackSession, compute: str,
                    flavors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for flavor in flavors:
            if isinstance(flavor.get("extra_specs"), Mapping):
                continue
            step = f"reading the extra specs of flavor {flavor.get('id')!r}"
            url = f"{compute}/flavors/{quote(str(flavor.get('id')), safe='')}/os-extra_specs"
            response = session.call("GET", url, step)
            if response.status_code != 200:
                raise _refusal(step, response, ())
            flavor["extra_specs"] = _json(step, response).get("extra_specs") or {}
        return flavors
