"""JSON Schemas from ``specs/``, compiled once, for what does not come through HTTP."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema

from framework.errors import BadRequest


@functools.cache
def _request_validator() -> jsonschema.protocols.Validator:
    from framework.app import load_specs

    components = load_specs()["lcm.yaml"]["components"]
    schema = {**components["schemas"]["LifecycleRequest"], "components": components}
    # a request read from Kafka must say how to recognise it when it is delivered again
    schema["required"] = [*schema["required"], "idempotencyKey"]
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft4Validator)
    return validator_class(schema)


def validate_request(body: Any) -> None:
    """Checks a lifecycle request read from Kafka as the API checks one sent over HTTP."""
    error = jsonschema.exceptions.best_match(_request_validator().iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "request"
        raise BadRequest(f"{where}: {error.message}")
