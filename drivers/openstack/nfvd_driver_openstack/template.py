"""Reading a Heat template enough to know its parameters, without asking Heat."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml
from framework.workloads import WorkloadRejected

__all__ = ["declared_parameters", "load_template"]


class _Loader(yaml.SafeLoader):
    """YAML as Heat reads it: a date such as ``2018-08-31`` stays a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def load_template(template: Any) -> dict[str, Any]:
    """The template as a mapping: given as one, or as a YAML or JSON string.

    Raises :class:`WorkloadRejected` saying why when it is neither.
    """
    if isinstance(template, Mapping):
        return dict(template)
    if not isinstance(template, str) or not template.strip():
        raise WorkloadRejected("the template must be a mapping or a YAML or JSON string",
                               status=400)
    failure = ""
    try:
        loaded = (json.loads(template) if template.lstrip().startswith("{")
                  else yaml.load(template, Loader=_Loader))  # noqa: S506 (a SafeLoader)
    except (ValueError, yaml.YAMLError) as exc:
        failure = " ".join(str(exc).split())
    if failure:
        raise WorkloadRejected(f"the template is not valid YAML or JSON: {failure}", status=400)
    if not isinstance(loaded, dict):
        raise WorkloadRejected("the template is not a mapping", status=400)
    return loaded


def declared_parameters(template: Any) -> set[str]:
    """The names of the parameters the template declares (HOT ``parameters`` or CFN
    ``Parameters``); raises :class:`WorkloadRejected` when it cannot be read."""
    loaded = load_template(template)
    if ("heat_template_version" not in loaded and "AWSTemplateFormatVersion" not in loaded
            and "HeatTemplateFormatVersion" not in loaded):
        raise WorkloadRejected("the template has no heat_template_version", status=400)
    declared = loaded.get("parameters", loaded.get("Parameters")) or {}
    if not isinstance(declared, Mapping):
        raise WorkloadRejected("the template's parameters are not a mapping", status=400)
    return {str(name) for name in declared}
