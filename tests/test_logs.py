"""The secret masker: known values and credential-shaped text, whatever the case or script."""

from __future__ import annotations

import logging

import pytest

from framework.logs import _PATTERNS, MASK, SecretMasker


def _patterns_alone(text: str) -> str:
    """What the three patterns make of ``text``, each applied without a look first."""
    text = _PATTERNS[0].sub(lambda m: m.group(1) + m.group(2) + " " + MASK, text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + MASK, text)
    return _PATTERNS[2].sub(lambda m: m.group(1) + MASK + m.group(3), text)


@pytest.mark.parametrize("text", [
    "POST /api/driver/lifecycle/execute 202 1.2ms",
    "Authorization: Bearer abc.def",
    "AUTHORIZATION = basic dXNlcjpwYXNz",
    "authorızation: bearer dotless-i",          # U+0131, which IGNORECASE matches as i
    "AUTHORİZATION: Bearer dotted-I",           # U+0130
    "password=hunter2 and passwd: 'x1'",
    "paſſword=long-s",                          # U+017F, which IGNORECASE matches as s
    "TOKEN=kelvin and to\u212aen=kelvin-sign",  # U+212A, which IGNORECASE matches as k
    'client_secret": "abc" access_token=xyz',
    "connect postgresql://user:pa55@db:5432/nfvd",
    "nothing here but http://host/path",
])
def test_masking_matches_the_patterns_applied_alone(text: str) -> None:
    assert SecretMasker().mask(text) == _patterns_alone(text)


def test_known_values_are_masked_longest_first_and_short_ones_ignored() -> None:
    masker = SecretMasker(["abcd", "abcdefgh", "xyz"])
    assert masker.mask("v=abcdefgh w=abcd z=xyz") == f"v={MASK} w={MASK} z=xyz"
    masker.add(["xyz9"])
    assert masker.mask("z=xyz9") == f"z={MASK}"
    assert masker.secrets == frozenset({"abcd", "abcdefgh", "xyz9"})


def test_a_record_and_its_extra_fields_are_masked() -> None:
    masker = SecretMasker(["s3cr3t-value"])
    record = logging.LogRecord("nfvd", logging.INFO, __file__, 1, "login with %s",
                               ("s3cr3t-value",), None)
    record.path = "/x?password=s3cr3t-value"
    assert masker.filter(record)
    assert record.getMessage() == f"login with {MASK}"
    assert record.path == f"/x?password={MASK}"
