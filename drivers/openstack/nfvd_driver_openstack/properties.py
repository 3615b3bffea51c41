"""What a lifecycle request gives its stack: the template and files, the name, the parameters.

As in Ignition's OpenStack driver, the driver files of the resource package hold the Heat
template as ``heat.yaml`` (or ``heat.yml``) and the files it refers to (nested templates,
scripts) under ``files/``, by their path there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from framework import LifecycleRequest, ResourceDriverError

__all__ = ["FILES_DIR", "TEMPLATE_NAMES", "driver_template", "property_value", "stack_name",
           "stack_parameters"]

TEMPLATE_NAMES = ("heat.yaml", "heat.yml")
FILES_DIR = "files"
#: what Heat does not take in a stack name (it wants a letter, then these)
NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_NAME = 255


def property_value(properties: Mapping[str, Any], name: str) -> Any:
    """The value of a property given as ``{"type", "value"}`` (or as a bare value)."""
    entry = properties.get(name)
    return entry.get("value") if isinstance(entry, Mapping) else entry


def stack_name(request: LifecycleRequest) -> str:
    """The stack's name: the ``resourceName`` system property, else ``resourceId``, else the
    request id, with what Heat does not allow in a name dropped (and ``s`` put first when it
    does not start with a letter)."""
    for raw in (property_value(request.system_properties, "resourceName"),
                property_value(request.system_properties, "resourceId"), request.request_id):
        name = NOT_IN_NAME.sub("", str(raw or ""))
        if name:
            return (name if name[0].isalpha() else "s" + name)[:MAX_NAME]
    raise ResourceDriverError("the request names no resource: no resourceName, resourceId or "
                              "request id to name its stack after", "INTERNAL_ERROR")


def stack_parameters(request: LifecycleRequest, declared: set[str]) -> dict[str, Any]:
    """The stack's parameters: each property whose name the template declares.

    A request property wins over a resource property of the same name, which wins over a
    system property; system properties are also given as ``system_<name>`` (Ignition's
    names, such as ``system_resourceId``). Properties without a value are left out, so the
    template's defaults apply.
    """
    candidates: dict[str, Any] = {}
    for name in request.system_properties:
        candidates[f"system_{name}"] = property_value(request.system_properties, name)
    for properties in (request.system_properties, request.resource_properties,
                       request.request_properties):
        for name in properties:
            value = property_value(properties, name)
            if value is not None:
                candidates[name] = value
    return {name: value for name, value in candidates.items()
            if name in declared and value is not None}


def driver_template(driver_dir: str | None) -> tuple[str, dict[str, str]]:
    """The template's text and the stack's ``files`` (path under ``files/`` → text)."""
    if driver_dir is None:
        raise ResourceDriverError("no driver files: the resource package must hold a Heat "
                                  "template, heat.yaml", "INTERNAL_ERROR")
    for name in TEMPLATE_NAMES:
        path = os.path.join(driver_dir, name)
        if os.path.isfile(path):
            template = _read(path, name)
            break
    else:
        raise ResourceDriverError("the driver files have no Heat template: heat.yaml (or "
                                  "heat.yml) is required", "INTERNAL_ERROR")
    files: dict[str, str] = {}
    root = os.path.join(driver_dir, FILES_DIR)
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, root).replace(os.sep, "/")
            files[relative] = _read(path, f"{FILES_DIR}/{relative}")
    return template, files


def _read(path: str, label: str) -> str:
    failure = ""
    try:
        with open(path, encoding="utf-8") as source:
            return source.read()
    except UnicodeDecodeError:
        failure = f"the driver file {label} is not UTF-8 text"
    except OSError as exc:
        failure = f"cannot read the driver file {label}: {exc.strerror}"
    raise ResourceDriverError(failure, "INTERNAL_ERROR")
