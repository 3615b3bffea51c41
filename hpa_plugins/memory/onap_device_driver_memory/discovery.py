"""HPA discovery: the huge pages and NUMA layout a flavor's extra specs ask for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework import hookimpl, hpa_attribute, hpa_capability, hpa_count

# OOF selects a flavor only when feature, architecture and version (v1, set by
# hpa_capability) are spelt exactly as in its request.
HUGE_PAGES = "hugePages"
NUMA = "numa"
ARCHITECTURE = "generic"

#: The extra spec of the page size: ``small``, ``large``, ``any`` or a size.
PAGE_SIZE = "hw:mem_page_size"
#: Nova's page size names as ONAP reports them; ``any`` has no attribute at all.
PAGE_SIZES: dict[str, tuple[str, str] | None] = {
    "large": ("2", "MB"), "small": ("4", "KB"), "any": None}
#: The extra spec of the number of NUMA nodes, and those of node N's CPUs and memory (MB).
NUMA_NODES = "hw:numa_nodes"
NUMA_CPUS = "hw:numa_cpus.{}"
NUMA_MEM = "hw:numa_mem.{}"


def _extra_specs(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data["extra_specs"]``: ``{}`` when missing or null; ValueError when not a mapping."""
    specs = data.get("extra_specs")
    if specs is None:
        return {}
    if not isinstance(specs, Mapping):
        raise ValueError(f"extra_specs is {type(specs).__name__}, not a mapping")
    return specs


def _positive(specs: Mapping[str, Any], key: str) -> str:
    """The extra spec ``key`` as a digit string > 0, which OOF can compare as a number.

    ValueError, naming the extra spec, otherwise.
    """
    text = hpa_count(specs[key])
    if text is None:
        raise ValueError(f"{key} is {specs[key]!r}: not a positive integer")
    return text


def _huge_pages(specs: Mapping[str, Any]) -> list[dict[str, str]]:
    """The memoryPageSize attribute of :data:`PAGE_SIZE`, none for ``any``."""
    value = str(specs[PAGE_SIZE])
    if not value:
        raise ValueError(f"{PAGE_SIZE} is empty")
    if value in PAGE_SIZES:
        size = PAGE_SIZES[value]
        return [] if size is None else [hpa_attribute("memoryPageSize", *size)]
    # ONAP reports any other value as it is, in KB, the unit Nova assumes without a suffix
    return [hpa_attribute("memoryPageSize", value, "KB")]


def _numa(specs: Mapping[str, Any]) -> list[dict[str, str]]:
    """numaNodes, then numaCpu-N and numaMem-N of each node N below it that has both."""
    nodes = _positive(specs, NUMA_NODES)
    attributes = [hpa_attribute("numaNodes", nodes)]
    # the nodes named by the extra specs rather than range(nodes), which a count such as
    # 10**12 would make endless; ONAP reads the same nodes: N below the count, spelt as str(N)
    prefix = NUMA_CPUS.format("")
    suffixes = {key.removeprefix(prefix) for key in specs if key.startswith(prefix)}
    named = sorted(int(n) for n in suffixes if n.isascii() and n.isdigit() and str(int(n)) == n)
    for node in (n for n in named if n < int(nodes)):
        cpus, mem = NUMA_CPUS.format(node), NUMA_MEM.format(node)
        # ONAP skips a node that lacks either spec
        if mem in specs:
            attributes += [hpa_attribute(f"numaCpu-{node}", specs[cpus]),
                           hpa_attribute(f"numaMem-{node}", _positive(specs, mem), "MB")]
    return attributes


class MemoryDiscovery:
    """Describes the huge pages and the NUMA layout of a flavor."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The flavor's hugePages and numa capabilities.

        In that order, each only when its extra spec is present; ``[]`` for none
        (``extra_specs`` missing or null included). Attributes are those of ONAP's HPA driver:

        - hugePages (hw:mem_page_size): ``memoryPageSize`` ``2`` MB for ``large``, ``4`` KB
          for ``small``, no attribute at all for ``any`` (the capability is still returned,
          with an empty list), and any other value as it is, in KB;
        - numa (hw:numa_nodes): ``numaNodes``, then for each node N below that count whose
          hw:numa_cpus.N and hw:numa_mem.N are both present, ``numaCpu-N`` (the CPU list as
          given) and ``numaMem-N`` (MB).

        Every ``vimtype`` gets an answer. Raises ValueError, naming the extra spec, when
        ``extra_specs`` is not a mapping, hw:mem_page_size is empty, hw:numa_nodes is not a
        positive integer or a hw:numa_mem.N that is read is not one: no capability
        is returned for such a flavor.
        """
        specs = _extra_specs(data)
        capabilities = []
        if PAGE_SIZE in specs:
            capabilities.append(
                hpa_capability(data, HUGE_PAGES, ARCHITECTURE, _huge_pages(specs)))
        if NUMA_NODES in specs:
            capabilities.append(hpa_capability(data, NUMA, ARCHITECTURE, _numa(specs)))
        return capabilities
