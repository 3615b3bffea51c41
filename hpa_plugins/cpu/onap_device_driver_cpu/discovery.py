"""HPA discovery: the CPU pinning, topology and instruction set a flavor's extra specs ask for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework import hookimpl, hpa_attribute, hpa_capability, hpa_count

# OOF selects a flavor only when feature, architecture and version (v1, set by
# hpa_capability) are spelt exactly as in its request.
CPU_PINNING = "cpuPinning"
CPU_TOPOLOGY = "cpuTopology"
INSTRUCTION_SET_EXTENSIONS = "instructionSetExtensions"
ARCHITECTURE = "generic"
#: ONAP hard-codes this architecture for instruction sets, whatever the host.
INSTRUCTION_SET_ARCHITECTURE = "Intel64"

#: cpuPinning's extra specs and attribute keys, in ONAP's attribute order (thread policy first).
PINNING = (("hw:cpu_thread_policy", "logicalCpuThreadPinningPolicy"),
           ("hw:cpu_policy", "logicalCpuPinningPolicy"))
#: cpuTopology's extra specs and attribute keys, in ONAP's attribute order.
TOPOLOGY = (("hw:cpu_sockets", "numCpuSockets"),
            ("hw:cpu_cores", "numCpuCores"),
            ("hw:cpu_threads", "numCpuThreads"))
#: The extra spec listing the CPU features the flavor needs, e.g. ``avx,acpi``.
CPU_FEATURES = "hw:capabilities:cpu_info:features"


def _extra_specs(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data["extra_specs"]``: ``{}`` when missing or null; ValueError when not a mapping."""
    specs = data.get("extra_specs")
    if specs is None:
        return {}
    if not isinstance(specs, Mapping):
        raise ValueError(f"extra_specs is {type(specs).__name__}, not a mapping")
    return specs


def _count(specs: Mapping[str, Any], key: str) -> str:
    """The extra spec ``key`` as a digit string > 0, which OOF can compare as a number.

    ValueError, naming the extra spec, otherwise.
    """
    text = hpa_count(specs[key])
    if text is None:
        raise ValueError(f"{key} is {specs[key]!r}: not a positive integer")
    return text


class CpuDiscovery:
    """Describes the CPU pinning, CPU topology and instruction set extensions of a flavor."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The flavor's cpuPinning, cpuTopology and instructionSetExtensions capabilities.

        In that order, each only when one of its extra specs is present; ``[]`` for none
        (``extra_specs`` missing or null included).

        Attributes are those of ONAP's HPA driver, one per extra spec present:

        - cpuPinning: ``logicalCpuThreadPinningPolicy`` (hw:cpu_thread_policy), then
          ``logicalCpuPinningPolicy`` (hw:cpu_policy), values as given;
        - cpuTopology: ``numCpuSockets``, ``numCpuCores``, ``numCpuThreads``
          (hw:cpu_sockets, hw:cpu_cores, hw:cpu_threads);
        - instructionSetExtensions, architecture ``Intel64``: ``instructionSetExtensions``,
          the comma-separated string of hw:capabilities:cpu_info:features as given.

        Every ``vimtype`` gets an answer. Raises ValueError, naming the extra spec, when
        ``extra_specs`` is not a mapping or a topology count is not a positive integer
        (ONAP passes it on as it is): no capability is returned for such a flavor.
        """
        specs = _extra_specs(data)
        capabilities = []
        pinning = [hpa_attribute(key, specs[spec]) for spec, key in PINNING if spec in specs]
        if pinning:
            capabilities.append(hpa_capability(data, CPU_PINNING, ARCHITECTURE, pinning))
        topology = [hpa_attribute(key, _count(specs, spec))
                    for spec, key in TOPOLOGY if spec in specs]
        if topology:
            capabilities.append(hpa_capability(data, CPU_TOPOLOGY, ARCHITECTURE, topology))
        if CPU_FEATURES in specs:
            capabilities.append(hpa_capability(
                data, INSTRUCTION_SET_EXTENSIONS, INSTRUCTION_SET_ARCHITECTURE,
                [hpa_attribute(INSTRUCTION_SET_EXTENSIONS, specs[CPU_FEATURES])]))
        return capabilities
