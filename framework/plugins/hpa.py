"""Building A&AI hpa-capability dicts the way every HPA plugin must: stable ids, JSON values."""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

#: The namespace of capability ids: uuid5 of the cloud, the flavor, the feature, the architecture.
CAPABILITY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://nfvd.dev/hpa-capability")
#: The units OOF understands; anything else cannot be compared by it.
UNITS = ("KB", "MB", "GB")
HPA_VERSION = "v1"
#: SHA-1 already fed the namespace: uuid5 hashes the namespace's bytes, then the name
_NAMESPACE_SHA1 = hashlib.sha1(CAPABILITY_NAMESPACE.bytes, usedforsecurity=False)


def cloud_extra_info(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """``viminfo.cloud_extra_info`` as a dict: {} when absent, None when it is not valid JSON."""
    raw = (data.get("viminfo") or {}).get("cloud_extra_info")
    if raw in (None, ""):
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return dict(parsed) if isinstance(parsed, dict) else None


def hpa_count(value: object) -> str | None:
    """``value`` as the digit string OOF compares as a number: an int, or a string of ASCII
    digits, above 0; None for anything else (a bool, a float, ``"2.0"``, ``"1:2"``, 0...)."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return text if text.isascii() and text.isdigit() and int(text) > 0 else None


def capability_id(data: Mapping[str, Any], feature: str, architecture: str) -> str:
    """The id of ``feature`` on ``architecture`` for the flavor of ``data``: the same on every
    run, so a re-discovery updates A&AI in place instead of adding capabilities.

    Derived from the cloud owner and region (``viminfo.cloud_owner``,
    ``viminfo.cloud_region_id``), the flavor id, the feature and the architecture.
    """
    viminfo = data.get("viminfo") or {}
    flavor = data.get("flavor") or {}
    return _uuid5(f"{viminfo.get('cloud_owner', '')}/{viminfo.get('cloud_region_id', '')}/"
                  f"{flavor.get('id', '')}/{feature}/{architecture}")


#: The hex digit at the variant's place of a uuid: the digit hashed, its top two bits 10
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(CAPABILITY_NAMESPACE, name))``, at a third of its cost (it runs for
    every capability of every flavor discovered): the digest's hex with the version digit
    (5) and the variant digit set in place."""
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name.encode())
    text = digest.hexdigest()
    return f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:32]}"


def hpa_attribute(key: str, value: Any, unit: str | None = None) -> dict[str, str]:
    """One ``hpa-feature-attributes`` entry: the value as a compact JSON string of strings."""
    if unit is not None and unit not in UNITS:
        raise ValueError(f"unit {unit!r} is not one of {', '.join(UNITS)}")
    return {"hpa-attribute-key": key, "hpa-attribute-value": _attribute_value(str(value), unit)}


@functools.lru_cache(maxsize=1024)
def _attribute_value(value: str, unit: str | None) -> str:
    """The compact JSON of an attribute value, made once per distinct value: flavors repeat
    them, and every plugin's every attribute comes through here."""
    body = {"value": value} if unit is None else {"value": value, "unit": unit}
    return json.dumps(body, separators=(",", ":"))


def hpa_capability(data: Mapping[str, Any], feature: str, architecture: str,
                   attributes: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """An A&AI ``hpa-capability`` for the flavor of ``data``, with its stable id.

    ``attributes`` are entries made with :func:`hpa_attribute`.
    """
    return {"hpa-capability-id": capability_id(data, feature, architecture),
            "hpa-feature": feature, "hpa-version": HPA_VERSION, "architecture": architecture,
            "hpa-feature-attributes": [dict(entry) for entry in attributes]}
