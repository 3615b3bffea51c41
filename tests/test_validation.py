"""Requests read from Kafka are checked like HTTP ones, and the error never quotes a value."""

from __future__ import annotations

import pytest

from framework.errors import BadRequest
from framework.validation import validate_request

VALID = {"idempotencyKey": "k-1", "driver": "fake", "lifecycleName": "Create"}


def test_valid_request_passes() -> None:
    validate_request(VALID)


@pytest.mark.parametrize(("body", "detail"), [
    ({"driver": "fake", "lifecycleName": "Create"}, "request: 'idempotencyKey' is a required"),
    ({**VALID, "surprise": 1}, "Additional properties are not allowed ('surprise'"),
    ({**VALID, "driver": ""}, "driver: does not satisfy minLength 1"),
    ({**VALID, "systemProperties": "s3cret-value"}, "systemProperties: does not satisfy type"),
])
def test_invalid_request_names_field_and_rule(body: dict, detail: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_request(body)
    assert detail in caught.value.detail
    assert "s3cret-value" not in caught.value.detail
