"""The plugin through nfvd's test kit: ONAP's output for an alias, stable ids, malformed aliases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from framework.testing import HPA_MAX_BYTES, check_plugin, run_hpa_discover

from onap_device_driver_pci_passthrough.discovery import EXTRA_SPEC, PciPassthroughDiscovery

#: An Intel QuickAssist device, two of them, in ONAP's alias encoding.
EXAMPLE = "qat-vf-intel64-8086-0443:2"


def flavor_data(extra_specs: Any = None, flavor_id: str = "120") -> dict[str, Any]:
    """One flavor as nfvd hands it to HPA discovery plugins."""
    return {
        "flavor": {"id": flavor_id, "name": "onap.hpa.qat", "vcpus": 4, "ram": 4096,
                   "disk": 20, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0},
        "extra_specs": {EXTRA_SPEC: EXAMPLE} if extra_specs is None else extra_specs,
        "viminfo": {"cloud_owner": "CloudOwner", "cloud_region_id": "RegionOne"},
        "vimtype": "pike",
    }


def discover(data: dict[str, Any]) -> list[dict[str, Any]]:
    report = run_hpa_discover(PciPassthroughDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.bytes <= HPA_MAX_BYTES
    return report.capabilities


def test_follows_the_hpa_discovery_contract() -> None:
    assert check_plugin(PciPassthroughDiscovery, "hpa") == []


def test_an_alias_gives_onaps_capability() -> None:
    [capability] = discover(flavor_data())
    assert uuid.UUID(capability.pop("hpa-capability-id")).version == 5
    assert capability == {
        "hpa-feature": "pciePassthrough",
        "hpa-version": "v1",
        "architecture": "intel64",
        "hpa-feature-attributes": [
            {"hpa-attribute-key": "pciCount", "hpa-attribute-value": '{"value":"2"}'},
            {"hpa-attribute-key": "pciVendorId", "hpa-attribute-value": '{"value":"8086"}'},
            {"hpa-attribute-key": "pciDeviceId", "hpa-attribute-value": '{"value":"0443"}'},
        ],
    }


def test_capability_ids_are_stable_and_per_flavor() -> None:
    first, again, other = (discover(flavor_data(flavor_id=flavor_id))[0]["hpa-capability-id"]
                           for flavor_id in ("120", "120", "121"))
    assert first == again
    assert first != other


def test_fields_are_taken_as_written() -> None:
    [capability] = discover(flavor_data({EXTRA_SPEC: "gpu-t4-x86_64-10DE-1eb8:1"}))
    assert capability["architecture"] == "x86_64"
    assert [attribute["hpa-attribute-value"]
            for attribute in capability["hpa-feature-attributes"]] == [
        '{"value":"1"}', '{"value":"10DE"}', '{"value":"1eb8"}']


@pytest.mark.parametrize("extra_specs", [{}, {"hw:cpu_policy": "dedicated"}])
def test_a_flavor_without_the_extra_spec_has_none(extra_specs: dict[str, str]) -> None:
    assert discover(flavor_data(extra_specs)) == []


def test_missing_or_null_extra_specs_mean_none() -> None:
    data = flavor_data()
    data["extra_specs"] = None
    assert discover(data) == []
    del data["extra_specs"]
    assert discover(data) == []


@pytest.mark.parametrize(("value", "fault"), [
    ("qat-vf-intel64-8086-0443", "no ':<count>'"),
    ("qat-vf-intel64-8086-0443:", "count '' is not a positive integer"),
    ("qat-vf-intel64-8086-0443:0", "count '0' is not a positive integer"),
    ("qat-vf-intel64-8086-0443:x", "count 'x' is not a positive integer"),
    ("qat-vf-intel64-8086-0443:1:2", "count '1:2' is not a positive integer"),
    ("qat-vf-intel64-8086-0443:1,gpu-t4-x86_64-10de-1eb8:1", "several aliases"),
    ("qat-intel64-8086-0443:1", "too few '-'-separated fields before ':' (4, 5 needed)"),
    ("QuickAssist:1", "too few '-'-separated fields before ':' (1, 5 needed)"),
    ("my-qat-vf-intel64-8086-0443:1", "too many '-'-separated fields before ':' (6, 5"),
    ("qat-vf--8086-0443:1", "the architecture is empty"),
    ("qat-vf-intel64--0443:1", "the vendor id is empty"),
    ("qat-vf-intel64-8086-:1", "the device id is empty"),
    ("qat-vf-intel64-intel-0443:1", "vendor id 'intel' is not 1 to 4 hex digits"),
    ("qat-vf-intel64-8086-04430:1", "device id '04430' is not 1 to 4 hex digits"),
    (2, "of type int, not a string"),
    (["qat-vf-intel64-8086-0443:2"], "of type list, not a string"),
])
def test_a_malformed_alias_drops_the_result_naming_the_extra_spec(value: Any,
                                                                 fault: str) -> None:
    report = run_hpa_discover(PciPassthroughDiscovery, flavor_data({EXTRA_SPEC: value}))
    assert (report.status, report.capabilities) == ("dropped", [])
    assert report.reason is not None
    assert f"ValueError: extra spec {EXTRA_SPEC!r}" in report.reason
    assert fault in report.reason


def test_extra_specs_that_are_not_an_object_drop_the_result() -> None:
    report = run_hpa_discover(PciPassthroughDiscovery, flavor_data("pci_passthrough:alias"))
    assert report.status == "dropped"
    assert report.reason is not None and "extra_specs is a str" in report.reason


def test_results_share_no_attribute_entries() -> None:
    """Attributes are made once per distinct value: each result still has its own entries."""
    plugin = PciPassthroughDiscovery()
    data = flavor_data({EXTRA_SPEC: "qat-vf-intel64-8086-0443:2"})
    first, second = plugin.hpa_discover(data), plugin.hpa_discover(data)
    assert first == second and first
    for entry in (entry for item in first for entry in item["hpa-feature-attributes"]):
        entry["hpa-attribute-value"] = "changed"
    assert plugin.hpa_discover(data) == second
    assert "changed" not in str(second)
