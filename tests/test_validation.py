"""Requests read from Kafka are checked like HTTP ones, and the error never quotes a value."""

from __future__ import annotations

from typing import Any

import pytest

from framework.errors import BadRequest
from framework.validation import MAX_DEPTH, too_deep, validate_request

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


def test_nesting_depth_is_counted_through_objects_and_arrays() -> None:
    def nested(levels: int) -> Any:
        value: Any = "leaf"
        for level in range(levels):
            value = [value] if level % 2 else {"k": value, "flat": 1}
        return value

    assert MAX_DEPTH == 64
    assert not too_deep(nested(64)) and too_deep(nested(65))
    assert not too_deep({"a": [1, {"b": 2}]}, limit=3) and too_deep({"a": [{"b": []}]}, limit=3)
    # the deepest branch counts, wherever it is
    assert too_deep([[], [[]], {"x": [[[]]]}], limit=4)
