"""HPA discovery: the SR-IOV NIC a flavor asks for, as an A&AI ``sriovNICNetwork`` capability."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from framework import hookimpl, hpa_attribute, hpa_capability, hpa_count

#: The flavor extra spec that asks for an SR-IOV NIC (its name since ONAP MULTICLOUD-400).
EXTRA_SPEC = "aggregate_instance_extra_specs:sriov_nic"
#: The form of its value; the first two fields are not read.
FORMAT = "sriov-nic-<arch>-<vendor>-<device>-<physnet>:<count>"
# OOF selects a flavor only when the feature, the architecture and "v1" match its request.
FEATURE = "sriovNICNetwork"
#: A PCI vendor or device id: a 16-bit number in hex, as lspci and Nova write it (no ``0x``).
PCI_ID = re.compile(r"[0-9A-Fa-f]{1,4}")


@dataclasses.dataclass(frozen=True)
class SriovNic:
    """The SR-IOV NIC an :data:`EXTRA_SPEC` value asks for, each field as written there."""

    architecture: str
    vendor_id: str
    device_id: str
    physical_network: str
    count: str


def _invalid(value: object, problem: str) -> ValueError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ValueError(f"extra spec {EXTRA_SPEC!r} is {shown}: {problem} (expected {FORMAT})")


def parse(value: object) -> SriovNic:
    """The NIC an :data:`EXTRA_SPEC` value asks for.

    The value is split at its one ``:``, and the part before it on ``-`` at most five
    times, so the physical network keeps its own dashes (``physnet-1``). ValueError,
    naming :data:`EXTRA_SPEC` and the fault, when the value is not a string, has no
    ``:<count>`` or more than one ``:``, has fewer than six ``-``-separated fields, when
    the count is not a positive integer, the architecture or physical network is empty,
    or the vendor or device id is not 1 to 4 hex digits.
    """
    if not isinstance(value, str):
        raise _invalid(value, f"it is of type {type(value).__name__}, not a string")
    spec, colon, count = value.partition(":")
    if not colon:
        raise _invalid(value, "it has no ':<count>'")
    # a count is digits only: "1:2" or "1,2" is a second field ONAP would silently drop
    if hpa_count(count) is None:
        raise _invalid(value, f"the count {count!r} is not a positive integer")
    fields = spec.split("-", 5)
    if len(fields) < 6:
        raise _invalid(value, f"{len(fields)} '-'-separated fields before ':', 6 needed")
    _, _, architecture, vendor_id, device_id, physical_network = fields
    for name, field in (("architecture", architecture), ("physical network", physical_network)):
        if not field:
            raise _invalid(value, f"the {name} is empty")
    for name, field in (("vendor id", vendor_id), ("device id", device_id)):
        if not field:
            raise _invalid(value, f"the {name} is empty")
        if not PCI_ID.fullmatch(field):
            raise _invalid(value, f"the {name} {field!r} is not 1 to 4 hex digits")
    return SriovNic(architecture, vendor_id, device_id, physical_network, count)


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


class SriovNicDiscovery:
    """Describes the SR-IOV NIC of flavors whose extra specs hold :data:`EXTRA_SPEC`."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The flavor's ``sriovNICNetwork`` capability, in a list.

        ``data`` is ONAP's input for one flavor; ``extra_specs`` is read, and
        ``flavor.id``, ``viminfo.cloud_owner`` and ``viminfo.cloud_region_id`` make the
        capability id stable. Returns one capability whose architecture is the value's
        ``<arch>``, with the attributes ``pciCount``, ``pciVendorId``, ``pciDeviceId`` and
        ``physicalNetwork`` in that order (no units, values as written), when the extra
        specs hold :data:`EXTRA_SPEC`; ``[]`` when they do not, or are missing or null.
        Raises ValueError, naming the extra spec and the fault, for a value that
        :func:`parse` rejects: nfvd then drops this plugin's result for the flavor.
        """
        specs = extra_specs(data)
        if EXTRA_SPEC not in specs:
            return []
        nic = parse(specs[EXTRA_SPEC])
        return [hpa_capability(data, FEATURE, nic.architecture, [
            hpa_attribute("pciCount", nic.count),
            hpa_attribute("pciVendorId", nic.vendor_id),
            hpa_attribute("pciDeviceId", nic.device_id),
            hpa_attribute("physicalNetwork", nic.physical_network),
        ])]
