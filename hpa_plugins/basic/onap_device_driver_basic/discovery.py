"""HPA discovery: the basicCapabilities and localStorage capabilities every flavor has."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework import hookimpl, hpa_attribute, hpa_capability, hpa_count

# OOF selects a flavor only when feature, architecture and version (v1, set by
# hpa_capability) are spelt exactly as in its request.
BASIC = "basicCapabilities"
LOCAL_STORAGE = "localStorage"
ARCHITECTURE = "generic"


def _flavor(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data["flavor"]``; ValueError when it is missing or not a mapping."""
    flavor = data.get("flavor")
    if not isinstance(flavor, Mapping):
        raise ValueError(f"flavor is {type(flavor).__name__}, not Nova's flavor detail")
    return flavor


def _count(flavor: Mapping[str, Any], field: str) -> str:
    """``flavor[field]`` as the digit string OOF compares: an int or a string of digits, > 0.

    ValueError, naming the field, when it is missing or not a positive integer.
    """
    if flavor.get(field) is None:
        raise ValueError(f"flavor has no {field}")
    value = flavor[field]
    text = hpa_count(value)
    if text is None:
        raise ValueError(f"flavor {field} is {value!r}: not a positive integer")
    return text


def _size(flavor: Mapping[str, Any], field: str) -> str:
    """``flavor[field]`` as ONAP reports it: the value as it is, or ``0`` when it is missing or
    empty (Nova's ``swap: ""``, ``false``). ValueError when it is neither a number nor a string.
    """
    value = flavor.get(field) or 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"flavor {field} is {value!r}: not a size")
    return str(value)


class BasicDiscovery:
    """Describes the virtual CPUs, memory and local storage of every flavor."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The flavor's :data:`BASIC` and :data:`LOCAL_STORAGE` capabilities, in that order.

        ``data["flavor"]`` is Nova's flavor detail; ``vcpus``, ``ram``, ``disk``, ``swap``
        and ``OS-FLV-EXT-DATA:ephemeral`` are read. Both capabilities are returned for every
        flavor and every ``vimtype``, attributes as ONAP's HPA driver writes them:

        - basicCapabilities: ``numVirtualCpu`` (vcpus), ``virtualMemSize`` (ram, MB);
        - localStorage: ``diskSize`` (disk, GB), ``swapMemSize`` (swap, MB) and
          ``ephemeralDiskSize`` (OS-FLV-EXT-DATA:ephemeral, GB), each ``0`` when missing or
          empty and otherwise as Nova gives it.

        Raises ValueError, naming the field, when the flavor is missing, when ``vcpus`` or
        ``ram`` is missing or not a positive integer, or when a size is neither a number
        nor a string: no capability is returned for such a flavor.
        """
        flavor = _flavor(data)
        vcpus, ram = _count(flavor, "vcpus"), _count(flavor, "ram")
        storage = [
            hpa_attribute("diskSize", _size(flavor, "disk"), "GB"),
            hpa_attribute("swapMemSize", _size(flavor, "swap"), "MB"),
            hpa_attribute("ephemeralDiskSize", _size(flavor, "OS-FLV-EXT-DATA:ephemeral"), "GB"),
        ]
        return [
            hpa_capability(data, BASIC, ARCHITECTURE, [
                hpa_attribute("numVirtualCpu", vcpus),
                hpa_attribute("virtualMemSize", ram, "MB"),
            ]),
            hpa_capability(data, LOCAL_STORAGE, ARCHITECTURE, storage),
        ]
