"""OOF, SDNC and user directives: values for a workload template's parameters.

ONAP's callers send directives in several shapes, and nfvd takes them all:

- flat: ``{"attributes": [{"attribute_name": "n", "attribute_value": "v"}, ...]}``;
- OOF's nested form: ``{"directives": [{"id": ..., "type": "vnfc", "directives": [{"type":
  "flavor_directives", "attributes": [...]}]}]}``, to any depth;
- a bare list of attributes or of such objects;
- any of these as a JSON string (some callers encode the object twice).

Directives apply in the order sdnc, then oof, then user, so a user directive wins; only
parameters the template declares are set, and the others are reported, never added.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from framework.errors import BadRequest

__all__ = ["ORDER", "apply_directives", "attributes"]

#: the request fields of directives, in the order they apply (a later one wins)
ORDER = ("sdnc_directives", "oof_directives", "user_directives")
MAX_DEPTH = 16


def attributes(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(name, value) of every attribute in a directives value, in order.

    Raises :class:`BadRequest` naming ``where`` for a value no known form explains.
    """
    yield from _walk(value, where, 0)


def _walk(value: Any, where: str, depth: int) -> Iterator[tuple[str, Any]]:
    if depth > MAX_DEPTH:
        raise BadRequest(f"{where}: directives nested deeper than {MAX_DEPTH} levels")
    if value is None or value == "" or value == {} or value == []:
        return
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            raise BadRequest(f"{where}: a string that is not JSON") from None
        yield from _walk(decoded, where, depth + 1)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]", depth + 1)
        return
    if not isinstance(value, Mapping):
        raise BadRequest(f"{where}: expected an object or a list, got {type(value).__name__}")
    if "attribute_name" in value:
        name = value["attribute_name"]
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{where}.attribute_name: a non-empty string is required")
        yield name, value.get("attribute_value")
        return
    known = False
    for key in ("attributes", "directives"):
        if key in value:
            known = True
            yield from _walk(value[key], f"{where}.{key}", depth + 1)
    if not known:
        raise BadRequest(f"{where}: expected attributes, directives or attribute_name "
                         f"(found: {', '.join(sorted(map(str, value))) or 'nothing'})")


def apply_directives(body: Mapping[str, Any], declared: set[str],
                     parameters: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The template's ``parameters`` with the request's directives applied, and a report.

    The report is ``{"applied": {name: source}, "ignored": [{"name", "source"}]}``: which
    directive set each parameter (the last one wins), and the directives naming a parameter
    the template does not declare.
    """
    result = dict(parameters)
    applied: dict[str, str] = {}
    ignored: list[dict[str, str]] = []
    for source in ORDER:
        for name, value in attributes(body.get(source), source):
            if name in declared:
                result[name] = value
                applied[name] = source
            else:
                ignored.append({"name": name, "source": source})
    return result, {"applied": applied, "ignored": ignored}
