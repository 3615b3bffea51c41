"""The plugin through nfvd's test kit: ONAP's capabilities for valid flavors, none for bad ones."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from framework import hpa_capability
from framework.testing import HPA_MAX_BYTES, check_plugin, run_hpa_discover

from onap_device_driver_basic import BasicDiscovery

#: Nova's flavor detail as the worked example of the design gives it.
WORKED_EXAMPLE = {"id": "110", "name": "onap.hpa.medium", "vcpus": 2, "ram": "2048",
                  "disk": "2G", "swap": False, "OS-FLV-EXT-DATA:ephemeral": False}


def flavor_data(flavor: dict[str, Any] | None = None, /, **changes: Any) -> dict[str, Any]:
    """One flavor as nfvd hands it to HPA discovery plugins; ``changes`` update the flavor."""
    return {
        "flavor": {**(WORKED_EXAMPLE if flavor is None else flavor), **changes},
        "extra_specs": {"aggregate_instance_extra_specs:sriov_nic":
                        "sriov-nic-intel-8086-15b3-physnet-1:1"},
        "viminfo": {"cloud_owner": "CloudOwner", "cloud_region_id": "RegionOne",
                    "cloud_extra_info": ""},
        "vimtype": "openstack",
    }


def capability(data: dict[str, Any], feature: str,
               attributes: list[tuple[str, str]]) -> dict[str, Any]:
    """The capability expected for ``data``; ``attributes`` as (key, hpa-attribute-value)."""
    return {
        "hpa-capability-id": hpa_capability(data, feature, "generic", [])["hpa-capability-id"],
        "hpa-feature": feature,
        "hpa-version": "v1",
        "architecture": "generic",
        "hpa-feature-attributes": [{"hpa-attribute-key": key, "hpa-attribute-value": value}
                                   for key, value in attributes],
    }


def expected(data: dict[str, Any], vcpus: str, ram: str, disk: str, swap: str,
             ephemeral: str) -> list[dict[str, Any]]:
    return [
        capability(data, "basicCapabilities", [
            ("numVirtualCpu", f'{{"value":"{vcpus}"}}'),
            ("virtualMemSize", f'{{"value":"{ram}","unit":"MB"}}')]),
        capability(data, "localStorage", [
            ("diskSize", f'{{"value":"{disk}","unit":"GB"}}'),
            ("swapMemSize", f'{{"value":"{swap}","unit":"MB"}}'),
            ("ephemeralDiskSize", f'{{"value":"{ephemeral}","unit":"GB"}}')]),
    ]


def test_follows_the_hpa_discovery_contract() -> None:
    assert check_plugin(BasicDiscovery, "hpa") == []


def test_the_worked_example() -> None:
    data = flavor_data()
    report = run_hpa_discover(BasicDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.capabilities == expected(data, "2", "2048", "2G", "0", "0")
    assert report.bytes <= HPA_MAX_BYTES


def test_a_flavor_as_nova_returns_it() -> None:
    data = flavor_data(vcpus=8, ram=16384, disk=40, swap="", **{"OS-FLV-EXT-DATA:ephemeral": 10})
    report = run_hpa_discover(BasicDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.capabilities == expected(data, "8", "16384", "40", "0", "10")


def test_a_swap_is_in_mb() -> None:
    data = flavor_data(swap=512)
    report = run_hpa_discover(BasicDiscovery, data)
    assert report.capabilities == expected(data, "2", "2048", "2G", "512", "0")


def test_missing_sizes_are_zero() -> None:
    data = flavor_data({"id": "7", "vcpus": 1, "ram": 512})
    report = run_hpa_discover(BasicDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.capabilities == expected(data, "1", "512", "0", "0", "0")


@pytest.mark.parametrize("extra_specs", [None, {}, "missing"])
def test_extra_specs_do_not_matter(extra_specs: Any) -> None:
    data = flavor_data()
    if extra_specs == "missing":
        del data["extra_specs"]
    else:
        data["extra_specs"] = extra_specs
    report = run_hpa_discover(BasicDiscovery, data)
    assert report.capabilities == expected(data, "2", "2048", "2G", "0", "0")


@pytest.mark.parametrize("vimtype", ["pike", "windriver", "starlingx", "vmware", None])
def test_every_vim_type_gets_an_answer(vimtype: str | None) -> None:
    data = {**flavor_data(), "vimtype": vimtype}
    assert run_hpa_discover(BasicDiscovery, data).capabilities == expected(
        data, "2", "2048", "2G", "0", "0")


def test_capability_ids_are_stable_and_per_flavor() -> None:
    first, again, other = (run_hpa_discover(BasicDiscovery, flavor_data(id=flavor_id))
                           for flavor_id in ("110", "110", "111"))
    ids = [item["hpa-capability-id"] for item in first.capabilities]
    assert [uuid.UUID(value).version for value in ids] == [5, 5]
    assert ids[0] != ids[1]
    assert [item["hpa-capability-id"] for item in again.capabilities] == ids
    assert not {item["hpa-capability-id"] for item in other.capabilities} & set(ids)


def test_the_id_depends_on_the_cloud_region() -> None:
    data = flavor_data()
    elsewhere = {**data, "viminfo": {**data["viminfo"], "cloud_region_id": "RegionTwo"}}
    ids, other = (
        [item["hpa-capability-id"] for item in run_hpa_discover(BasicDiscovery, d).capabilities]
        for d in (data, elsewhere))
    assert not set(ids) & set(other)


@pytest.mark.parametrize(("data", "reason"), [
    ({**flavor_data(), "flavor": None}, "flavor is NoneType, not Nova's flavor detail"),
    ({key: value for key, value in flavor_data().items() if key != "flavor"},
     "flavor is NoneType, not Nova's flavor detail"),
    (flavor_data({"id": "1", "ram": 2048}), "flavor has no vcpus"),
    (flavor_data(vcpus=None), "flavor has no vcpus"),
    (flavor_data({"id": "1", "vcpus": 2}), "flavor has no ram"),
    (flavor_data(vcpus="two"), "flavor vcpus is 'two': not a positive integer"),
    (flavor_data(vcpus=0), "flavor vcpus is 0: not a positive integer"),
    (flavor_data(vcpus=True), "flavor vcpus is True: not a positive integer"),
    (flavor_data(vcpus=-1), "flavor vcpus is -1: not a positive integer"),
    (flavor_data(ram="2GB"), "flavor ram is '2GB': not a positive integer"),
    (flavor_data(ram=""), "flavor ram is '': not a positive integer"),
    (flavor_data(disk={"size": 2}), "flavor disk is {'size': 2}: not a size"),
    (flavor_data(swap=True), "flavor swap is True: not a size"),
])
def test_a_malformed_flavor_has_no_capability(data: dict[str, Any], reason: str) -> None:
    report = run_hpa_discover(BasicDiscovery, data)
    assert (report.status, report.capabilities) == ("dropped", [])
    assert report.reason == f"hpa_discover raised ValueError: {reason}"


def test_a_large_flavor_fits_the_limit() -> None:
    data = flavor_data(id="f" * 36, vcpus=2**31 - 1, ram=2**40, disk=2**40, swap=2**40,
                       **{"OS-FLV-EXT-DATA:ephemeral": 2**40})
    report = run_hpa_discover(BasicDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.bytes <= HPA_MAX_BYTES


def test_results_share_no_attribute_entries() -> None:
    """Attributes are made once per distinct value: each result still has its own entries."""
    plugin = BasicDiscovery()
    data = flavor_data()
    first, second = plugin.hpa_discover(data), plugin.hpa_discover(data)
    assert first == second and first
    for entry in (entry for item in first for entry in item["hpa-feature-attributes"]):
        entry["hpa-attribute-value"] = "changed"
    assert plugin.hpa_discover(data) == second
    assert "changed" not in str(second)
