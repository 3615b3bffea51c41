"""The plugin through nfvd's test kit: ONAP's capabilities for valid flavors, none for bad ones."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from framework import hpa_capability
from framework.testing import HPA_MAX_BYTES, check_plugin, run_hpa_discover

from onap_device_driver_cpu import CpuDiscovery

#: A host's CPU flags as libvirt names them: a long but realistic features extra spec.
HOST_FLAGS = ",".join([
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "sep", "mtrr", "pge",
    "mca", "cmov", "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "syscall",
    "nx", "pdpe1gb", "rdtscp", "lm", "constant_tsc", "nopl", "xtopology", "pni", "pclmulqdq",
    "ssse3", "fma", "cx16", "pcid", "sse4_1", "sse4_2", "x2apic", "movbe", "popcnt", "aes",
    "xsave", "avx", "f16c", "rdrand", "hypervisor", "lahf_lm", "abm", "3dnowprefetch", "fsgsbase",
    "bmi1", "hle", "avx2", "smep", "bmi2", "erms", "invpcid", "rtm", "mpx", "avx512f", "avx512dq",
    "rdseed", "adx", "smap", "clflushopt", "clwb", "avx512cd", "avx512bw", "avx512vl", "xsaveopt",
    "xsavec", "xgetbv1", "xsaves", "arat", "pku", "ospke", "avx512_vnni", "md_clear"])


def flavor_data(extra_specs: dict[str, Any] | None, flavor_id: str = "110") -> dict[str, Any]:
    """One flavor as nfvd hands it to HPA discovery plugins."""
    return {
        "flavor": {"id": flavor_id, "name": "onap.hpa.medium", "vcpus": 4, "ram": 4096,
                   "disk": 20, "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0},
        "extra_specs": extra_specs,
        "viminfo": {"cloud_owner": "CloudOwner", "cloud_region_id": "RegionOne",
                    "cloud_extra_info": ""},
        "vimtype": "openstack",
    }


def capability(data: dict[str, Any], feature: str, architecture: str,
               attributes: list[tuple[str, str]]) -> dict[str, Any]:
    """The capability expected for ``data``; ``attributes`` as (key, hpa-attribute-value)."""
    return {
        "hpa-capability-id": hpa_capability(data, feature, architecture, [])["hpa-capability-id"],
        "hpa-feature": feature,
        "hpa-version": "v1",
        "architecture": architecture,
        "hpa-feature-attributes": [{"hpa-attribute-key": key, "hpa-attribute-value": value}
                                   for key, value in attributes],
    }


def discover(extra_specs: dict[str, Any] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The flavor's data and the capabilities the plugin returned for it, which were accepted."""
    data = flavor_data(extra_specs)
    report = run_hpa_discover(CpuDiscovery, data)
    assert report.status == "accepted", report.reason
    assert report.bytes <= HPA_MAX_BYTES
    return data, report.capabilities


def test_follows_the_hpa_discovery_contract() -> None:
    assert check_plugin(CpuDiscovery, "hpa") == []


def test_cpu_pinning_puts_the_thread_policy_first() -> None:
    data, capabilities = discover({"hw:cpu_policy": "dedicated",
                                   "hw:cpu_thread_policy": "isolate"})
    assert capabilities == [capability(data, "cpuPinning", "generic", [
        ("logicalCpuThreadPinningPolicy", '{"value":"isolate"}'),
        ("logicalCpuPinningPolicy", '{"value":"dedicated"}')])]


@pytest.mark.parametrize(("spec", "key"), [
    ("hw:cpu_policy", "logicalCpuPinningPolicy"),
    ("hw:cpu_thread_policy", "logicalCpuThreadPinningPolicy"),
])
def test_either_pinning_policy_alone_is_pinning(spec: str, key: str) -> None:
    data, capabilities = discover({spec: "prefer"})
    assert capabilities == [capability(data, "cpuPinning", "generic",
                                       [(key, '{"value":"prefer"}')])]


def test_cpu_topology_in_sockets_cores_threads_order() -> None:
    data, capabilities = discover({"hw:cpu_threads": "2", "hw:cpu_cores": "4",
                                   "hw:cpu_sockets": "1"})
    assert capabilities == [capability(data, "cpuTopology", "generic", [
        ("numCpuSockets", '{"value":"1"}'), ("numCpuCores", '{"value":"4"}'),
        ("numCpuThreads", '{"value":"2"}')])]


@pytest.mark.parametrize(("spec", "key"), [
    ("hw:cpu_sockets", "numCpuSockets"),
    ("hw:cpu_cores", "numCpuCores"),
    ("hw:cpu_threads", "numCpuThreads"),
])
def test_each_topology_count_alone_is_a_topology(spec: str, key: str) -> None:
    data, capabilities = discover({spec: "2"})
    assert capabilities == [capability(data, "cpuTopology", "generic", [(key, '{"value":"2"}')])]


def test_instruction_set_extensions_are_intel64_and_one_string() -> None:
    data, capabilities = discover({"hw:capabilities:cpu_info:features": "avx,acpi"})
    assert capabilities == [capability(data, "instructionSetExtensions", "Intel64", [
        ("instructionSetExtensions", '{"value":"avx,acpi"}')])]


def test_every_feature_in_onap_order() -> None:
    data, capabilities = discover({
        "hw:capabilities:cpu_info:features": "avx,acpi", "hw:cpu_sockets": "2",
        "hw:cpu_policy": "dedicated", "hw:mem_page_size": "large"})
    assert capabilities == [
        capability(data, "cpuPinning", "generic",
                   [("logicalCpuPinningPolicy", '{"value":"dedicated"}')]),
        capability(data, "cpuTopology", "generic", [("numCpuSockets", '{"value":"2"}')]),
        capability(data, "instructionSetExtensions", "Intel64",
                   [("instructionSetExtensions", '{"value":"avx,acpi"}')]),
    ]


@pytest.mark.parametrize("extra_specs", [None, {}, {"hw:mem_page_size": "large",
                                                    "hw:numa_nodes": "2"}])
def test_no_cpu_extra_spec_no_capability(extra_specs: dict[str, Any] | None) -> None:
    assert discover(extra_specs)[1] == []


def test_missing_extra_specs_are_none() -> None:
    data = flavor_data(None)
    del data["extra_specs"]
    assert run_hpa_discover(CpuDiscovery, data).capabilities == []


@pytest.mark.parametrize("vimtype", ["pike", "windriver", "starlingx", "vmware", None])
def test_every_vim_type_gets_an_answer(vimtype: str | None) -> None:
    data = {**flavor_data({"hw:cpu_policy": "dedicated"}), "vimtype": vimtype}
    assert run_hpa_discover(CpuDiscovery, data).capabilities == [capability(
        data, "cpuPinning", "generic", [("logicalCpuPinningPolicy", '{"value":"dedicated"}')])]


def test_capability_ids_are_stable_and_per_flavor() -> None:
    specs = {"hw:cpu_policy": "dedicated", "hw:cpu_sockets": "2",
             "hw:capabilities:cpu_info:features": "avx"}
    first, again, other = ([item["hpa-capability-id"] for item in
                            run_hpa_discover(CpuDiscovery, flavor_data(specs, flavor_id))
                            .capabilities] for flavor_id in ("110", "110", "111"))
    assert [uuid.UUID(value).version for value in first] == [5, 5, 5]
    assert len(set(first)) == 3
    assert again == first
    assert not set(other) & set(first)


@pytest.mark.parametrize(("extra_specs", "reason"), [
    ({"hw:cpu_sockets": "x"}, "hw:cpu_sockets is 'x': not a positive integer"),
    ({"hw:cpu_cores": "0"}, "hw:cpu_cores is '0': not a positive integer"),
    ({"hw:cpu_threads": "-2"}, "hw:cpu_threads is '-2': not a positive integer"),
    ({"hw:cpu_threads": "2.0"}, "hw:cpu_threads is '2.0': not a positive integer"),
    ({"hw:cpu_sockets": ""}, "hw:cpu_sockets is '': not a positive integer"),
    # a valid capability is not returned alone when another one is malformed
    ({"hw:cpu_policy": "dedicated", "hw:cpu_sockets": "two"},
     "hw:cpu_sockets is 'two': not a positive integer"),
    (["hw:cpu_policy"], "extra_specs is list, not a mapping"),
])
def test_a_malformed_extra_spec_drops_the_result(extra_specs: Any, reason: str) -> None:
    report = run_hpa_discover(CpuDiscovery, flavor_data(extra_specs))
    assert (report.status, report.capabilities) == ("dropped", [])
    assert report.reason == f"hpa_discover raised ValueError: {reason}"


def every_cpu_spec(features: str) -> dict[str, str]:
    """Extra specs asking for every feature of the plugin, with ``features`` as CPU flags."""
    return {"hw:cpu_policy": "dedicated", "hw:cpu_thread_policy": "require",
            "hw:cpu_sockets": "2", "hw:cpu_cores": "32", "hw:cpu_threads": "2",
            "hw:capabilities:cpu_info:features": features}


def test_a_large_flavor_fits_the_limit() -> None:
    # the flags up to avx512vl, 421 characters: with every other spec, 478 is the most that fits
    features = HOST_FLAGS[:HOST_FLAGS.index(",xsaveopt")]
    data, capabilities = discover(every_cpu_spec(features))
    assert [item["hpa-feature"] for item in capabilities] == [
        "cpuPinning", "cpuTopology", "instructionSetExtensions"]


def test_a_result_over_the_limit_is_dropped_whole() -> None:
    report = run_hpa_discover(CpuDiscovery, flavor_data(every_cpu_spec(HOST_FLAGS)))
    assert (report.status, report.capabilities) == ("dropped", [])
    assert report.bytes == 1510
    assert report.reason == f"hpa_discover returned 1510 bytes (limit {HPA_MAX_BYTES})"


def test_results_share_no_attribute_entries() -> None:
    """Attributes are made once per distinct value: each result still has its own entries."""
    plugin = CpuDiscovery()
    data = flavor_data({"hw:cpu_policy": "dedicated", "hw:cpu_sockets": "2"})
    first, second = plugin.hpa_discover(data), plugin.hpa_discover(data)
    assert first == second and first
    for entry in (entry for item in first for entry in item["hpa-feature-attributes"]):
        entry["hpa-attribute-value"] = "changed"
    assert plugin.hpa_discover(data) == second
    assert "changed" not in str(second)
