"""Conformance checks: what a plugin of each kind must be and do before nfvd can rely on it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from framework.discovery import hpa_manager, run_hpa_discover
from framework.engine.dag import build
from framework.engine.model import TaskSpec
from framework.engine.task import TaskType
from framework.lifecycle import LIFECYCLE_TYPE, lifecycle_request
from framework.plugins.calls import describe, instance, run_coordinate
from framework.plugins.resource import ResourceDriver
from framework.testing.resource import default_location, task_types

#: One flavor in ONAP's input shape, small enough for any plugin's result to fit the limit.
SAMPLE_FLAVOR: dict[str, Any] = {
    "flavor": {"id": "1", "name": "onap.hpa.small", "vcpus": 2, "ram": 2048, "disk": 20,
               "swap": "", "OS-FLV-EXT-DATA:ephemeral": 0},
    "extra_specs": {"hw:cpu_policy": "dedicated", "hw:mem_page_size": "large"},
    "viminfo": {"cloud_extra_info": "{}"},
    "vimtype": "openstack",
}
#: A script name no coordinate plugin owns: each must answer it with None.
OTHER_SCRIPT = "nfvd-check-no-such-script"


def _resource(driver: Any) -> list[str]:
    if not isinstance(driver, ResourceDriver):
        return [f"{type(driver).__name__} is not a framework.ResourceDriver subclass: nfvd "
                "loads nothing else from nfvd.resource_drivers"]
    problems = []
    # read as Any: a driver need not hold the types the base class declares
    types: Any = driver.infrastructure_types
    files: Any = driver.uses_driver_files
    if not (isinstance(types, tuple) and all(isinstance(t, str) and t.strip() for t in types)):
        problems.append(f"infrastructure_types is {types!r}: it must be a tuple of non-empty "
                        "strings, the deploymentLocation.type values the driver serves")
    if not isinstance(files, bool):
        problems.append(f"uses_driver_files is {files!r}: it must be a bool")
    for name in ("execute_lifecycle", "find_reference"):
        method = getattr(type(driver), name, None)
        if method is getattr(ResourceDriver, name):
            problems.append(f"{name} is not overridden: the driver cannot serve requests")
        elif not (getattr(method, "__doc__", None) or "").strip():
            # the base class documents the contract; the driver's own docstring says how it
            # keeps it (what it does on the infrastructure, which failure codes it raises)
            problems.append(f"{name} has no docstring of its own: say what it does, returns "
                            "and raises (with which failure codes)")
    return problems + _plan(driver)


def _plan(driver: ResourceDriver) -> list[str]:
    request = lifecycle_request({
        "lifecycleName": "Create", "deploymentLocation": default_location(driver),
        "systemProperties": {"resourceId": str(uuid.uuid4()), "resourceName": "check"}})
    try:
        specs: list[Any] = list(driver.plan(request))
        known: dict[str, Any] = task_types(driver)
    except Exception as exc:  # driver code may raise anything
        return [f"plan() or task_types() raised {describe(exc)} for a sample Create request"]
    if not specs:
        return ["plan() returned no task for a sample Create request: nfvd would refuse it"]
    problems = [f"task_types()[{name!r}] is a {type(task).__name__}, not a framework.TaskType"
                for name, task in known.items() if not isinstance(task, TaskType)]
    for spec in specs:
        if not isinstance(spec, TaskSpec):
            problems.append(f"plan() returned a {type(spec).__name__}, not a framework.TaskSpec")
        elif spec.type not in known:
            problems.append(f"task {spec.name!r} has type {spec.type!r}, which is neither "
                            f"{LIFECYCLE_TYPE!r} nor in task_types() ({sorted(known)})")
    if not problems:
        try:
            build(specs)
        except ValueError as exc:
            problems.append(f"plan() is not a valid task graph: {exc}")
    return problems


def _hpa(plugin: Any) -> list[str]:
    try:
        hpa_manager(plugin)
    except TypeError as exc:
        return [str(exc)]
    report = run_hpa_discover(plugin, SAMPLE_FLAVOR)
    return [] if report.reason is None else [f"for a sample flavor, {report.reason}"]


def _coordinate(plugin: Any) -> list[str]:
    try:
        result = run_coordinate(plugin, OTHER_SCRIPT, {}, {"vnfInstanceId": "check"})
    except TypeError as exc:
        return [str(exc)]
    except Exception as exc:  # plugin code may raise anything
        return [f"coordinate_vnfc raised {describe(exc)} for script {OTHER_SCRIPT!r}, which is "
                "not its own: it must return None"]
    if result is not None:
        return [f"coordinate_vnfc returned a {type(result).__name__} for script "
                f"{OTHER_SCRIPT!r}, which is not its own: it must return None, since the "
                "first result wins"]
    return []


_CHECKS: dict[str, Callable[[Any], list[str]]] = {
    "resource": _resource, "hpa": _hpa, "coordinate": _coordinate}


def check_plugin(plugin: object, kind: str) -> list[str]:
    """Conformance problems of ``plugin`` as a ``kind`` plugin; ``[]`` when it conforms.

    ``kind`` is ``"resource"`` (a :class:`framework.ResourceDriver` whose attributes have
    the documented types, whose methods are its own and documented, and whose plan for a
    sample request uses only its task types and is a valid graph), ``"hpa"`` (an
    ``hpa_discover`` hookimpl, or a legacy ``get_hpa_capabilities(data)``, whose result for
    a sample flavor :func:`~framework.testing.run_hpa_discover` accepts) or ``"coordinate"``
    (a ``coordinate_vnfc`` hookimpl that answers None for another script's name). A class
    is instantiated with no argument, as nfvd does. Each problem is one line saying what is
    wrong and why. ValueError for another ``kind``.
    """
    if kind not in _CHECKS:
        raise ValueError(f"kind must be one of {', '.join(_CHECKS)}, not {kind!r}")
    try:
        obj = instance(plugin)
    except Exception as exc:  # a constructor may raise anything
        problems = [f"its constructor raised {describe(exc)}: nfvd makes it with no argument"]
    else:
        problems = _CHECKS[kind](obj)
    # a message quoted from plugin code may span lines; a problem is one line
    return [" ".join(problem.split()) for problem in problems]
