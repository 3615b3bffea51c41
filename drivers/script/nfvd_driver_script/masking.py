"""Masker: hides the secret values of a request in text the driver hands back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from nfvd_driver_script.environment import property_entry

MASK = "****"

#: Property names whose string values are treated as secrets whatever their type.
SECRET_NAME = re.compile(r"pass(word)?|secret|token|private.?key|api.?key|credential", re.I)

#: Shorter values are left alone: masking "ab" would garble any text without hiding much.
MIN_SECRET_LENGTH = 4


def secret_values(properties: Mapping[str, Any]) -> Iterator[str]:
    """The secret strings in one map of properties.

    They are the ``privateKey`` of ``key`` properties (the whole key and each of its
    lines), and the string value of properties of type ``password`` or whose name
    matches :data:`SECRET_NAME`.
    """
    for name, raw in properties.items():
        entry = property_entry(raw)
        if entry.get("type") == "key":
            private = entry.get("privateKey")
            if isinstance(private, str):
                yield private
                yield from (line.strip() for line in private.splitlines())
        elif entry.get("type") == "password" or SECRET_NAME.search(str(name)):
            value = entry.get("value")
            if isinstance(value, str):
                yield value


class Masker:
    """Replaces every known secret in a text by ``****``.

    Each secret is also looked for as it appears inside a JSON string (a script may
    print the request file). Longer secrets are replaced first, so a secret that
    contains another one is hidden whole.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            for variant in (secret, json.dumps(secret)[1:-1]):
                if len(variant) >= MIN_SECRET_LENGTH:
                    variants.add(variant)
        self._secrets = sorted(variants, key=len, reverse=True)

    @classmethod
    def for_properties(cls, *maps: Mapping[str, Any]) -> Masker:
        """A masker for the secrets found by :func:`secret_values` in each of ``maps``."""
        return cls(value for properties in maps for value in secret_values(properties))

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by :data:`MASK`."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text
