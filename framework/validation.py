"""JSON Schemas from ``specs/``, compiled once, for what does not come through HTTP; and the
nesting limit of every request, HTTP or Kafka."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema

from framework.engine.model import too_deep as _too_deep
from framework.errors import BadRequest

#: The deepest nesting of arrays and objects a request may have: more than any request
#: needs, and far from the depth where Python's recursion limit stops the code that walks a
#: request (the schema check, redaction for operators, storage).
MAX_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON) nests arrays and objects more than ``limit`` levels
    deep (by default, more than a request may); walked one level at a time."""
    return _too_deep(value, limit)


@functools.cache
def _request_validator() -> jsonschema.protocols.Validator:
    from framework.app import load_specs

    components = load_specs()["lcm.yaml"]["components"]
    schema = {**components["schemas"]["LifecycleRequest"], "components": components}
    # a request read from Kafka must say how to recognise it when it is delivered again
    schema["required"] = [*schema["required"], "idempotencyKey"]
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft4Validator)
    return validator_class(schema)


#: Rules whose messages name only properties, never a value the sender gave.
_NAMES_ONLY = ("required", "additionalProperties", "maxProperties", "minProperties")


def validate_request(body: Any) -> None:
    """Checks a lifecycle request read from Kafka as the API checks one sent over HTTP.

    The error names the field and the rule but never quotes the value: it is logged, and
    a value in the wrong place may be a password.
    """
    if too_deep(body):
        raise BadRequest(f"request: nested more than {MAX_DEPTH} levels deep")
    error = jsonschema.exceptions.best_match(_request_validator().iter_errors(body))
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path) or "request"
    if error.validator in _NAMES_ONLY:
        raise BadRequest(f"{where}: {error.message}")
    rule = error.validator_value if isinstance(error.validator_value, str | int) else "..."
    raise BadRequest(f"{where}: does not satisfy {error.validator} {rule}".rstrip())
