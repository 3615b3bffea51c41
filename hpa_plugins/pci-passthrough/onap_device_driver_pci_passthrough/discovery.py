"""HPA discovery: the PCI device a flavor passes through, as A&AI ``pciePassthrough``."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from framework import hookimpl, hpa_attribute, hpa_capability, hpa_count

#: Nova's flavor extra spec naming the PCI alias (and how many devices) a server gets.
EXTRA_SPEC = "pci_passthrough:alias"
#: The form of its value: ONAP encodes the device in the alias name; A and B are not read.
FORMAT = "A-B-<arch>-<vendor>-<device>:<count>"
# OOF selects a flavor only when the feature, the architecture and "v1" match its request.
FEATURE = "pciePassthrough"
#: A PCI vendor or device id: a 16-bit number in hex, as lspci and Nova write it (no ``0x``).
PCI_ID = re.compile(r"[0-9A-Fa-f]{1,4}")


@dataclasses.dataclass(frozen=True)
class PciDevice:
    """The device an :data:`EXTRA_SPEC` value asks for, each field as written there."""

    architecture: str
    vendor_id: str
    device_id: str
    count: str


def _invalid(value: object, problem: str) -> ValueError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ValueError(f"extra spec {EXTRA_SPEC!r} is {shown}: {problem} (expected {FORMAT})")


def parse(value: object) -> PciDevice:
    """The device an :data:`EXTRA_SPEC` value asks for.

    The value is split at its one ``:``, and the alias before it on ``-`` into exactly
    five fields. ValueError, naming :data:`EXTRA_SPEC` and the fault, when the value is
    not a string, names several aliases (Nova's ``a:1,b:2``, which ONAP misreads), has no
    ``:<count>``, when the count is not a positive integer, the alias has other than five
    fields, the architecture is empty, or the vendor or device id is not 1 to 4 hex digits.
    """
    if not isinstance(value, str):
        raise _invalid(value, f"it is of type {type(value).__name__}, not a string")
    if "," in value:
        raise _invalid(value, "it names several aliases; one is supported")
    alias, colon, count = value.partition(":")
    if not colon:
        raise _invalid(value, "it has no ':<count>'")
    if hpa_count(count) is None:
        raise _invalid(value, f"the count {count!r} is not a positive integer")
    fields = alias.split("-")
    # ONAP reads fields 2 to 4 of however many there are; a sixth field would shift them
    if len(fields) != 5:
        few_or_many = "few" if len(fields) < 5 else "many"
        raise _invalid(value, f"too {few_or_many} '-'-separated fields before ':' "
                              f"({len(fields)}, 5 needed)")
    _, _, architecture, vendor_id, device_id = fields
    if not architecture:
        raise _invalid(value, "the architecture is empty")
    for name, field in (("vendor id", vendor_id), ("device id", device_id)):
        if not field:
            raise _invalid(value, f"the {name} is empty")
        if not PCI_ID.fullmatch(field):
            raise _invalid(value, f"the {name} {field!r} is not 1 to 4 hex digits")
    return PciDevice(architecture, vendor_id, device_id, count)


def extra_specs(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The flavor's extra specs: ``{}`` when ``extra_specs`` is missing or null.

    ValueError when it is something other than an object.
    """
    specs = data.get("extra_specs")
    if specs is None:
        return {}
    if not isinstance(specs, Mapping):
        raise ValueError(f"extra_specs is a {type(specs).__name__}, not an object")
    return specs


class PciPassthroughDiscovery:
    """Describes the PCI passthrough device of flavors whose extra specs hold :data:`EXTRA_SPEC`."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The flavor's ``pciePassthrough`` capability, in a list.

        ``data`` is ONAP's input for one flavor; ``extra_specs`` is read, and
        ``flavor.id``, ``viminfo.cloud_owner`` and ``viminfo.cloud_region_id`` make the
        capability id stable. Returns one capability whose architecture is the alias's
        ``<arch>``, with the attributes ``pciCount``, ``pciVendorId`` and ``pciDeviceId``
        in that order (ONAP's; no units, values as written), when the extra specs hold
        :data:`EXTRA_SPEC`; ``[]`` when they do not, or are missing or null. Raises
        ValueError, naming the extra spec and the fault, for a value that :func:`parse`
        rejects: nfvd then drops this plugin's result for the flavor.
        """
        specs = extra_specs(data)
        if EXTRA_SPEC not in specs:
            return []
        device = parse(specs[EXTRA_SPEC])
        return [hpa_capability(data, FEATURE, device.architecture, [
            hpa_attribute("pciCount", device.count),
            hpa_attribute("pciVendorId", device.vendor_id),
            hpa_attribute("pciDeviceId", device.device_id),
        ])]
