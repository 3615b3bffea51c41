"""Request schemas of the OpenAPI specs compiled once into plain checks, for the fast path.

A check answers only whether a value conforms, without building an error: a request it
refuses goes on to connexion, which explains what is wrong. It must never accept what
connexion's validator (jsonschema's draft 4, with OpenAPI's ``nullable``) refuses, so it
compiles only the keywords whose meaning is plain and identical in both; a schema with any
other one raises :class:`Unsupported` and its requests are left to connexion.

:data:`VALIDATORS` is connexion's own validation, with a JSON body its parser cannot take
answered 400 (:class:`JsonBodyValidator`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator
from starlette.types import Scope

from framework.validation import MAX_DEPTH, too_deep

#: A compiled check: True when the value conforms.
Check = Callable[[Any], bool]

# Formats, patterns and numeric bounds are left out: they are checked differently (a bound
# applies to booleans in Python's eyes), and so would be a discriminator or readOnly.
_KNOWN = frozenset({
    "type", "required", "properties", "additionalProperties", "maxProperties",
    "minProperties", "minLength", "maxLength", "enum", "not", "anyOf", "allOf", "oneOf",
    "items", "maxItems", "minItems", "nullable", "x-nullable", "description", "title",
    "example",
})
#: Draft 4's types; a boolean is neither a number nor an integer.
_TYPES: Mapping[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class Unsupported(ValueError):
    """The schema uses something the compiled check does not reproduce."""


def resolve(spec: Mapping[str, Any], ref: str) -> Any:
    """What the local reference ``ref`` (``#/components/...``) of ``spec`` points at."""
    if not ref.startswith("#/"):
        raise Unsupported(f"external reference {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def compile_check(spec: Mapping[str, Any], schema: Any) -> Check:
    """A check of values against ``schema`` (of ``spec``); :class:`Unsupported` if it cannot
    be compiled faithfully."""
    return _Compiler(spec).compile(schema, 0)


def _all(checks: Sequence[Check]) -> Check:
    if not checks:
        return lambda _value: True
    if len(checks) == 1:
        return checks[0]

    def every(value: Any) -> bool:
        for check in checks:
            if not check(value):
                return False
        return True

    return every


class _Compiler:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec

    def compile(self, schema: Any, depth: int) -> Check:
        if depth > 64:
            raise Unsupported("the schema is recursive")
        if isinstance(schema, bool):
            return (lambda _value: True) if schema else (lambda _value: False)
        if not isinstance(schema, Mapping):
            raise Unsupported(f"a schema is an object, not {type(schema).__name__}")
        if "$ref" in schema:
            if len(schema) > 1:
                raise Unsupported("$ref beside other keywords")
            return self.compile(resolve(self.spec, schema["$ref"]), depth + 1)
        unknown = set(schema) - _KNOWN
        if unknown:
            raise Unsupported(f"keyword(s) {', '.join(sorted(unknown))}")
        # connexion lets null through the type and enum of a nullable schema; the other
        # keywords of draft 4 ignore a null anyway
        nullable = schema.get("nullable") is True or schema.get("x-nullable") is True
        checks = [check for check in (
            _type(schema, nullable), _enum(schema, nullable), _string(schema),
            self._object(schema, depth), self._array(schema, depth),
        ) if check is not None]
        checks += self._combined(schema, depth)
        return _all(checks)

    def _object(self, schema: Mapping[str, Any], depth: int) -> Check | None:
        names = ("required", "properties", "additionalProperties", "maxProperties",
                 "minProperties")
        if not any(name in schema for name in names):
            return None
        required = tuple(schema.get("required", ()))
        properties = {name: self.compile(sub, depth + 1)
                      for name, sub in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        others = None if extra is True else self.compile(extra, depth + 1)
        most = schema.get("maxProperties")
        least = schema.get("minProperties", 0)

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            if (most is not None and len(value) > most) or len(value) < least:
                return False
            for name in required:
                if name not in value:
                    return False
            for name, item in value.items():
                sub = properties.get(name, others)
                if sub is not None and not sub(item):
                    return False
            return True

        return check

    def _array(self, schema: Mapping[str, Any], depth: int) -> Check | None:
        if not any(name in schema for name in ("items", "maxItems", "minItems")):
            return None
        items = schema.get("items")
        if isinstance(items, list):
            raise Unsupported("items as a list of schemas")
        each = None if items is None else self.compile(items, depth + 1)
        most = schema.get("maxItems")
        least = schema.get("minItems", 0)

        def check(value: Any) -> bool:
            if not isinstance(value, list):
                return True
            if (most is not None and len(value) > most) or len(value) < least:
                return False
            return each is None or all(each(item) for item in value)

        return check

    def _combined(self, schema: Mapping[str, Any], depth: int) -> list[Check]:
        checks: list[Check] = []
        if "not" in schema:
            negated = self.compile(schema["not"], depth + 1)
            checks.append(lambda value: not negated(value))
        if "allOf" in schema:
            checks.append(_all([self.compile(sub, depth + 1) for sub in schema["allOf"]]))
        if "anyOf" in schema:
            some = [self.compile(sub, depth + 1) for sub in schema["anyOf"]]
            checks.append(lambda value: any(check(value) for check in some))
        if "oneOf" in schema:
            one = [self.compile(sub, depth + 1) for sub in schema["oneOf"]]
            checks.append(lambda value: sum(1 for check in one if check(value)) == 1)
        return checks


def _type(schema: Mapping[str, Any], nullable: bool) -> Check | None:
    if "type" not in schema:
        return None
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not all(name in _TYPES for name in names):
        raise Unsupported(f"type {schema['type']!r}")
    if nullable:
        names = [*names, "null"]
    if len(names) == 1:
        return _TYPES[names[0]]
    checks = [_TYPES[name] for name in names]
    return lambda value: any(check(value) for check in checks)


def _enum(schema: Mapping[str, Any], nullable: bool) -> Check | None:
    if "enum" not in schema:
        return None
    # 1 == True in Python and not in JSON Schema: only strings (and null) compare alike
    if not all(isinstance(v, str) or v is None for v in schema["enum"]):
        raise Unsupported("an enum of other values than strings")
    strings = frozenset(v for v in schema["enum"] if v is not None)
    null = nullable or None in schema["enum"]
    return lambda value: (value is None and null) or (isinstance(value, str)
                                                       and value in strings)


def _string(schema: Mapping[str, Any]) -> Check | None:
    if "minLength" not in schema and "maxLength" not in schema:
        return None
    least = schema.get("minLength", 0)
    most = schema.get("maxLength")
    return lambda value: not isinstance(value, str) or (
        least <= len(value) and (most is None or len(value) <= most))


class JsonBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]  # untyped base
    """connexion's JSON body validator, with a 400 for a body nested more than
    :data:`~framework.validation.MAX_DEPTH` levels (past Python's JSON parser it raised a
    RecursionError, a 500) and for bytes that are not UTF-8."""

    async def _parse(self, stream: AsyncGenerator[bytes, None], scope: Scope) -> Any:
        try:
            body = await super()._parse(stream, scope)
            deep = too_deep(body)
        except RecursionError:  # past Python's JSON parser
            deep = True
        except UnicodeDecodeError:
            raise BadRequestProblem(detail="the request body is not UTF-8") from None
        if deep:
            raise BadRequestProblem(
                detail=f"the request body is nested more than {MAX_DEPTH} levels deep")
        return body


#: connexion's validators, with :class:`JsonBodyValidator` for JSON bodies.
VALIDATORS: dict[str, Any] = {**VALIDATOR_MAP, "body": MediaTypeDict(
    {**VALIDATOR_MAP["body"], "*/*json": JsonBodyValidator})}
