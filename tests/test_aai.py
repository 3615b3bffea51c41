"""The A&AI client over real HTTP on loopback, against the A&AI stand-in of fixtures/aai.py."""

from __future__ import annotations

import base64
import concurrent.futures
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.aai import AaiStandIn
from fixtures.kafka import free_port

import framework.aai
from framework.aai import AaiClient, AaiError, AaiSettings, aai_flavor, merge_flavor
from framework.config import Settings, load_settings
from framework.errors import SettingsError

OWNER, REGION = "CloudOwner", "Region One"  # a space: paths must be quoted
PASSWORD = "s3cret-Pa55word"
NOVA = {"id": "110", "name": "onap.hpa.medium", "vcpus": 2, "ram": 4096, "disk": 20,
        "swap": "", "OS-FLV-EXT-DATA:ephemeral": 5, "os-flavor-access:is_public": False,
        "OS-FLV-DISABLED:disabled": False, "rxtx_factor": 1.0,
        "links": [{"rel": "bookmark", "href": "http://nova/b/110"},
                  {"rel": "self", "href": "http://nova/v2.1/flavors/110"}]}


def capability(cap_id: str, feature: str, **attributes: str) -> dict[str, Any]:
    return {"hpa-capability-id": cap_id, "hpa-feature": feature, "hpa-version": "v1",
            "architecture": "generic",
            "hpa-feature-attributes": [{"hpa-attribute-key": k, "hpa-attribute-value": v}
                                       for k, v in attributes.items()]}


PINNING = capability("cap-pin", "cpuPinning", logicalCpuPinningPolicy='{"value":"dedicated"}')
HUGE = capability("cap-huge", "hugePages", memoryPageSize='{"value":"2","unit":"MB"}')


def flavor(*capabilities: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return aai_flavor({**NOVA, **changes}, list(capabilities))


def by_id(found: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert found is not None
    return {c["hpa-capability-id"]: c for c in found["hpa-capabilities"]["hpa-capability"]}


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework.aai, "RETRY_DELAY", 0.001)


@pytest.fixture
def client(aai: AaiStandIn) -> Iterator[AaiClient]:
    aai.add_region(OWNER, REGION)
    aai.require_headers = True
    with AaiClient(AaiSettings(aai.url, app_id="nfvd-test")) as made:
        yield made


def test_aai_flavor_maps_a_nova_flavor_detail() -> None:
    mapped = flavor(PINNING)
    assert mapped == {
        "flavor-id": "110", "flavor-name": "onap.hpa.medium", "flavor-vcpus": 2,
        "flavor-ram": 4096, "flavor-disk": 20, "flavor-ephemeral": 5, "flavor-swap": "0",
        "flavor-is-public": False, "flavor-disabled": False,
        "flavor-selflink": "http://nova/v2.1/flavors/110",
        "hpa-capabilities": {"hpa-capability": [PINNING]}}
    assert flavor(swap=512)["flavor-swap"] == "512"
    bare = aai_flavor({"id": 7, "name": "tiny"}, [])
    assert bare == {"flavor-id": "7", "flavor-name": "tiny",
                    "hpa-capabilities": {"hpa-capability": []}}
    with pytest.raises(ValueError, match="no id"):
        aai_flavor({"name": "x"}, [])


def test_create_then_update_keeps_ids_and_carries_versions(client: AaiClient,
                                                           aai: AaiStandIn) -> None:
    client.put_flavor(OWNER, REGION, flavor(PINNING, HUGE))
    first = client.get_flavor(OWNER, REGION, "110")
    assert first is not None and first["flavor-ram"] == 4096
    versions = {key: cap["resource-version"] for key, cap in by_id(first).items()}
    assert set(versions) == {"cap-pin", "cap-huge"}

    changed = capability("cap-huge", "hugePages", memoryPageSize='{"value":"1","unit":"GB"}')
    client.put_flavor(OWNER, REGION, flavor(PINNING, changed, ram=8192))
    put = [r for r in aai.requests if r.method == "PUT"][-1]
    assert put.body["resource-version"] == first["resource-version"]
    assert {c["hpa-capability-id"]: c["resource-version"]
            for c in put.body["hpa-capabilities"]["hpa-capability"]} == versions
    second = client.get_flavor(OWNER, REGION, "110")
    assert second is not None and second["flavor-ram"] == 8192
    assert second["resource-version"] != first["resource-version"]
    caps = by_id(second)
    assert caps["cap-pin"]["resource-version"] == versions["cap-pin"]  # unchanged
    assert caps["cap-huge"]["resource-version"] != versions["cap-huge"]
    assert caps["cap-huge"]["hpa-feature-attributes"] == changed["hpa-feature-attributes"]


def test_a_capability_dropped_on_update_disappears(client: AaiClient, aai: AaiStandIn) -> None:
    client.put_flavor(OWNER, REGION, flavor(PINNING, HUGE))
    client.put_flavor(OWNER, REGION, flavor(PINNING))
    assert set(by_id(aai.flavor(OWNER, REGION, "110"))) == {"cap-pin"}
    client.put_flavor(OWNER, REGION, flavor())
    assert "hpa-capabilities" not in (aai.flavor(OWNER, REGION, "110") or {})


def test_fields_only_aai_has_are_kept(client: AaiClient, aai: AaiStandIn) -> None:
    client.put_flavor(OWNER, REGION, flavor())
    path = client.flavor_path(OWNER, REGION, "110")
    held = client.get_flavor(OWNER, REGION, "110")
    assert held is not None
    links = {"relationship": [{"related-to": "vserver"}]}
    aai.require_headers = False  # another writer, with requests
    answer = requests.put(f"{client.base}{path}", json={**held, "relationship-list": links},
                          timeout=5)
    assert answer.status_code == 200, answer.text
    client.put_flavor(OWNER, REGION, flavor(PINNING))
    assert (aai.flavor(OWNER, REGION, "110") or {})["relationship-list"] == links


def test_merge_ignores_versions_the_new_flavor_carries() -> None:
    current = {"flavor-id": "1", "resource-version": "10", "hpa-capabilities": {
        "hpa-capability": [{**PINNING, "resource-version": "11"}]}}
    new = {"flavor-id": "1", "resource-version": "stale", "hpa-capabilities": {
        "hpa-capability": [{**PINNING, "resource-version": "stale"}, HUGE]}}
    merged = merge_flavor(current, new)
    assert merged["resource-version"] == "10"
    assert [c.get("resource-version") for c in merged["hpa-capabilities"]["hpa-capability"]] \
        == ["11", None]
    assert "resource-version" not in merge_flavor(None, new)


def test_delete_removes_capabilities_then_the_flavor(client: AaiClient,
                                                     aai: AaiStandIn) -> None:
    client.put_flavor(OWNER, REGION, flavor(PINNING, HUGE))
    client.put_flavor(OWNER, REGION, {**flavor(), "flavor-id": "111"})
    assert client.delete_flavor(OWNER, REGION, "110") is True
    deletes = [r.path.rsplit("/", 1)[-1] for r in aai.requests if r.method == "DELETE"]
    assert deletes == ["cap-pin", "cap-huge", "110"]
    assert all("resource-version" in r.query for r in aai.requests if r.method == "DELETE")
    assert client.get_flavor(OWNER, REGION, "110") is None
    assert client.delete_flavor(OWNER, REGION, "110") is False
    assert client.get_flavor(OWNER, REGION, "111") is not None


def test_a_5xx_is_retried(client: AaiClient, aai: AaiStandIn) -> None:
    aai.fail_next(2, status=503)
    client.put_flavor(OWNER, REGION, flavor(PINNING))
    assert set(by_id(aai.flavor(OWNER, REGION, "110"))) == {"cap-pin"}
    aai.fail_next(4, status=502)
    with pytest.raises(AaiError) as caught:
        client.get_flavor(OWNER, REGION, "110")
    assert caught.value.status == 502 and "GET " in str(caught.value)


def test_a_stale_version_is_read_again_and_retried(client: AaiClient, aai: AaiStandIn) -> None:
    client.put_flavor(OWNER, REGION, flavor(PINNING))
    aai.bump_version(OWNER, REGION, "110", after_reads=1)  # a writer between GET and PUT
    before = len(aai.requests)
    client.put_flavor(OWNER, REGION, flavor(PINNING, HUGE))
    assert [r.method for r in aai.requests[before:]] == ["GET", "PUT", "GET", "PUT"]
    assert set(by_id(aai.flavor(OWNER, REGION, "110"))) == {"cap-pin", "cap-huge"}

    aai.bump_version(OWNER, REGION, "110", after_reads=4)  # more than the retries
    with pytest.raises(AaiError) as caught:
        client.put_flavor(OWNER, REGION, flavor())
    assert caught.value.status == 412

    aai.bump_version(OWNER, REGION, "110", after_reads=1)
    assert client.delete_flavor(OWNER, REGION, "110") is True
    assert aai.flavor(OWNER, REGION, "110") is None


def test_a_refusal_names_status_and_path_but_not_the_password(aai: AaiStandIn) -> None:
    aai.add_region(OWNER, REGION)
    aai.username, aai.password = "nfvd", PASSWORD
    bad = capability("cap-bad", "cpuPinning")
    bad["hpa-feature-attributes"] = [{"hpa-attribute-key": "k", "hpa-attribute-value": 2}]
    with AaiClient(AaiSettings(aai.url, "nfvd", PASSWORD)) as client:
        with pytest.raises(AaiError) as caught:
            client.put_flavor(OWNER, REGION, flavor(bad))
    message = str(caught.value)
    assert caught.value.status == 400
    assert "PUT " in message and "HTTP 400" in message and "hpa-attribute-value" in message
    assert "/cloud-region/CloudOwner/Region%20One/flavors/flavor/110" in message
    assert PASSWORD not in message
    with AaiClient(AaiSettings(aai.url, "nfvd", "wrong-" + PASSWORD)) as client:
        with pytest.raises(AaiError) as caught:
            client.region_exists(OWNER, REGION)
    assert caught.value.status == 401 and PASSWORD not in str(caught.value)


def test_a_missing_region_is_named(client: AaiClient) -> None:
    assert client.region_exists(OWNER, REGION) is True
    assert client.region_exists(OWNER, "elsewhere") is False
    with pytest.raises(AaiError, match=r"is cloud region CloudOwner/elsewhere in A&AI") as caught:
        client.put_flavor(OWNER, "elsewhere", flavor())
    assert caught.value.status == 404


def test_an_unreachable_aai_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}/aai"
    with AaiClient(AaiSettings(url, "nfvd", PASSWORD, timeout=2)) as client:
        with pytest.raises(AaiError) as caught:
            client.get_flavor(OWNER, REGION, "110")
    assert caught.value.status is None
    assert f"GET {url}/v13/cloud-infrastructure" in str(caught.value)
    with pytest.raises(AaiError, match="without credentials"):
        AaiClient(AaiSettings(f"http://nfvd:{PASSWORD}@127.0.0.1/aai"))


def test_every_request_has_the_headers(aai: AaiStandIn) -> None:
    aai.add_region(OWNER, REGION)
    aai.username, aai.password = "nfvd", PASSWORD
    with AaiClient(AaiSettings(aai.url, "nfvd", PASSWORD, app_id="nfvd-test")) as client:
        client.put_flavor(OWNER, REGION, flavor(PINNING))
        client.put_flavor(OWNER, REGION, flavor(HUGE))
        client.delete_flavor(OWNER, REGION, "110")
    token = base64.b64encode(f"nfvd:{PASSWORD}".encode()).decode()
    assert len(aai.requests) == 7  # 3 GET, 2 PUT, 2 DELETE
    for request in aai.requests:
        assert request.headers["X-FromAppId"] == "nfvd-test"
        assert request.headers["Authorization"] == f"Basic {token}"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"
    ids = [r.headers["X-TransactionId"] for r in aai.requests]
    assert len(set(ids)) == len(ids)


def test_eight_threads_write_at_once(client: AaiClient, aai: AaiStandIn) -> None:
    flavors = [flavor(capability(f"cap-{n}", "cpuPinning", policy='{"value":"shared"}'),
                      id=str(n), name=f"onap.f{n}") for n in range(40)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda f: client.put_flavor(OWNER, REGION, f), flavors))
    aai.require_headers = False
    answer = requests.get(f"{client.base}{client.region_path(OWNER, REGION)}/flavors",
                          params={"depth": "all"}, timeout=5)
    written = {f["flavor-id"]: f for f in answer.json()["flavor"]}
    assert set(written) == {str(n) for n in range(40)}
    assert all(by_id(written[str(n)]).keys() == {f"cap-{n}"} for n in range(40))


def test_the_stand_in_checks_versions_and_children(aai: AaiStandIn) -> None:
    aai.add_region(OWNER, REGION)
    base = (f"{aai.url}/v13/cloud-infrastructure/cloud-regions/cloud-region/{OWNER}/"
            f"{REGION}/flavors")
    assert requests.get(base, timeout=5).status_code == 404  # no flavors yet
    body = flavor(PINNING)
    assert requests.put(f"{base}/flavor/110", json=body, timeout=5).status_code == 201
    assert requests.put(f"{base}/flavor/110", json=body, timeout=5).status_code == 409
    stale = {**body, "resource-version": "1"}
    assert requests.put(f"{base}/flavor/110", json=stale, timeout=5).status_code == 412
    held = requests.get(f"{base}/flavor/110", timeout=5).json()
    assert "hpa-capabilities" not in held  # depth 0
    version = {"resource-version": held["resource-version"]}
    answer = requests.delete(f"{base}/flavor/110", params=version, timeout=5)
    assert answer.status_code == 409  # its capability first
    cap = requests.get(f"{base}/flavor/110/hpa-capabilities/hpa-capability/cap-pin",
                       timeout=5).json()
    assert requests.delete(f"{base}/flavor/110/hpa-capabilities/hpa-capability/cap-pin",
                           timeout=5).status_code == 412  # no version
    assert requests.delete(f"{base}/flavor/110/hpa-capabilities/hpa-capability/cap-pin",
                           params={"resource-version": cap["resource-version"]},
                           timeout=5).status_code == 204
    assert requests.delete(f"{base}/flavor/110", params=version, timeout=5).status_code == 204
    missing = requests.put(f"{aai.url}/v13/cloud-infrastructure/cloud-regions/cloud-region/"
                           f"{OWNER}/nowhere/flavors/flavor/110", json=body, timeout=5)
    assert missing.status_code == 404
    assert missing.json()["requestError"]["serviceException"]["messageId"] == "SVC3001"


def test_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    settings = load_settings(environ={
        "NFVD_AAI_URL": "https://aai.example:8443/aai/", "NFVD_AAI_USERNAME": "aai",
        "NFVD_AAI_PASSWORD": PASSWORD, "NFVD_AAI_TIMEOUT_SECONDS": "3",
        "NFVD_AAI_CONCURRENCY": "16", "NFVD_AAI_CA_FILE": str(ca)})
    assert PASSWORD in settings.secrets()
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.public())
    assert settings.aai_concurrency == 16
    assert AaiSettings.from_settings(settings) == AaiSettings(
        url="https://aai.example:8443/aai", username="aai", password=PASSWORD,
        schema_version="v13", app_id="nfvd", timeout=3.0, ca_file=str(ca.resolve()))
    with pytest.raises(AaiError, match="NFVD_AAI_URL"):
        AaiSettings.from_settings(Settings())
    for env, named in [({"NFVD_AAI_URL": "ftp://aai"}, "NFVD_AAI_URL: expected an http"),
                       ({"NFVD_AAI_URL": "https://u:p@aai"}, "without credentials"),
                       ({"NFVD_AAI_SCHEMA_VERSION": "13"}, "a version such as v13"),
                       ({"NFVD_AAI_CONCURRENCY": "0"}, "NFVD_AAI_CONCURRENCY"),
                       ({"NFVD_AAI_PASSWORD": "x"}, "without NFVD_AAI_USERNAME")]:
        with pytest.raises(SettingsError, match=named):
            load_settings(environ=env)
