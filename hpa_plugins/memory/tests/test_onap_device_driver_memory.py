"""The plugin through nfvd's test kit: ONAP's capabilities for valid flavors, none for bad ones."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from framework import hpa_capability
from framework.testing import HPA_MAX_BYTES, check_plugin, run_hpa_discover

from onap_device_driver_memory import MemoryDiscovery

#: Two NUMA nodes, two CPUs and 1 GB each.
TWO_NODES = {"hw:numa_nodes": "2",
             "hw:numa_cpus.0": "0,1", "hw:numa_mem.0": "1024",
             "hw:numa_cpus.1": "2,3", "hw:numa_mem.1": "1024"}


def flavor_data(extra_specs: Any, flavor_id: str = "110") -> dict[str, Any]:
    """One flavor as nfvd hands it to HPA discovery plugins."""
    return {
        "flavor": {"id": flavor_id, "name": "onap.hpa.large", "vcpus": 4, "ram": 2048,
                   "disk": 20, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0},
        "extra_specs": extra_specs,
        "viminfo": {"cloud_owner": "CloudOwner", "cloud_region_id": "RegionOne",
                    "cloud_extra_info": ""},
        "vimtype": "openstack",
    }


def numa_nodes(count: int, page_size: str | None = None) -> dict[str, str]:
    """Extra specs of ``count`` NUMA nodes, 8 CPUs and 64 GB each, and ``page_size``."""
    specs = {"hw:numa_nodes": str(count)}
    for node in range(count):
        specs[f"hw:numa_cpus.{node}"] = f"{8 * node}-{8 * node + 7}"
        specs[f"hw:numa_mem.{node}"] = "65536"
    return specs if page_size is None else {**specs, "hw:mem_page_size": page_size}


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


def discover(extra_specs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The flavor's data and the capabilities the plugin returned for it, which were accepted."""
    data = flavor_data(extra_specs)
    report = run_hpa_discover(MemoryDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.bytes <= HPA_MAX_BYTES
    return data, report.capabilities


def test_follows_the_hpa_discovery_contract() -> None:
    assert check_plugin(MemoryDiscovery, "hpa") == []


@pytest.mark.parametrize(("page_size", "value"), [
    ("large", '{"value":"2","unit":"MB"}'),
    ("small", '{"value":"4","unit":"KB"}'),
    ("2048", '{"value":"2048","unit":"KB"}'),
    # as ONAP does: any other value as it is, in KB, unparsed
    ("1GB", '{"value":"1GB","unit":"KB"}'),
])
def test_huge_pages(page_size: str, value: str) -> None:
    data, capabilities = discover({"hw:mem_page_size": page_size})
    assert capabilities == [capability(data, "hugePages", [("memoryPageSize", value)])]


def test_any_page_size_is_huge_pages_without_attributes() -> None:
    data, capabilities = discover({"hw:mem_page_size": "any"})
    assert capabilities == [capability(data, "hugePages", [])]


def test_numa_nodes_with_their_cpus_and_memory() -> None:
    data, capabilities = discover(TWO_NODES)
    assert capabilities == [capability(data, "numa", [
        ("numaNodes", '{"value":"2"}'),
        ("numaCpu-0", '{"value":"0,1"}'), ("numaMem-0", '{"value":"1024","unit":"MB"}'),
        ("numaCpu-1", '{"value":"2,3"}'), ("numaMem-1", '{"value":"1024","unit":"MB"}')])]


def test_numa_nodes_alone() -> None:
    data, capabilities = discover({"hw:numa_nodes": "1"})
    assert capabilities == [capability(data, "numa", [("numaNodes", '{"value":"1"}')])]


def test_a_node_needs_both_cpus_and_memory() -> None:
    data, capabilities = discover({"hw:numa_nodes": "3", "hw:numa_cpus.0": "0",
                                   "hw:numa_mem.1": "512",
                                   "hw:numa_cpus.2": "1-3", "hw:numa_mem.2": "1536"})
    assert capabilities == [capability(data, "numa", [
        ("numaNodes", '{"value":"3"}'),
        ("numaCpu-2", '{"value":"1-3"}'), ("numaMem-2", '{"value":"1536","unit":"MB"}')])]


def test_nodes_past_the_count_are_ignored_even_malformed() -> None:
    data, capabilities = discover({**TWO_NODES, "hw:numa_cpus.2": "4,5", "hw:numa_mem.2": "x"})
    assert capabilities == discover(TWO_NODES)[1]


def test_both_features_in_onap_order() -> None:
    data, capabilities = discover({**TWO_NODES, "hw:mem_page_size": "large",
                                   "hw:cpu_policy": "dedicated"})
    assert [item["hpa-feature"] for item in capabilities] == ["hugePages", "numa"]
    assert capabilities[0] == capability(data, "hugePages",
                                         [("memoryPageSize", '{"value":"2","unit":"MB"}')])


@pytest.mark.parametrize("extra_specs", [None, {}, {"hw:cpu_policy": "dedicated"}])
def test_no_memory_extra_spec_no_capability(extra_specs: dict[str, Any] | None) -> None:
    assert discover(extra_specs)[1] == []


def test_missing_extra_specs_are_none() -> None:
    data = flavor_data(None)
    del data["extra_specs"]
    assert run_hpa_discover(MemoryDiscovery, data).capabilities == []


@pytest.mark.parametrize("vimtype", ["pike", "windriver", "starlingx", "vmware", None])
def test_every_vim_type_gets_an_answer(vimtype: str | None) -> None:
    data = {**flavor_data({"hw:mem_page_size": "small"}), "vimtype": vimtype}
    assert run_hpa_discover(MemoryDiscovery, data).capabilities == [capability(
        data, "hugePages", [("memoryPageSize", '{"value":"4","unit":"KB"}')])]


def test_capability_ids_are_stable_and_per_flavor() -> None:
    specs = {**TWO_NODES, "hw:mem_page_size": "large"}
    first, again, other = ([item["hpa-capability-id"] for item in
                            run_hpa_discover(MemoryDiscovery, flavor_data(specs, flavor_id))
                            .capabilities] for flavor_id in ("110", "110", "111"))
    assert [uuid.UUID(value).version for value in first] == [5, 5]
    assert len(set(first)) == 2
    assert again == first
    assert not set(other) & set(first)


@pytest.mark.parametrize(("extra_specs", "reason"), [
    ({"hw:numa_nodes": "two"}, "hw:numa_nodes is 'two': not a positive integer"),
    ({"hw:numa_nodes": "0"}, "hw:numa_nodes is '0': not a positive integer"),
    ({"hw:numa_nodes": "-1"}, "hw:numa_nodes is '-1': not a positive integer"),
    ({"hw:numa_nodes": ""}, "hw:numa_nodes is '': not a positive integer"),
    ({**TWO_NODES, "hw:numa_mem.1": "1GB"}, "hw:numa_mem.1 is '1GB': not a positive integer"),
    ({"hw:mem_page_size": ""}, "hw:mem_page_size is empty"),
    # a valid capability is not returned alone when another one is malformed
    ({"hw:mem_page_size": "large", "hw:numa_nodes": "two"},
     "hw:numa_nodes is 'two': not a positive integer"),
    (["hw:numa_nodes"], "extra_specs is list, not a mapping"),
])
def test_a_malformed_extra_spec_drops_the_result(extra_specs: Any, reason: str) -> None:
    report = run_hpa_discover(MemoryDiscovery, flavor_data(extra_specs))
    assert (report.status, report.capabilities) == ("dropped", [])
    assert report.reason == f"hpa_discover raised ValueError: {reason}"


@pytest.mark.parametrize(("specs", "size"), [
    (numa_nodes(5, "large"), 1362),
    (numa_nodes(7), 1459),
])
def test_the_largest_numa_layouts_that_fit(specs: dict[str, str], size: int) -> None:
    report = run_hpa_discover(MemoryDiscovery, flavor_data(specs))
    assert (report.status, report.bytes) == ("accepted", size)


@pytest.mark.parametrize(("specs", "size"), [
    (numa_nodes(6, "large"), 1538),
    (numa_nodes(8), 1635),
    (numa_nodes(8, "large"), 1890),
])
def test_larger_numa_layouts_are_dropped_whole(specs: dict[str, str], size: int) -> None:
    # about 175 bytes a node: the server drops the plugin's result for this flavor, the
    # hugePages capability included, and says why
    report = run_hpa_discover(MemoryDiscovery, flavor_data(specs))
    assert (report.status, report.capabilities, report.bytes) == ("dropped", [], size)
    assert report.reason == f"hpa_discover returned {size} bytes (limit {HPA_MAX_BYTES})"


def test_a_huge_node_count_reads_only_the_nodes_named() -> None:
    data, capabilities = discover({"hw:numa_nodes": str(10**12), "hw:numa_cpus.01": "0",
                                   "hw:numa_mem.01": "512", "hw:numa_cpus.7": "1",
                                   "hw:numa_mem.7": "512"})
    assert capabilities == [capability(data, "numa", [
        ("numaNodes", f'{{"value":"{10**12}"}}'),
        ("numaCpu-7", '{"value":"1"}'), ("numaMem-7", '{"value":"512","unit":"MB"}')])]


def test_results_share_no_attribute_entries() -> None:
    """Attributes are made once per distinct value: each result still has its own entries."""
    plugin = MemoryDiscovery()
    data = flavor_data({"hw:mem_page_size": "large", **numa_nodes(2)})
    first, second = plugin.hpa_discover(data), plugin.hpa_discover(data)
    assert first == second and first
    for entry in (entry for item in first for entry in item["hpa-feature-attributes"]):
        entry["hpa-attribute-value"] = "changed"
    assert plugin.hpa_discover(data) == second
    assert "changed" not in str(second)
