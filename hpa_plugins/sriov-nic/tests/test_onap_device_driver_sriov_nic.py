"""The plugin through nfvd's test kit: ONAP's worked example, stable ids, malformed values."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from framework.testing import HPA_MAX_BYTES, check_plugin, run_hpa_discover

from onap_device_driver_sriov_nic.discovery import EXTRA_SPEC, SriovNicDiscovery

#: ONAP's worked SR-IOV example: the physical network keeps its dash.
EXAMPLE = "sriov-nic-intel-8086-15b3-physnet-1:1"


def flavor_data(extra_specs: Any = None, flavor_id: str = "110") -> dict[str, Any]:
    """One flavor as nfvd hands it to HPA discovery plugins (the worked example's flavor)."""
    return {
        "flavor": {"id": flavor_id, "name": "onap.hpa.sriov", "vcpus": 2, "ram": "2048",
                   "disk": "2G", "swap": False, "OS-FLV-EXT-DATA:ephemeral": False},
        "extra_specs": {EXTRA_SPEC: EXAMPLE} if extra_specs is None else extra_specs,
        "viminfo": {"cloud_owner": "CloudOwner", "cloud_region_id": "RegionOne",
                    "cloud_extra_info": ""},
        "vimtype": "pike",
    }


def discover(data: dict[str, Any]) -> list[dict[str, Any]]:
    report = run_hpa_discover(SriovNicDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.bytes <= HPA_MAX_BYTES
    return report.capabilities


def test_follows_the_hpa_discovery_contract() -> None:
    assert check_plugin(SriovNicDiscovery, "hpa") == []


def test_the_worked_example() -> None:
    [capability] = discover(flavor_data())
    assert uuid.UUID(capability.pop("hpa-capability-id")).version == 5
    assert capability == {
        "hpa-feature": "sriovNICNetwork",
        "hpa-version": "v1",
        "architecture": "intel",
        "hpa-feature-attributes": [
            {"hpa-attribute-key": "pciCount", "hpa-attribute-value": '{"value":"1"}'},
            {"hpa-attribute-key": "pciVendorId", "hpa-attribute-value": '{"value":"8086"}'},
            {"hpa-attribute-key": "pciDeviceId", "hpa-attribute-value": '{"value":"15b3"}'},
            {"hpa-attribute-key": "physicalNetwork",
             "hpa-attribute-value": '{"value":"physnet-1"}'},
        ],
    }


def test_capability_ids_are_stable_and_per_flavor() -> None:
    first, again, other = (discover(flavor_data(flavor_id=flavor_id))[0]["hpa-capability-id"]
                           for flavor_id in ("110", "110", "111"))
    assert first == again
    assert first != other


@pytest.mark.parametrize(("value", "architecture", "physical_network", "ids"), [
    ("sriov-nic-intel-8086-15b3-physnet:1", "intel", "physnet", ("8086", "15b3")),
    ("sriov-nic-aarch64-15B3-1017-provider-net-a:4", "aarch64", "provider-net-a",
     ("15B3", "1017")),
    ("sriov-nic-Intel64-8086-154c-physnet-1:16", "Intel64", "physnet-1", ("8086", "154c")),
])
def test_fields_are_taken_as_written(value: str, architecture: str, physical_network: str,
                                     ids: tuple[str, str]) -> None:
    [capability] = discover(flavor_data({EXTRA_SPEC: value}))
    assert capability["architecture"] == architecture
    values = [attribute["hpa-attribute-value"]
              for attribute in capability["hpa-feature-attributes"]]
    assert values[1:] == [f'{{"value":"{ids[0]}"}}', f'{{"value":"{ids[1]}"}}',
                          f'{{"value":"{physical_network}"}}']


@pytest.mark.parametrize("extra_specs", [{}, {"hw:cpu_policy": "dedicated"},
                                         {"sriov_nic": EXAMPLE}])
def test_a_flavor_without_the_extra_spec_has_none(extra_specs: dict[str, str]) -> None:
    assert discover(flavor_data(extra_specs)) == []


def test_missing_or_null_extra_specs_mean_none() -> None:
    data = flavor_data()
    data["extra_specs"] = None
    assert discover(data) == []
    del data["extra_specs"]
    assert discover(data) == []


@pytest.mark.parametrize(("value", "fault"), [
    ("sriov-nic-intel-8086-15b3-physnet-1", "no ':<count>'"),
    ("sriov-nic-intel-8086-15b3-physnet-1:", "count '' is not a positive integer"),
    ("sriov-nic-intel-8086-15b3-physnet-1:0", "count '0' is not a positive integer"),
    ("sriov-nic-intel-8086-15b3-physnet-1:-1", "count '-1' is not a positive integer"),
    ("sriov-nic-intel-8086-15b3-physnet-1:two", "count 'two' is not a positive integer"),
    ("sriov-nic-intel-8086-15b3-physnet-1:1:2", "count '1:2' is not a positive integer"),
    ("sriov-nic-intel-8086-15b3:1", "5 '-'-separated fields before ':', 6 needed"),
    ("physnet1:1", "1 '-'-separated fields before ':', 6 needed"),
    ("sriov-nic--8086-15b3-physnet-1:1", "the architecture is empty"),
    ("sriov-nic-intel-8086-15b3-:1", "the physical network is empty"),
    ("sriov-nic-intel--15b3-physnet-1:1", "the vendor id is empty"),
    ("sriov-nic-intel-8086--physnet-1:1", "the device id is empty"),
    ("sriov-nic-intel-80g6-15b3-physnet-1:1", "vendor id '80g6' is not 1 to 4 hex digits"),
    ("sriov-nic-intel-0x8086-15b3-physnet-1:1", "vendor id '0x8086' is not 1 to 4 hex"),
    ("sriov-nic-intel-8086-15b30-physnet-1:1", "device id '15b30' is not 1 to 4 hex digits"),
    (1, "of type int, not a string"),
    (None, "of type NoneType, not a string"),
])
def test_a_malformed_value_drops_the_result_naming_the_extra_spec(value: Any,
                                                                 fault: str) -> None:
    report = run_hpa_discover(SriovNicDiscovery, flavor_data({EXTRA_SPEC: value}))
    assert (report.status, report.capabilities) == ("dropped", [])
    assert report.reason is not None
    assert f"ValueError: extra spec {EXTRA_SPEC!r}" in report.reason
    assert fault in report.reason


def test_extra_specs_that_are_not_an_object_drop_the_result() -> None:
    report = run_hpa_discover(SriovNicDiscovery, flavor_data([EXAMPLE]))
    assert report.status == "dropped"
    assert report.reason is not None and "extra_specs is a list" in report.reason


def test_results_share_no_attribute_entries() -> None:
    """Attributes are made once per distinct value: each result still has its own entries."""
    plugin = SriovNicDiscovery()
    data = flavor_data({EXTRA_SPEC: "sriov-nic-intel-8086-154C-physnet1:2"})
    first, second = plugin.hpa_discover(data), plugin.hpa_discover(data)
    assert first == second and first
    for entry in (entry for item in first for entry in item["hpa-feature-attributes"]):
        entry["hpa-attribute-value"] = "changed"
    assert plugin.hpa_discover(data) == second
    assert "changed" not in str(second)
