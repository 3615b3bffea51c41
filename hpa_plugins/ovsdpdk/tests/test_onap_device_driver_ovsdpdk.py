"""The plugin through nfvd's test kit: each of ONAP's ovsDpdk variants, stable ids, bad input."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from framework.testing import HPA_MAX_BYTES, check_plugin, run_hpa_discover

from onap_device_driver_ovsdpdk.discovery import OvsDpdkDiscovery

#: The worked example's cloud_extra_info: the region names its library and version.
EXTRA_INFO = {"ovsDpdk": {"libname": "dataProcessingAccelerationLibrary",
                          "libversion": "v12.1"}}
#: A marker for "leave the key out of viminfo".
ABSENT = object()


def flavor_data(extra_info: Any = ABSENT, vimtype: str | None = "pike",
                flavor_id: str = "110") -> dict[str, Any]:
    """One flavor as nfvd hands it to HPA discovery plugins."""
    viminfo: dict[str, Any] = {"cloud_owner": "CloudOwner", "cloud_region_id": "RegionOne"}
    if extra_info is not ABSENT:
        viminfo["cloud_extra_info"] = extra_info
    data: dict[str, Any] = {
        "flavor": {"id": flavor_id, "name": "onap.hpa.small", "vcpus": 2, "ram": 2048,
                   "disk": 20, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0},
        "extra_specs": {}, "viminfo": viminfo}
    if vimtype is not None:
        data["vimtype"] = vimtype
    return data


def discover(data: dict[str, Any]) -> list[dict[str, Any]]:
    report = run_hpa_discover(OvsDpdkDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.bytes <= HPA_MAX_BYTES
    return report.capabilities


def library(data: dict[str, Any]) -> tuple[str, str]:
    """The one attribute of the one capability, as (key, value)."""
    [capability] = discover(data)
    [attribute] = capability["hpa-feature-attributes"]
    return attribute["hpa-attribute-key"], json.loads(attribute["hpa-attribute-value"])["value"]


def test_follows_the_hpa_discovery_contract() -> None:
    assert check_plugin(OvsDpdkDiscovery, "hpa") == []


def test_the_worked_example() -> None:
    [capability] = discover(flavor_data(json.dumps(EXTRA_INFO)))
    assert uuid.UUID(capability.pop("hpa-capability-id")).version == 5
    assert capability == {
        "hpa-feature": "ovsDpdk",
        "hpa-version": "v1",
        "architecture": "Intel64",
        "hpa-feature-attributes": [
            {"hpa-attribute-key": "dataProcessingAccelerationLibrary",
             "hpa-attribute-value": '{"value":"v12.1"}'},
        ],
    }


def test_capability_ids_are_stable_and_per_flavor() -> None:
    first, again, other = (discover(flavor_data(flavor_id=flavor_id))[0]["hpa-capability-id"]
                           for flavor_id in ("110", "110", "111"))
    assert first == again
    assert first != other


def test_cloud_extra_info_may_be_a_dict() -> None:
    assert discover(flavor_data(EXTRA_INFO)) == discover(flavor_data(json.dumps(EXTRA_INFO)))


def test_the_region_names_its_library() -> None:
    info = {"ovsDpdk": {"libname": "dpdk", "libversion": "18.11"}, "isystems": {}}
    assert library(flavor_data(json.dumps(info), vimtype="windriver")) == ("dpdk", "18.11")


@pytest.mark.parametrize(("extra_info", "vimtype", "version"), [
    (ABSENT, "windriver", "17.2"),
    (ABSENT, "starlingx", "17.2"),
    (ABSENT, "pike", "12.1"),
    (ABSENT, None, "12.1"),
    (ABSENT, "WindRiver", "12.1"),  # ONAP compares the VIM type exactly
    (None, "starlingx", "17.2"),
    ("", "windriver", "17.2"),
    ("", "ocata", "12.1"),
])
def test_without_cloud_extra_info_the_vim_type_decides(extra_info: Any, vimtype: str | None,
                                                       version: str) -> None:
    data = flavor_data(extra_info, vimtype)
    assert library(data) == ("dataProcessingAccelerationLibrary", version)


@pytest.mark.parametrize("extra_info", [
    "{}", {}, '{"isystems": []}', {"isystems": []}, '{"ovsDpdk": {}}', '{"ovsDpdk": null}'])
@pytest.mark.parametrize("vimtype", ["windriver", "starlingx", "pike"])
def test_cloud_extra_info_without_ovsdpdk_stays_at_12_1(extra_info: Any, vimtype: str) -> None:
    data = flavor_data(extra_info, vimtype)
    assert library(data) == ("dataProcessingAccelerationLibrary", "12.1")


@pytest.mark.parametrize("extra_info", ["{not json", "  ", "[1, 2]", '"text"', "null", 42])
def test_cloud_extra_info_that_is_not_a_json_object_omits_the_capability(
        extra_info: Any) -> None:
    assert discover(flavor_data(extra_info, vimtype="windriver")) == []


def test_extra_specs_are_not_read() -> None:
    data = flavor_data(json.dumps(EXTRA_INFO))
    data["extra_specs"] = None
    assert library(data) == ("dataProcessingAccelerationLibrary", "v12.1")
    del data["extra_specs"]
    assert library(data) == ("dataProcessingAccelerationLibrary", "v12.1")


@pytest.mark.parametrize(("ovsdpdk", "fault"), [
    ("17.2", "cloud_extra_info.ovsDpdk is '17.2': a str, not an object"),
    ({"libversion": "17.2"}, "cloud_extra_info.ovsDpdk.libname is None: not a non-empty"),
    ({"libname": "dpdk"}, "cloud_extra_info.ovsDpdk.libversion is None: not a non-empty"),
    ({"libname": "", "libversion": "17.2"}, "cloud_extra_info.ovsDpdk.libname is '': not a"),
    ({"libname": "dpdk", "libversion": 17.2}, "cloud_extra_info.ovsDpdk.libversion is 17.2:"),
])
def test_a_malformed_ovsdpdk_entry_drops_the_result_naming_it(ovsdpdk: Any,
                                                              fault: str) -> None:
    data = flavor_data(json.dumps({"ovsDpdk": ovsdpdk}))
    report = run_hpa_discover(OvsDpdkDiscovery, data)
    assert (report.status, report.capabilities) == ("dropped", [])
    assert report.reason is not None
    assert f"ValueError: viminfo.{fault}" in report.reason


def test_viminfo_that_is_not_an_object_drops_the_result() -> None:
    data = flavor_data()
    data["viminfo"] = "RegionOne"
    report = run_hpa_discover(OvsDpdkDiscovery, data)
    assert report.status == "dropped"
    assert report.reason is not None and "viminfo is a str, not an object" in report.reason


def test_results_share_no_attribute_entries() -> None:
    """Attributes are made once per distinct value: each result still has its own entries."""
    plugin = OvsDpdkDiscovery()
    data = flavor_data()
    first, second = plugin.hpa_discover(data), plugin.hpa_discover(data)
    assert first == second and first
    for entry in (entry for item in first for entry in item["hpa-feature-attributes"]):
        entry["hpa-attribute-value"] = "changed"
    assert plugin.hpa_discover(data) == second
    assert "changed" not in str(second)
