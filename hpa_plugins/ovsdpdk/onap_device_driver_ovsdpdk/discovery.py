"""HPA discovery: the OVS-DPDK library of a cloud region, as an A&AI ``ovsDpdk`` capability."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from framework import cloud_extra_info, hookimpl, hpa_attribute, hpa_capability

# OOF selects a flavor only when the feature, the architecture and "v1" match its request.
FEATURE = "ovsDpdk"
ARCHITECTURE = "Intel64"
#: The attribute key when the cloud region does not name its library.
DEFAULT_LIBRARY = "dataProcessingAccelerationLibrary"
#: The version when the cloud region says nothing, or has cloud_extra_info without ``ovsDpdk``.
DEFAULT_VERSION = "12.1"
#: The version for a region without cloud_extra_info whose ``vimtype`` is in
#: :data:`TITANIUM_VIM_TYPES`: Wind River Titanium Cloud and StarlingX ship OVS-DPDK 17.2.
TITANIUM_VERSION = "17.2"
TITANIUM_VIM_TYPES = frozenset({"windriver", "starlingx"})
#: Where in ``viminfo`` a region describes its library: ``{"libname": ..., "libversion": ...}``.
INFO_KEY = "ovsDpdk"
#: The longest cloud_extra_info text whose library is remembered (a region's flavors share it).
REMEMBERED = 4096


def _invalid(field: str, value: object, problem: str) -> ValueError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ValueError(f"viminfo.cloud_extra_info.{field} is {shown}: {problem}")


def library(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The region's OVS-DPDK library as ``(name, version)``, by ONAP's rules.

    * ``viminfo.cloud_extra_info`` missing, null or ``""``: :data:`DEFAULT_LIBRARY`, at
      :data:`TITANIUM_VERSION` when ``vimtype`` is exactly one of
      :data:`TITANIUM_VIM_TYPES`, else :data:`DEFAULT_VERSION`;
    * cloud_extra_info (a JSON object, as a string or a dict) with a non-empty
      ``ovsDpdk``: its ``libname`` and ``libversion``, which must be non-empty strings;
    * cloud_extra_info without ``ovsDpdk``, or with an empty one:
      :data:`DEFAULT_LIBRARY` at :data:`DEFAULT_VERSION`, whatever the ``vimtype``;
    * cloud_extra_info that is not the JSON of an object: ``None``, no library.

    ValueError, naming the field, when ``viminfo`` is not an object or ``ovsDpdk`` is
    not an object holding both strings.
    """
    viminfo = data.get("viminfo")
    if viminfo is None:
        viminfo = {}
    if not isinstance(viminfo, Mapping):
        raise ValueError(f"viminfo is a {type(viminfo).__name__}, not an object")
    raw = viminfo.get("cloud_extra_info")
    if raw in (None, ""):
        titanium = data.get("vimtype") in TITANIUM_VIM_TYPES
        return DEFAULT_LIBRARY, TITANIUM_VERSION if titanium else DEFAULT_VERSION
    if type(raw) is str and len(raw) <= REMEMBERED:
        return _described_in(raw)
    return _described(cloud_extra_info(data))


@functools.lru_cache(maxsize=64)
def _described_in(raw: str) -> tuple[str, str] | None:
    """:func:`_described` of the cloud_extra_info text ``raw``, parsed once."""
    return _described(cloud_extra_info({"viminfo": {"cloud_extra_info": raw}}))


def _described(info: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The library ``info`` (cloud_extra_info parsed, None when not an object) describes."""
    if info is None:
        return None
    described = info.get(INFO_KEY)
    # ONAP treats an empty ovsDpdk ({} or null) as absent
    if not described:
        return DEFAULT_LIBRARY, DEFAULT_VERSION
    if not isinstance(described, Mapping):
        raise _invalid(INFO_KEY, described, f"a {type(described).__name__}, not an object "
                                            "with libname and libversion")
    found = []
    for key in ("libname", "libversion"):
        value = described.get(key)
        if not (isinstance(value, str) and value):
            raise _invalid(f"{INFO_KEY}.{key}", value, "not a non-empty string")
        found.append(value)
    return found[0], found[1]


class OvsDpdkDiscovery:
    """Describes the OVS-DPDK library of the cloud region every flavor runs on."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The flavor's ``ovsDpdk`` capability, in a list.

        ``data`` is ONAP's input for one flavor; ``viminfo.cloud_extra_info`` and
        ``vimtype`` are read (never the extra specs), and ``flavor.id``,
        ``viminfo.cloud_owner`` and ``viminfo.cloud_region_id`` make the capability id
        stable. Returns one capability, architecture ``Intel64``, with one attribute whose
        key is the library name and whose value is its version (no unit), as
        :func:`library` finds them; ``[]`` when cloud_extra_info is not the JSON of an
        object, as ONAP then omits the capability. Raises ValueError, naming the field,
        when :func:`library` does: nfvd then drops this plugin's result for the flavor.
        """
        found = library(data)
        if found is None:
            return []
        name, version = found
        return [hpa_capability(data, FEATURE, ARCHITECTURE, [hpa_attribute(name, version)])]
