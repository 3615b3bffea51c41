"""HPA discovery as the server runs it: one plugin, one flavor, its result validated and sized."""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib.resources
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jsonschema
import pluggy

from framework.plugins.calls import call, describe, hook_manager, instance
from framework.plugins.hookspecs import PROJECT
from framework.plugins.registry import (
    HPA_GROUP,
    LEGACY_HPA_GROUP,
    LegacyHpaPlugin,
    PluginRegistry,
)

#: The most bytes the compact JSON (UTF-8) of one plugin's result for one flavor may take.
HPA_MAX_BYTES = 1500


@dataclasses.dataclass(frozen=True)
class HpaReport:
    """What became of one HPA plugin's result for one flavor.

    ``capabilities`` is the result when ``status`` is ``"accepted"``, ``[]`` when it is
    ``"dropped"``; ``reason`` says why it was dropped (naming the field or the limit);
    ``bytes`` is the size of the compact JSON of the result (2, for ``[]``, when it is None),
    0 when it could not be measured.
    """

    capabilities: list[dict[str, Any]]
    status: str
    reason: str | None
    bytes: int


@functools.cache
def _validators() -> tuple[jsonschema.protocols.Validator, jsonschema.protocols.Validator]:
    """The validators of one capability and of one parsed hpa-attribute-value."""
    schema = json.loads(importlib.resources.files("framework.specs").joinpath(
        "schemas", "hpa-capability.json").read_text(encoding="utf-8"))
    return (jsonschema.Draft202012Validator(schema),
            jsonschema.Draft202012Validator(schema["$defs"]["hpaAttributeValue"]))


def _compact(value: Any, ascii_only: bool = False) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only, allow_nan=False)


def _where(path: Iterable[Any]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _problem(capabilities: list[Any]) -> str | None:
    """What makes ``capabilities`` unfit for A&AI and OOF, naming the field; None if fit."""
    capability_validator, value_validator = _validators()
    for index, capability in enumerate(capabilities):
        error = jsonschema.exceptions.best_match(capability_validator.iter_errors(capability))
        if error is not None:
            return f"[{index}]{_where(error.absolute_path)}: {error.message}"
        for position, attribute in enumerate(capability["hpa-feature-attributes"]):
            where = f"[{index}].hpa-feature-attributes[{position}].hpa-attribute-value"
            text = attribute["hpa-attribute-value"]
            try:
                value = json.loads(text)
                compact = text in (_compact(value), _compact(value, ascii_only=True))
            except ValueError:  # not JSON, or NaN and the like, which JSON does not allow
                return f"{where}: {text[:40]!r} is not JSON"
            error = jsonschema.exceptions.best_match(value_validator.iter_errors(value))
            if error is not None:
                return f"{where}{_where(error.absolute_path)}: {error.message}"
            if not compact:
                return f"{where}: {text[:40]!r} is not compact JSON (no whitespace)"
    return None


def _dropped(reason: str, size: int = 0) -> HpaReport:
    return HpaReport([], "dropped", reason, size)


def hpa_manager(obj: object) -> tuple[pluggy.PluginManager, str]:
    """A manager calling ``obj``'s hpa_discover, or its legacy method; and that name.

    TypeError, saying why, when ``obj`` is neither kind of HPA plugin.
    """
    marked = hasattr(getattr(obj, "hpa_discover", None), f"{PROJECT}_impl")
    if not marked and callable(getattr(obj, "get_hpa_capabilities", None)):
        return hook_manager(LegacyHpaPlugin(obj), "hpa_discover"), "get_hpa_capabilities"
    try:
        return hook_manager(obj, "hpa_discover"), "hpa_discover"
    except TypeError as exc:
        if not str(exc).startswith("no "):
            raise
        raise TypeError(f"{exc}, or give it a legacy get_hpa_capabilities(data)") from None


def run_hpa_discover(plugin: object, data: Mapping[str, Any], *,
                     timeout: float = 5.0) -> HpaReport:
    """Call one HPA plugin for one flavor as the server does; never raises.

    ``plugin`` (a class is instantiated) is called through pluggy as ``hpa_discover(data=...)``,
    or as ``get_hpa_capabilities(data)`` for a legacy ONAP plugin, with a copy of ``data``,
    in a thread given ``timeout`` seconds. ``None`` is accepted as ``[]``. The result is
    dropped, with the reason, when the plugin cannot be registered, raises or overruns, or
    when it is not a list, not JSON, over :data:`HPA_MAX_BYTES`, or has an item that fails
    ``specs/schemas/hpa-capability.json`` or an hpa-attribute-value that is not the compact
    JSON of ``{"value": str, "unit"?: "KB"|"MB"|"GB"}``.
    """
    return HpaCaller(plugin)(data, timeout)


class HpaCaller:
    """One HPA plugin as :func:`run_hpa_discover` calls it, made and registered once.

    A plugin whose constructor raises, or that is no HPA plugin, gives a dropped report
    (with that reason) for every flavor.
    """

    def __init__(self, plugin: object) -> None:
        self._problem: str | None = None
        self._name = "hpa_discover"
        self._manager: pluggy.PluginManager | None = None
        try:
            obj = instance(plugin)
        except Exception as exc:  # a constructor may raise anything
            self._problem = f"its constructor raised {describe(exc)}"
            return
        try:
            self._manager, self._name = hpa_manager(obj)
        except TypeError as exc:
            self._problem = f"not an HPA plugin: {exc}"

    def __call__(self, data: Mapping[str, Any], timeout: float) -> HpaReport:
        if self._manager is None:
            return _dropped(self._problem or "not an HPA plugin")
        hook = self._manager.hook
        argument = copy.deepcopy(dict(data))
        outcome, value = call(lambda: hook.hpa_discover(data=argument), timeout)
        return _judge(self._name, outcome, value, timeout)


def _judge(name: str, outcome: str, value: Any, timeout: float) -> HpaReport:
    """The report of one call that ended with ``outcome`` (see :func:`call`)."""
    if outcome == "timeout":
        return _dropped(f"{name} did not return within {timeout:g}s")
    if outcome == "raised":
        return _dropped(f"{name} raised {describe(value)}")
    result = value[0] if value else None  # pluggy leaves a None result out of its list
    if result is None:
        return HpaReport([], "accepted", None, 2)
    if not isinstance(result, list):
        return _dropped(f"{name} returned {type(result).__name__}, not a list")
    try:
        size = len(_compact(result).encode())
    except (TypeError, ValueError) as exc:
        return _dropped(f"{name} returned data that is not JSON: {exc}")
    if size > HPA_MAX_BYTES:
        return _dropped(f"{name} returned {size} bytes (limit {HPA_MAX_BYTES})", size)
    problem = _problem(result)
    if problem is not None:
        return _dropped(f"{name} returned invalid data: {problem}", size)
    return HpaReport(result, "accepted", None, size)


#: The entry-point groups whose plugins discover HPA capabilities.
HPA_GROUPS = (HPA_GROUP, LEGACY_HPA_GROUP)


class Discovery:
    """Runs every loaded HPA plugin for one flavor, each result judged on its own.

    A plugin's result that is dropped (raised, overran ``timeout``, invalid, over
    :data:`HPA_MAX_BYTES`) costs only that plugin's capabilities for that flavor: the others
    are kept, and ``on_drop`` (an alarm) is called with what happened.
    """

    def __init__(self, plugins: PluginRegistry, *, timeout: float = 5.0,
                 on_drop: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.timeout = timeout
        self.on_drop = on_drop
        distributions = {(record.group, record.name): record.distribution
                         for record in plugins.records}
        # each plugin registered with pluggy once, not once per flavor
        self.plugins = [(name, distributions.get((group, name)), HpaCaller(obj))
                        for group in HPA_GROUPS
                        for name, obj in sorted(plugins.hook_plugins(group).items())]

    def discover(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``{"hpa-capability": [...], "plugins": [{"name", "distribution", "status",
        "reason", "bytes"}]}`` for one flavor (``data`` in ONAP's shape)."""
        capabilities: list[dict[str, Any]] = []
        report = []
        for name, distribution, caller in self.plugins:
            outcome = caller(data, self.timeout)
            capabilities += outcome.capabilities
            entry = {"name": name, "distribution": distribution, "status": outcome.status,
                     "reason": outcome.reason, "bytes": outcome.bytes}
            report.append(entry)
            if outcome.status == "dropped" and self.on_drop is not None:
                flavor = data.get("flavor") or {}
                self.on_drop({**entry, "flavor": {"id": flavor.get("id"),
                                                  "name": flavor.get("name")}})
        return {"hpa-capability": capabilities, "plugins": report}
