"""The parts of infra_workload that need no cloud: directives, cloud regions, heatbridge.

Heatbridge writes over real HTTP to the A&AI stand-in (fixtures/aai.py; A&AI cannot run here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.aai import AaiStandIn

import framework.aai
from framework import heatbridge
from framework.aai import AaiClient, AaiError, AaiSettings
from framework.cloud_regions import load_cloud_regions
from framework.config import Settings
from framework.directives import apply_directives, attributes
from framework.errors import BadRequest, SettingsError
from framework.workloads import WorkloadInventory

OWNER, REGION, TENANT = "CloudOwner", "RegionOne", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SECRET = "cl0ud-Pa55word"


def flat(**values: str) -> dict[str, Any]:
    return {"attributes": [{"attribute_name": k, "attribute_value": v} for k, v in values.items()]}


# -- directives ---------------------------------------------------------------------------------

def test_user_beats_oof_beats_sdnc_and_unknown_names_are_reported() -> None:
    body = {"sdnc_directives": flat(image="sdnc-image", flavor="sdnc-flavor", net="sdnc-net"),
            "oof_directives": {"directives": [{"id": "vnfc-1", "type": "vnfc", "directives": [
                {"type": "flavor_directives", "attributes": [
                    {"attribute_name": "flavor", "attribute_value": "oof-flavor"},
                    {"attribute_name": "image", "attribute_value": "oof-image"}]}]}]},
            "user_directives": flat(image="user-image", colour="blue")}
    params, report = apply_directives(body, {"image", "flavor", "net", "zone"},
                                      {"zone": "az1", "image": "template-default"})
    assert params == {"image": "user-image", "flavor": "oof-flavor", "net": "sdnc-net",
                      "zone": "az1"}
    assert report["applied"] == {"image": "user_directives", "flavor": "oof_directives",
                                 "net": "sdnc_directives"}
    assert report["ignored"] == [{"name": "colour", "source": "user_directives"}]


def test_the_list_form_and_json_strings_are_accepted() -> None:
    listed = [{"attribute_name": "a", "attribute_value": "1"}, flat(b="2")]
    assert list(attributes(listed, "x")) == [("a", "1"), ("b", "2")]
    assert list(attributes(json.dumps(flat(c="3")), "x")) == [("c", "3")]
    assert list(attributes({}, "x")) == [] and list(attributes(None, "x")) == []


@pytest.mark.parametrize("value, named", [
    ("not json", "oof_directives: a string that is not JSON"),
    (42, "oof_directives: expected an object or a list, got int"),
    ({"colour": "blue"}, "expected attributes, directives or attribute_name (found: colour)"),
    ({"attributes": [{"attribute_name": ""}]}, "oof_directives.attributes[0].attribute_name"),
])
def test_a_malformed_directive_is_a_bad_request_naming_where(value: Any, named: str) -> None:
    with pytest.raises(BadRequest) as caught:
        apply_directives({"oof_directives": value}, {"a"}, {})
    assert named in str(caught.value)


def test_directives_nested_too_deep_are_refused() -> None:
    value: Any = flat(a="1")
    for _ in range(20):
        value = {"directives": [value]}
    with pytest.raises(BadRequest, match="deeper than"):
        list(attributes(value, "user_directives"))


# -- cloud regions ------------------------------------------------------------------------------

def write(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "regions.yaml"
    path.write_text(json.dumps(content))
    return str(path)


def test_regions_are_read_by_owner_and_region(tmp_path: Path) -> None:
    path = write(tmp_path, {"regions": [
        {"cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": "http://127.0.0.1:5000/v3",
         "username": "nfvd", "password": SECRET, "defaultProject": "nfv", "timeoutSeconds": 5},
        {"cloudOwner": OWNER, "cloudRegionId": "RegionTwo", "authUrl": "https://ks/v3",
         "applicationCredentialId": "app-1", "applicationCredentialSecret": SECRET}]})
    regions = load_cloud_regions(path)
    one, two = regions[(OWNER, REGION)], regions[(OWNER, "RegionTwo")]
    assert (one.username, one.password, one.default_project, one.timeout) == (
        "nfvd", SECRET, "nfv", 5.0)
    assert (two.application_credential_id, two.user_domain) == ("app-1", "Default")
    assert SECRET not in repr(one) + repr(two)
    assert one.secrets == (SECRET,)
    assert load_cloud_regions(None) == {}


@pytest.mark.parametrize("region, message", [
    ({"cloudRegionId": REGION, "authUrl": "http://k/v3"}, "cloudOwner is required"),
    ({"cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": "k:5000"}, "authUrl must be"),
    ({"cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": "http://k/v3",
      "username": "u"}, "give username and password"),
    ({"cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": "http://k/v3",
      "password": SECRET}, "password needs username"),
    ({"cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": "http://k/v3", "username": "u",
      "password": SECRET, "passwrd": SECRET}, "unknown field 'passwrd'"),
    ({"cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": "http://k/v3", "username": "u",
      "password": SECRET, "timeoutSeconds": 0}, "timeoutSeconds"),
])
def test_a_bad_region_is_named_without_its_secret(tmp_path: Path, region: dict[str, Any],
                                                  message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_cloud_regions(write(tmp_path, [region]))
    assert message in str(caught.value) and "regions[0]" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_the_log_masker_knows_the_regions_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, [{"cloudOwner": OWNER, "cloudRegionId": REGION,
                             "authUrl": "http://k/v3", "applicationCredentialId": "app-1",
                             "applicationCredentialSecret": SECRET}])
    assert SECRET in Settings(cloud_regions_file=path).secrets()
    assert "app-1" not in Settings(cloud_regions_file=path).secrets()


def test_a_region_given_twice_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    region = {"cloudOwner": OWNER, "cloudRegionId": REGION, "authUrl": "http://k/v3",
              "username": "u", "password": SECRET}
    with pytest.raises(SettingsError, match="given twice"):
        load_cloud_regions(write(tmp_path, [region, region]))
    with pytest.raises(SettingsError, match="cannot read it"):
        load_cloud_regions(str(tmp_path / "absent.yaml"))


# -- heatbridge ---------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework.aai, "RETRY_DELAY", 0.001)


@pytest.fixture
def client(aai: AaiStandIn) -> Iterator[AaiClient]:
    aai.add_region(OWNER, REGION)
    aai.inventory.add_vnf("vnf-1", "vfm-1")
    with AaiClient(AaiSettings(url=aai.url)) as made:
        yield made


def inventory(*servers: dict[str, Any]) -> WorkloadInventory:
    return WorkloadInventory(tenant_id=TENANT, tenant_name="nfv", servers=list(servers))


SERVER = {"id": "srv-1", "name": "vm-a", "status": "ACTIVE", "selflink": "http://nova/srv-1",
          "interfaces": [{"id": "port-1", "name": "eth0", "mac_address": "fa:16:3e:00:00:01",
                          "network_id": "net-1",
                          "ips": [{"address": "10.0.0.5", "prefix_length": 24, "version": 4},
                                  {"address": "fd00::5", "version": 6}]}]}


def test_heatbridge_writes_tenant_vservers_interfaces_and_relationships(
        client: AaiClient, aai: AaiStandIn) -> None:
    written = heatbridge.write(client, OWNER, REGION, inventory(SERVER, {"id": "srv-2"}),
                               "vnf-1", "vfm-1")
    assert written == ["srv-1", "srv-2"]
    assert aai.inventory.tenants[(OWNER, REGION, TENANT)]["fields"]["tenant-name"] == "nfv"
    vservers = aai.inventory.vservers(OWNER, REGION, TENANT)
    first = vservers["srv-1"]
    assert (first["vserver-name"], first["prov-status"], first["vserver-selflink"]) == (
        "vm-a", "ACTIVE", "http://nova/srv-1")
    [port] = first["l-interfaces"]["l-interface"]
    assert (port["interface-name"], port["interface-id"], port["macaddr"]) == (
        "eth0", "port-1", "fa:16:3e:00:00:01")
    assert port["l3-interface-ipv4-address-list"] == [
        {"l3-interface-ipv4-address": "10.0.0.5", "l3-interface-ipv4-prefix-length": 24}]
    assert port["l3-interface-ipv6-address-list"] == [{"l3-interface-ipv6-address": "fd00::5"}]
    related = {r["related-to"]: r for r in first["relationship-list"]["relationship"]}
    assert related["generic-vnf"]["related-link"] == (
        "/aai/v13/network/generic-vnfs/generic-vnf/vnf-1")
    assert {d["relationship-key"]: d["relationship-value"]
            for d in related["vf-module"]["relationship-data"]} == {
        "generic-vnf.vnf-id": "vnf-1", "vf-module.vf-module-id": "vfm-1"}
    assert vservers["srv-2"]["vserver-name"] == "srv-2" and "l-interfaces" not in vservers["srv-2"]


def test_writing_again_updates_in_place_and_keeps_foreign_relationships(
        client: AaiClient, aai: AaiStandIn) -> None:
    heatbridge.write(client, OWNER, REGION, inventory(SERVER), "vnf-1", "vfm-1")
    aai.inventory.add_vnf("vnf-other")
    stored = aai.inventory.tenants[(OWNER, REGION, TENANT)]["vservers"]["srv-1"]
    foreign = {"related-to": "generic-vnf", "related-link": "/aai/v13/network/generic-vnfs/"
               "generic-vnf/vnf-other", "relationship-data": [
                   {"relationship-key": "generic-vnf.vnf-id", "relationship-value": "vnf-other"}]}
    stored["relationship-list"]["relationship"].append(foreign)
    version = stored["resource-version"]
    renamed = {**SERVER, "name": "vm-a-renamed"}
    heatbridge.write(client, OWNER, REGION, inventory(renamed), "vnf-1", "vfm-1")
    after = aai.inventory.vservers(OWNER, REGION, TENANT)["srv-1"]
    assert after["vserver-name"] == "vm-a-renamed" and after["resource-version"] != version
    links = [r["related-link"] for r in after["relationship-list"]["relationship"]]
    assert len(links) == 3 and links.count(foreign["related-link"]) == 1


def test_a_relationship_to_an_unknown_vnf_is_refused_by_aai(client: AaiClient) -> None:
    with pytest.raises(AaiError) as caught:
        heatbridge.write(client, OWNER, REGION, inventory(SERVER), "no-such-vnf", None)
    assert caught.value.status == 400 and "no-such-vnf" in str(caught.value)


def test_a_region_missing_from_aai_is_named(aai: AaiStandIn) -> None:
    with AaiClient(AaiSettings(url=aai.url)) as made, pytest.raises(AaiError) as caught:
        heatbridge.write(made, OWNER, "RegionNine", inventory(SERVER), "vnf-1", None)
    assert caught.value.status == 404 and "RegionNine in A&AI?" in str(caught.value)


def test_delete_removes_interfaces_then_the_vserver(client: AaiClient, aai: AaiStandIn) -> None:
    heatbridge.write(client, OWNER, REGION, inventory(SERVER), "vnf-1", "vfm-1")
    bridge = heatbridge.Heatbridge(client)
    assert bridge.delete_vserver(OWNER, REGION, TENANT, "srv-1") is True
    assert aai.inventory.vservers(OWNER, REGION, TENANT) == {}
    assert bridge.delete_vserver(OWNER, REGION, TENANT, "srv-1") is False
    deletes = [r.path.rsplit("/", 2)[-2] for r in aai.requests if r.method == "DELETE"]
    assert deletes == ["l-interface", "vserver"]
    assert all(r.query.get("resource-version") for r in aai.requests if r.method == "DELETE")
