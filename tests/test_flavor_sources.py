"""Flavor sources: inline flavors, and the flavors of a real Keystone and nova-api."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fixtures.kafka import free_port
from fixtures.openstack import OpenStack

from framework.flavor_sources import (
    FlavorSourceError,
    InlineFlavorSource,
    OpenStackFlavorSource,
    openstack_session,
)

SRIOV = {"aggregate_instance_extra_specs:sriov_nic": "sriov-nic-intel-8086-15b3-physnet-1:1",
         "hw:cpu_policy": "dedicated"}
NOVA_FIELDS = {"id", "name", "vcpus", "ram", "disk", "swap", "OS-FLV-EXT-DATA:ephemeral",
               "os-flavor-access:is_public", "OS-FLV-DISABLED:disabled", "links"}


def inline(*flavors: Any) -> list[dict[str, Any]]:
    return InlineFlavorSource().list_flavors("owner", "region", {"flavors": list(flavors)})


# --- inline ---------------------------------------------------------------------------------

def test_inline_accepts_both_shapes_and_fills_nova_defaults() -> None:
    paired = {"flavor": {"id": "1", "name": "onap.small", "vcpus": 2, "ram": 2048},
              "extra_specs": {"hw:cpu_policy": "dedicated"}}
    nova = {"id": 2, "name": "onap.large", "vcpus": 8, "ram": 8192, "disk": 40, "swap": 512,
            "description": "kept", "extra_specs": {"hw:numa_nodes": 2, "hw:cpu_realtime": True}}
    first, second = inline(paired, nova)
    assert first == {"flavor": {"id": "1", "name": "onap.small", "vcpus": 2, "ram": 2048,
                                "disk": 0, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0,
                                "os-flavor-access:is_public": True,
                                "OS-FLV-DISABLED:disabled": False, "links": []},
                     "extra_specs": {"hw:cpu_policy": "dedicated"}}
    assert second["flavor"]["id"] == "2"
    assert second["flavor"]["disk"] == 40 and second["flavor"]["swap"] == 512
    assert second["flavor"]["description"] == "kept"
    assert "extra_specs" not in second["flavor"]
    assert second["extra_specs"] == {"hw:numa_nodes": "2", "hw:cpu_realtime": "true"}


def test_inline_pair_without_extra_specs_takes_the_inline_ones_or_none() -> None:
    nested = {"flavor": {"id": "a", "name": "x", "extra_specs": {"k": "v"}}}
    bare = {"flavor": {"id": "b", "name": "y"}}
    assert [f["extra_specs"] for f in inline(nested, bare)] == [{"k": "v"}, {}]


def test_inline_empty_list() -> None:
    assert inline() == []


@pytest.mark.parametrize(("item", "message"), [
    ({"flavor": {"name": "x"}}, "flavors[1]: the flavor has no id"),
    ({"id": "", "name": "x"}, "flavors[1]: the flavor has no id"),
    ({"id": True, "name": "x"}, "flavors[1]: the flavor has no id"),
    ({"id": "9"}, "flavors[1]: the flavor has no name"),
    ({"flavor": {"id": "9", "name": 3}}, "flavors[1]: the flavor has no name"),
    ("onap.small", "flavors[1]: a flavor must be an object"),
    ({"flavor": ["id"]}, "flavors[1].flavor: a flavor must be an object"),
    ({"id": "9", "name": "x", "extra_specs": ["a"]}, "flavors[1]: extra_specs must be an object"),
    ({"id": "9", "name": "x", "extra_specs": {"k": {"v": 1}}},
     "flavors[1]: extra spec 'k' must be a string"),
    ({"id": "9", "name": "x", "extra_specs": {"k": None}},
     "flavors[1]: extra spec 'k' must be a string"),
    ({"id": "0", "name": "again"}, "flavors[1]: flavor id '0' is also the id of flavors[0]"),
])
def test_inline_names_the_malformed_item(item: Any, message: str) -> None:
    with pytest.raises(FlavorSourceError) as caught:
        inline({"id": "0", "name": "ok"}, item)
    assert str(caught.value) == message


@pytest.mark.parametrize("params", [{}, {"flavors": {"id": "1"}}, {"flavors": None}])
def test_inline_needs_a_list(params: dict[str, Any]) -> None:
    with pytest.raises(FlavorSourceError, match=r"^flavors: a list of flavors is required$"):
        InlineFlavorSource().list_flavors("owner", "region", params)


# --- OpenStack parameters and transport, no cloud needed -----------------------------------

BASE = {"authUrl": "http://127.0.0.1:9/v3", "username": "u", "password": "p-secret",
        "projectName": "p"}


@pytest.mark.parametrize(("openstack", "message"), [
    (None, "openstack: the connection parameters are required"),
    ({k: v for k, v in BASE.items() if k != "password"},
     "openstack.password: a non-empty string is required"),
    (BASE | {"authUrl": ""}, "openstack.authUrl: a non-empty string is required"),
    (BASE | {"pageSize": 0}, "openstack.pageSize: a positive integer is required"),
    (BASE | {"pageSize": True}, "openstack.pageSize: a positive integer is required"),
    (BASE | {"timeout": -1}, "openstack.timeout: a positive number of seconds is required"),
    (BASE | {"interface": 7}, "openstack.interface: a non-empty string is required"),
])
def test_openstack_parameters_are_checked(openstack: Any, message: str) -> None:
    with pytest.raises(FlavorSourceError) as caught:
        OpenStackFlavorSource().list_flavors("owner", "region", {"openstack": openstack})
    assert str(caught.value) == message


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_silent_keystone_times_out(silent_port: int) -> None:
    params = BASE | {"authUrl": f"http://127.0.0.1:{silent_port}/v3", "timeout": 0.3}
    with pytest.raises(FlavorSourceError) as caught:
        OpenStackFlavorSource().list_flavors("owner", "region", {"openstack": params})
    assert str(caught.value) == (f"Keystone authentication at http://127.0.0.1:{silent_port}/v3:"
                                 f" no answer from http://127.0.0.1:{silent_port}/v3/auth/tokens"
                                 " within 0.3 s")


def test_unreachable_keystone_is_named_and_the_password_is_not() -> None:
    url = f"http://127.0.0.1:{free_port()}/v3"
    with pytest.raises(FlavorSourceError) as caught:
        OpenStackFlavorSource().list_flavors("owner", "region",
                                             {"openstack": BASE | {"authUrl": url}})
    message = str(caught.value)
    assert message.startswith(f"Keystone authentication at {url}: cannot reach {url}/auth/tokens:")
    assert "refused" in message.lower()
    assert_no_secret(caught.value, "p-secret")


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    """Neither the error nor anything chained to it shows a secret."""
    assert error.__cause__ is None and error.__context__ is None
    shown = f"{error!s} {error!r} {vars(error)!r}"
    for secret in secrets:
        assert secret not in shown


# --- OpenStack: the real Keystone and nova-api ----------------------------------------------

def cloud(test: Any) -> Any:
    """Marks a test that uses the real Keystone and nova-api."""
    return pytest.mark.slow(pytest.mark.openstack(test))


class Recording(requests.Session):
    """A requests session that remembers the URL of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        self.urls.append(str(url))
        return super().request(method, url, *args, **kwargs)


def unique(prefix: str = "nfvd-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def made(openstack: OpenStack) -> Iterator[list[str]]:
    """The ids of the flavors a test creates; all deleted afterwards."""
    ids: list[str] = []
    yield ids
    for flavor_id in ids:
        openstack.delete_flavor(flavor_id)


def listed(openstack: OpenStack, ids: list[str], source: OpenStackFlavorSource | None = None,
           **extra: Any) -> dict[str, dict[str, Any]]:
    found = (source or OpenStackFlavorSource()).list_flavors(
        "CloudOwner", "RegionOne", {"openstack": openstack.params | extra})
    return {item["flavor"]["id"]: item for item in found if item["flavor"]["id"] in ids}


@cloud
def test_flavors_come_with_their_extra_specs(openstack: OpenStack, made: list[str]) -> None:
    name = unique("onap.nfvd-test")
    made.append(openstack.create_flavor(name, 2, 2048, 20, SRIOV))
    made.append(openstack.create_flavor(unique(), 1, 512, 1, None, is_public=False))
    found = listed(openstack, made)
    assert set(found) == set(made)
    sriov, plain = found[made[0]], found[made[1]]
    assert sriov["extra_specs"] == SRIOV
    assert plain["extra_specs"] == {}
    assert NOVA_FIELDS <= set(sriov["flavor"]) and "extra_specs" not in sriov["flavor"]
    assert (sriov["flavor"]["name"], sriov["flavor"]["vcpus"], sriov["flavor"]["ram"],
            sriov["flavor"]["disk"]) == (name, 2, 2048, 20)
    assert plain["flavor"]["os-flavor-access:is_public"] is False


@cloud
def test_pages_are_followed(openstack: OpenStack, made: list[str]) -> None:
    for size in (1, 2, 3):
        made.append(openstack.create_flavor(unique(), size, 256 * size, size, {"nfvd:page": "y"}))
    with Recording() as http:
        found = listed(openstack, made, OpenStackFlavorSource(http), pageSize=2)
    assert set(found) == set(made)
    assert all(item["extra_specs"] == {"nfvd:page": "y"} for item in found.values())
    pages = [url for url in http.urls if "/flavors/detail" in url]
    assert len(pages) >= 2
    assert all("limit=2" in url for url in pages) and "marker=" in pages[-1]
    assert not any("os-extra_specs" in url for url in http.urls)


@cloud
@pytest.mark.parametrize("microversion", ["2.60", "9.99"])
def test_extra_specs_are_fetched_when_not_inline(openstack: OpenStack, made: list[str],
                                                 microversion: str) -> None:
    # 2.60 lists flavors without extra_specs; 9.99 is refused (406) and the source falls back
    made.append(openstack.create_flavor(unique(), 1, 256, 1, SRIOV))
    source = type("Older", (OpenStackFlavorSource,), {"microversion": microversion})
    with Recording() as http:
        found = listed(openstack, made, source(http))
    assert found[made[0]]["extra_specs"] == SRIOV
    assert any(url.endswith(f"/flavors/{made[0]}/os-extra_specs") for url in http.urls)


@cloud
def test_the_region_argument_or_the_only_region_is_used(openstack: OpenStack) -> None:
    params = {"openstack": {k: v for k, v in openstack.params.items() if k != "regionName"}}
    assert isinstance(OpenStackFlavorSource().list_flavors("o", "RegionOne", params), list)
    assert isinstance(OpenStackFlavorSource().list_flavors("o", "elsewhere", params), list)


@cloud
def test_an_unknown_region_is_refused(openstack: OpenStack) -> None:
    with pytest.raises(FlavorSourceError) as caught:
        listed(openstack, [], regionName="Atlantis")
    assert str(caught.value) == ("no public compute endpoint in region Atlantis "
                                 "(the catalog has regions: RegionOne)")


@cloud
def test_a_wrong_password_is_refused_without_showing_it(openstack: OpenStack) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    with pytest.raises(FlavorSourceError) as caught:
        listed(openstack, [], password=wrong)
    assert str(caught.value) == "Keystone refused the credentials for user admin (project admin)"
    assert caught.value.status == 401
    assert_no_secret(caught.value, wrong, openstack.params["password"])


@cloud
def test_an_auth_url_without_the_version_gets_a_hint(openstack: OpenStack) -> None:
    root = openstack.params["authUrl"].removesuffix("/v3")
    with pytest.raises(FlavorSourceError, match=r"HTTP 404: authUrl must be the Keystone v3 URL"):
        listed(openstack, [], authUrl=root)


@cloud
def test_a_project_without_compute_is_refused(openstack: OpenStack) -> None:
    with openstack.project_without_compute() as params, \
            pytest.raises(FlavorSourceError) as caught:
        OpenStackFlavorSource().list_flavors("o", "RegionOne", {"openstack": params})
    assert str(caught.value) == (f"the catalog of project {params['projectName']} has no "
                                 "public compute endpoint")
    assert_no_secret(caught.value, params["password"])


@cloud
def test_the_session_hides_its_token(openstack: OpenStack) -> None:
    session = openstack_session(openstack.params)
    try:
        assert session.token and session.token not in repr(session)
        assert session.endpoint("compute", None, "public") == openstack.compute
    finally:
        session.close()

