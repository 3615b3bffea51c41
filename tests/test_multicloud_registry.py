"""The MultiCloud registry over real HTTP: a region's flavors from a flavor source, HPA
discovery, A&AI written (the stand-in of tests/fixtures/aai.py: A&AI cannot run here),
re-registration in place, and unregistering; the SR-IOV path against the real nova-api."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from fixtures.aai import AaiStandIn
from fixtures.servers import ThreadServer

OWNER, REGION = "CloudOwner", "RegionOne"
SRIOV = {"aggregate_instance_extra_specs:sriov_nic": "sriov-nic-intel-8086-15b3-physnet-1:1"}
PROBLEM = "application/problem+json"


def nova(flavor_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": flavor_id, "name": name, "vcpus": 2, "ram": 2048, "disk": 20, "swap": "",
            "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": True, **extra}


FLAVORS = [{"flavor": nova("1", "onap.sriov"), "extra_specs": SRIOV},
           {"flavor": nova("2", "onap.pinned"), "extra_specs": {"hw:cpu_policy": "dedicated"}},
           {"flavor": nova("3", "m1.small"), "extra_specs": {"hw:cpu_policy": "dedicated"}}]


@pytest.fixture
def nfvd(serve: Callable[..., ThreadServer], settings_factory: Callable[..., Any],
         aai: AaiStandIn) -> ThreadServer:
    aai.add_region(OWNER, REGION)
    return serve(settings_factory(aai_url=aai.url))


def registry_url(server: ThreadServer, owner: str = OWNER, region: str = REGION) -> str:
    return f"{server.url}/api/multicloud/v1/{owner}/{region}/registry"


def register(server: ThreadServer, body: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    answer = requests.post(registry_url(server), json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"].endswith(f"/{OWNER}/{REGION}/registry")
    operation = answer.json()["operationId"]
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = requests.get(registry_url(server), timeout=5).json()
        assert status["operationId"] == operation
        if status["state"] not in ("PROCESSING", "PAUSED"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def aai_flavors(aai: AaiStandIn) -> dict[str, dict[str, Any]]:
    answer = requests.get(f"{aai.url}/v13/cloud-infrastructure/cloud-regions/cloud-region/"
                          f"{OWNER}/{REGION}/flavors?depth=all", timeout=5)
    if answer.status_code == 404:
        return {}
    assert answer.status_code == 200, answer.text
    return {f["flavor-name"]: f for f in answer.json()["flavor"]}


def capabilities(flavor: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["hpa-feature"]: c for c in flavor.get("hpa-capabilities", {}).get(
        "hpa-capability", [])}


def test_a_region_is_registered_updated_in_place_and_removed(nfvd: ThreadServer,
                                                              aai: AaiStandIn) -> None:
    done = register(nfvd, {"flavorSource": "inline", "flavors": FLAVORS})
    assert done["state"] == "COMPLETED", done
    assert done["flavors"] == ["1", "2", "3"] and done["result"]["flavors"] == 3
    written = aai_flavors(aai)
    assert sorted(written) == ["m1.small", "onap.pinned", "onap.sriov"]
    sriov = capabilities(written["onap.sriov"])["sriovNICNetwork"]
    attributes = {a["hpa-attribute-key"]: a["hpa-attribute-value"]
                  for a in sriov["hpa-feature-attributes"]}
    assert attributes["pciVendorId"] == '{"value":"8086"}'
    assert attributes["physicalNetwork"] == '{"value":"physnet-1"}'
    assert "cpuPinning" in capabilities(written["onap.pinned"])
    assert capabilities(written["m1.small"]) == {}  # not onap.*: registered without HPA
    assert written["onap.sriov"]["flavor-vcpus"] == 2
    ids = {name: {f: c["hpa-capability-id"] for f, c in capabilities(flavor).items()}
           for name, flavor in written.items()}

    # again, without flavor 2: the same ids, updated in place; flavor 2 is removed
    again = register(nfvd, {"flavorSource": "inline", "flavors": [FLAVORS[0], FLAVORS[2]]})
    assert again["state"] == "COMPLETED", again
    assert again["result"]["removed"] == ["2"]
    rewritten = aai_flavors(aai)
    assert sorted(rewritten) == ["m1.small", "onap.sriov"]
    assert {f: c["hpa-capability-id"] for f, c in capabilities(
        rewritten["onap.sriov"]).items()} == ids["onap.sriov"]

    removed = requests.delete(f"{nfvd.url}/api/multicloud/v1/{OWNER}/{REGION}", timeout=10)
    assert removed.status_code == 204, removed.text
    assert aai_flavors(aai) == {}
    gone = requests.get(registry_url(nfvd), timeout=5)
    assert gone.status_code == 404 and gone.headers["content-type"].startswith(PROBLEM)


def test_a_failing_source_fails_the_registration_and_writes_nothing(
        nfvd: ThreadServer, aai: AaiStandIn) -> None:
    done = register(nfvd, {"flavorSource": "inline", "flavors": [{"flavor": {"vcpus": 1}}]})
    assert done["state"] == "FAILED_TEMP"
    assert "flavor source 'inline'" in done["error"], done
    assert aai_flavors(aai) == {}


@pytest.mark.parametrize(("body", "owner", "status", "words"), [
    ({"flavorSource": "nope"}, OWNER, 400, "no flavor source named 'nope'"),
    ({"flavors": []}, "OtherOwner", 404, "not in A&AI"),
    ({"flavorSource": 3}, OWNER, 400, "flavorSource"),
])
def test_a_bad_registration_is_refused(nfvd: ThreadServer, body: dict[str, Any], owner: str,
                                       status: int, words: str) -> None:
    answer = requests.post(registry_url(nfvd, owner), json=body, timeout=10)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert words in answer.json()["detail"]


def test_unknown_regions_cannot_be_shown_or_removed(nfvd: ThreadServer) -> None:
    assert requests.get(registry_url(nfvd, region="Nowhere"), timeout=5).status_code == 404
    gone = requests.delete(f"{nfvd.url}/api/multicloud/v1/{OWNER}/Nowhere", timeout=5)
    assert gone.status_code == 404


def test_without_aai_a_registration_is_refused(serve: Callable[..., ThreadServer]) -> None:
    server = serve()
    answer = requests.post(registry_url(server), json={}, timeout=10)
    assert answer.status_code == 400 and "NFVD_AAI_URL" in answer.json()["detail"]


@pytest.mark.openstack
@pytest.mark.slow
def test_sriov_flavors_of_a_real_nova_are_registered_and_removed(
        nfvd: ThreadServer, aai: AaiStandIn, openstack: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    created = {openstack.create_flavor(f"onap.sriov-{suffix}", 2, 2048, 10, SRIOV): "sriov",
               openstack.create_flavor(f"plain-{suffix}", 1, 512, 1, {}): "plain"}
    try:
        done = register(nfvd, {"flavorSource": "openstack", "openstack": openstack.params})
        assert done["state"] == "COMPLETED", done
        assert set(created) <= set(done["flavors"])
        written = aai_flavors(aai)
        sriov = capabilities(written[f"onap.sriov-{suffix}"])["sriovNICNetwork"]
        keys = {a["hpa-attribute-key"] for a in sriov["hpa-feature-attributes"]}
        assert keys == {"pciCount", "pciVendorId", "pciDeviceId", "physicalNetwork"}
        assert capabilities(written[f"plain-{suffix}"]) == {}
        assert openstack.params["password"] not in str(requests.get(
            f"{nfvd.url}/api/lcm/operations/{done['operationId']}", timeout=5).text)
        removed = requests.delete(f"{nfvd.url}/api/multicloud/v1/{OWNER}/{REGION}", timeout=30)
        assert removed.status_code == 204, removed.text
        assert aai_flavors(aai) == {}
    finally:
        for flavor in created:
            openstack.delete_flavor(flavor)
