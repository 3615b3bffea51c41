"""The secret masker: known values and credential-shaped text, whatever the case or script."""

from __future__ import annotations

import logging
import sys

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


def _masked_field_by_field(masker: SecretMasker, message: str,
                           fields: dict[str, str]) -> tuple[str, dict[str, str]]:
    return masker.mask(message), {key: masker.mask(value) for key, value in fields.items()}


@pytest.mark.parametrize(("message", "fields"), [
    ("POST /api/driver/lifecycle/execute 202 1.2ms",
     {"path": "/api/driver/lifecycle/execute", "method": "POST", "route": "execute"}),
    ("GET /x 200", {"path": "/x", "request_id": "password=hunter2"}),   # only in a field
    ("connect to x://user", {"next": ":pw@host"}),                     # across two texts
    ("login with s3cr3t-value", {"path": "/y"}),
    ("nothing", {}),
])
def test_a_record_is_masked_as_each_of_its_texts_alone(message: str,
                                                       fields: dict[str, str]) -> None:
    """The filter looks at a record's texts together first; what it leaves is what masking
    each text alone leaves."""
    masker = SecretMasker(["s3cr3t-value"])
    record = logging.LogRecord("nfvd", logging.INFO, __file__, 1, "%s", (message,), None)
    for key, value in fields.items():
        setattr(record, key, value)
    record.count = 3  # not a text: left as it is
    assert masker.filter(record)
    assert (record.msg, record.args) == (masker.mask(message), None)
    assert (record.getMessage(), {key: getattr(record, key) for key in fields}) == \
        _masked_field_by_field(masker, message, fields)
    assert record.count == 3


def test_an_exception_with_nothing_to_mask_stays_in_the_message() -> None:
    try:
        raise ValueError("plain failure")
    except ValueError:
        record = logging.LogRecord("nfvd", logging.ERROR, __file__, 1, "failed", None,
                                   sys.exc_info())
    assert SecretMasker(["s3cr3t-value"]).filter(record)
    assert record.exc_info is None
    assert record.getMessage().startswith("failed\nTraceback")
    assert "ValueError: plain failure" in record.getMessage()


def test_an_exception_is_masked_into_the_message() -> None:
    masker = SecretMasker(["s3cr3t-value"])
    try:
        raise ValueError("bad password=s3cr3t-value")
    except ValueError:
        record = logging.LogRecord("nfvd", logging.ERROR, __file__, 1, "failed", None,
                                   sys.exc_info())
    assert masker.filter(record)
    assert record.exc_info is None
    assert record.getMessage().startswith("failed\nTraceback")
    assert "s3cr3t-value" not in record.getMessage() and f"password={MASK}" in record.msg
