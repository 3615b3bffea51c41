"""The plain-code check of HPA results gives jsonschema's verdict, and the exact size.

``framework.discovery`` judges each plugin's result in plain code (remembering the verdict
on each attribute) and only asks jsonschema when that check fails. Here both are run on
thousands of results, valid ones and mutations of them, against an oracle written from
``specs/schemas/hpa-capability.json`` alone: whatever the plain check accepts, the schema
accepts with the same size, and for results of plain dicts, lists and strings without other
properties the two agree on every one.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.resources
import json
import random
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from framework import discovery
from framework.plugins.calls import read_only

SCHEMA = json.loads(importlib.resources.files("framework.specs").joinpath(
    "schemas", "hpa-capability.json").read_text(encoding="utf-8"))
CAPABILITY = jsonschema.Draft202012Validator(SCHEMA)
VALUE = jsonschema.Draft202012Validator(SCHEMA["$defs"]["hpaAttributeValue"])
FIELDS = ("hpa-capability-id", "hpa-feature", "hpa-version", "architecture")


class Text(str):
    """A str subclass, which jsonschema takes for a string."""


class Alias(str):
    """A str that a dict finds under another name: it encodes as itself all the same."""

    def __new__(cls, name: str, text: str) -> Alias:
        alias = super().__new__(cls, text)
        alias.name = name
        return alias

    def __hash__(self) -> int:
        return hash(self.name)

    def __eq__(self, other: object) -> bool:
        return other == self.name


def compact(value: Any, ascii_only: bool = False) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only, allow_nan=False)


def oracle(result: Any) -> tuple[bool, int | None]:
    """(fit for A&AI by the schema and its attribute-value rule, compact UTF-8 size or None)."""
    try:
        size: int | None = len(compact(result).encode())
    except (TypeError, ValueError, RecursionError):
        size = None
    if not isinstance(result, list) or size is None:
        return False, size
    for capability in result:
        if not CAPABILITY.is_valid(capability):
            return False, size
        for attribute in capability["hpa-feature-attributes"]:
            text = attribute["hpa-attribute-value"]
            try:
                value = json.loads(text)
                if text not in (compact(value), compact(value, ascii_only=True)):
                    return False, size
            except (ValueError, RecursionError):
                return False, size
            if not VALUE.is_valid(value):
                return False, size
    return True, size


def plain(result: Any) -> bool:
    """Made of dicts, lists and strs exactly, with the schema's properties only."""
    def strs(mapping: dict[Any, Any]) -> bool:
        return all(type(key) is str and type(value) is str for key, value in mapping.items())

    return type(result) is list and all(
        type(capability) is dict and set(capability) == {*FIELDS, "hpa-feature-attributes"}
        and all(type(key) is str for key in capability)
        and strs({key: capability[key] for key in FIELDS})
        and type(capability["hpa-feature-attributes"]) is list
        and all(type(attribute) is dict and len(attribute) == 2 and strs(attribute)
                and set(attribute) == {"hpa-attribute-key", "hpa-attribute-value"}
                for attribute in capability["hpa-feature-attributes"])
        for capability in result)


def check(result: Any) -> None:
    fit, size = oracle(result)
    fast = discovery._checked_bytes(result)
    if fast is not None:
        assert fit and fast == size, (result, fast, size)
    if plain(result):
        assert fast == (size if fit else None), (result, fast, size)
    # and what the server reports is what the schema says
    status = discovery._judge("hpa_discover", "returned", result, 5)[1]
    accepted = fit and size is not None and size <= discovery.HPA_MAX_BYTES
    assert status == ("accepted" if accepted else "dropped"), result


NAMES = ["generic", "Intel64", "basicCapabilities", "a", "x" * 255, "é" * 255, "日本語",
         'say "hi"', "back\\slash", "tab\tnew\nline", "\x7f\x00", "\u2028", "😀", "v1",
         "numaCpu-0", "a/b", " "]
VALUES = ["", "2", "2048", "0-3,8-11", "é", "日本", 'q"uote', "b\\s", "\x01", "\u2028", "😀",
          "large", "x" * 200, "a b", "a/b", "\ud800"]


def attribute(rng: random.Random) -> dict[str, Any]:
    value = rng.choice(VALUES)
    unit = rng.choice([None, "KB", "MB", "GB"])
    body = {"value": value} if unit is None else {"value": value, "unit": unit}
    if unit is not None and rng.random() < 0.2:
        body = {"unit": unit, "value": value}
    return {"hpa-attribute-key": rng.choice(NAMES),
            "hpa-attribute-value": compact(body, ascii_only=rng.random() < 0.5)}


def capability(rng: random.Random) -> dict[str, Any]:
    return {"hpa-capability-id": str(uuid.UUID(int=rng.getrandbits(128), version=5)),
            "hpa-feature": rng.choice(NAMES), "hpa-version": rng.choice(NAMES),
            "architecture": rng.choice(NAMES),
            "hpa-feature-attributes": [attribute(rng) for _ in range(rng.randint(0, 4))]}


def valid(rng: random.Random) -> list[dict[str, Any]]:
    return [capability(rng) for _ in range(rng.randint(0, 3))]


WRONG = [None, 1, 1.5, True, [], {}, ("t",), {"value": "1"}, Text("generic"), float("nan")]
TEXTS = ["2 vCPUs", "{value: 1}", "", "{}", '{"value": "2"}', '{ "value":"2"}',
         '{"value":"2"}\n', '{"value":NaN}', '{"value":Infinity}', '{"value":2}',
         '{"value":null}', '{"value":["2"]}', '{"value":"1","unit":"TB"}',
         '{"value":"1","unit":"kb"}', '{"value":"1","unit":1}', '{"value":"1","unit":null}',
         '{"value":"1","unit":["KB"]}', '{"value":"1","x":"y"}', '{"unit":"MB"}', '"x"', "[1]",
         "1", "null", "true", '{"value":"1","value":"2"}', '{"value":"' + "x" * 1490 + '"}',
         "[" * 1500, '{"value":"\\ud800"}', '{"value":"\ud800"}', '{"value":"\\u00e9é"}',
         '{"value":"a\\/b"}', '{"value":"\\u0041"}', '{"value":"a b"}', '{"value":"é"}',
         '{"value":"\\u00e9"}', '{"unit":"GB","value":"1"}', '{"value":"1","unit":"GB"}',
         '{"value":"\\n"}', '{"value":"\n"}', "{\"value\":\"1\"}\u00a0", Text('{"value":"1"}'),
         '{"value":"' + "x" * 1488 + '"}', '{"value":"' + "x" * 1489 + '"}']


def _some(rng: random.Random, result: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A capability of ``result`` that has an attribute (one is added if need be)."""
    target = rng.choice(result)
    if not target["hpa-feature-attributes"]:
        target["hpa-feature-attributes"].append(attribute(rng))
    return target, rng.choice(target["hpa-feature-attributes"])


def _drop_field(rng: random.Random, result: list[Any]) -> None:
    del rng.choice(result)[rng.choice([*FIELDS, "hpa-feature-attributes"])]


def _wrong_field(rng: random.Random, result: list[Any]) -> None:
    rng.choice(result)[rng.choice([*FIELDS, "hpa-feature-attributes"])] = rng.choice(WRONG)


def _odd_string(rng: random.Random, result: list[Any]) -> None:
    rng.choice(result)[rng.choice(FIELDS)] = rng.choice(
        ["", "x" * 256, "é" * 256, "\ud800", "ok", "😀" * 255, "😀" * 256])


def _extra_property(rng: random.Random, result: list[Any]) -> None:
    rng.choice(result)[rng.choice(["resource-version", 1, "relationship-list"])] = rng.choice(
        ["1", {"relationship": []}, float("nan"), object(), 2])


def _wrong_attributes(rng: random.Random, result: list[Any]) -> None:
    target, _ = _some(rng, result)
    items = target["hpa-feature-attributes"]
    target["hpa-feature-attributes"] = rng.choice([tuple(items), {"a": items}, None, "x",
                                                   [None], [[1]], ["a"], [*items, {}]])


def _wrong_attribute(rng: random.Random, result: list[Any]) -> None:
    _, item = _some(rng, result)
    key = rng.choice(["hpa-attribute-key", "hpa-attribute-value"])
    if rng.random() < 0.3:
        del item[key]
    else:
        item[key] = rng.choice([*WRONG, "", "x" * 256, "é" * 255])


def _extra_attribute_property(rng: random.Random, result: list[Any]) -> None:
    _, item = _some(rng, result)
    item[rng.choice(["hpa-attribute-unit", 7])] = rng.choice(["MB", float("inf"), None])


def _odd_value(rng: random.Random, result: list[Any]) -> None:
    _, item = _some(rng, result)
    item["hpa-attribute-value"] = rng.choice(TEXTS)


def _forged_key(rng: random.Random, result: list[Any]) -> None:
    target, item = _some(rng, result)
    mapping, name = rng.choice([(target, rng.choice(FIELDS)), (item, "hpa-attribute-key")])
    mapping[Alias(name, rng.choice([name, "k" * 40, "é"]))] = mapping.pop(name)


def _read_only(rng: random.Random, result: list[Any]) -> None:
    result[rng.randrange(len(result))] = read_only(rng.choice(result))


def _grow(rng: random.Random, result: list[Any]) -> None:
    _, item = _some(rng, result)
    size = len(compact(result).encode())
    pad = discovery.HPA_MAX_BYTES - size + rng.choice([-1, 0, 1, 2])
    if pad > 0:
        item["hpa-attribute-value"] = compact({"value": json.loads(
            item["hpa-attribute-value"])["value"] + "x" * pad})


MUTATIONS: list[Callable[[random.Random, list[Any]], None]] = [
    _drop_field, _wrong_field, _odd_string, _extra_property, _wrong_attributes,
    _wrong_attribute, _extra_attribute_property, _odd_value, _forged_key, _read_only, _grow]


@pytest.mark.parametrize("seed", range(8))
def test_valid_results_are_accepted_with_their_exact_size(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        check(valid(rng))


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__.strip("_"))
def test_mutations_get_jsonschemas_verdict(mutation: Callable[..., None]) -> None:
    rng = random.Random(mutation.__name__)
    for _ in range(300):
        result = valid(rng) or [capability(rng)]
        # a mutation may find the result already too broken to go on: it is checked as it is
        with contextlib.suppress(Exception):
            mutation(rng, result)
            if rng.random() < 0.3:  # and a second fault, maybe of another kind
                rng.choice(MUTATIONS)(rng, result)
        check(result)


@pytest.mark.parametrize("text", TEXTS + [compact({"value": v}) for v in VALUES])
def test_each_attribute_value_gets_jsonschemas_verdict(text: str) -> None:
    result = [{"hpa-capability-id": "1", "hpa-feature": "f", "hpa-version": "v1",
               "architecture": "generic",
               "hpa-feature-attributes": [{"hpa-attribute-key": "k",
                                           "hpa-attribute-value": text}]}]
    check(result)
    check(copy.deepcopy(result))  # the verdict remembered is the same verdict


@pytest.mark.parametrize("result", [
    {"hpa-feature": "numa"}, None, (), "[]", [], [[]], [read_only({})],
    [{"x": {1, 2}}], [{(1, 2): "x", **dict.fromkeys(FIELDS, "a"),
                      "hpa-feature-attributes": []}],
])
def test_results_that_are_not_lists_of_capabilities(result: Any) -> None:
    if result is not None:
        check(result)
    assert discovery._checked_bytes(result) in (None, 2)


def test_a_long_value_is_checked_without_being_remembered() -> None:
    text = compact({"value": "9" * 1400, "unit": "KB"})
    result = [{"hpa-capability-id": "1", "hpa-feature": "f", "hpa-version": "v1",
               "architecture": "generic",
               "hpa-feature-attributes": [{"hpa-attribute-key": "k" * 255,
                                           "hpa-attribute-value": text}]}]
    before = discovery._remembered_attribute_bytes.cache_info().currsize
    check(result)
    assert discovery._remembered_attribute_bytes.cache_info().currsize == before
