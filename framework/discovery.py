"""HPA discovery as the server runs it: one plugin, one flavor, its result validated and sized."""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import jsonschema
import pluggy

from framework.plugins.calls import (
    Copies,
    Outcome,
    TimedCalls,
    describe,
    hook_function,
    hook_manager,
    instance,
    refusals,
    writable,
)
from framework.plugins.hookspecs import PROJECT
from framework.plugins.registry import (
    HPA_GROUP,
    LEGACY_HPA_GROUP,
    LegacyHpaPlugin,
    PluginRegistry,
)

#: The most bytes the compact JSON (UTF-8) of one plugin's result for one flavor may take.
HPA_MAX_BYTES = 1500
#: Flavors whose plugin calls :meth:`Discovery.discover_all` hands over at once, sharing one
#: hand-off to the worker; few enough that their results stay under CPython's default first
#: collection threshold (700; at 64, full collections took 1/4 of the time: benchmarks/).
BATCH = 16

#: The worker threads that run HPA plugins, shared by every caller.
_CALLS = TimedCalls("nfvd-hpa-discover")
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


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
            except (ValueError, RecursionError):  # not JSON, NaN and the like, or too deep
                return f"{where}: {text[:40]!r} is not JSON"
            error = jsonschema.exceptions.best_match(value_validator.iter_errors(value))
            if error is not None:
                return f"{where}{_where(error.absolute_path)}: {error.message}"
            if not compact:
                return f"{where}: {text[:40]!r} is not compact JSON (no whitespace)"
    return None


_UNITS = ("KB", "MB", "GB")
#: The bytes of a capability whose strings are empty and that has no attributes.
_BARE = len('{"hpa-capability-id":"","hpa-feature":"","hpa-version":"","architecture":"",'
            '"hpa-feature-attributes":[]}')
#: The longest hpa-attribute-key plus value whose verdict is remembered.
_REMEMBERED = 512
_STR = frozenset({str})


def _fit_value(text: str) -> bool:
    """Whether ``text`` is the compact JSON of what ``hpaAttributeValue`` accepts."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    unit = value.get("unit", "KB") if type(value) is dict else None
    return (type(unit) is str and unit in _UNITS and value.keys() <= {"value", "unit"}
            and type(value.get("value")) is str and len(value["value"]) <= 1500
            and text in (_compact(value), _compact(value, ascii_only=True)))


def _attribute_bytes(key: str, text: str) -> int | None:
    """The bytes of the attribute of ``key`` and ``text`` if the schema accepts it, or None."""
    if not (0 < len(key) <= 255 and 2 <= len(text) <= 1500 and _fit_value(text)):
        return None
    try:
        return len(_ENCODER.encode({"hpa-attribute-key": key,
                                    "hpa-attribute-value": text}).encode())
    except ValueError:  # a lone surrogate, which UTF-8 cannot encode
        return None


#: :func:`_attribute_bytes` for the short strings that plugins return again and again.
_remembered_attribute_bytes = functools.lru_cache(maxsize=8192)(_attribute_bytes)


def _capability_bytes(capability: Any) -> int | None:
    """The bytes of ``capability``'s compact JSON when it is a plain dict of the schema's
    properties only, holding strings and a list of plain dicts, that the schema accepts;
    None otherwise (then the slow path decides)."""
    if type(capability) is not dict or len(capability) != 5:
        return None
    get = capability.get
    identity, feature, version = get("hpa-capability-id"), get("hpa-feature"), get("hpa-version")
    architecture, attributes = get("architecture"), get("hpa-feature-attributes")
    # keys of a str subclass could be found by these lookups and yet encode otherwise
    if not (type(identity) is str and type(feature) is str and type(version) is str
            and type(architecture) is str and type(attributes) is list
            and 0 < len(identity) <= 255 and 0 < len(feature) <= 255
            and 0 < len(version) <= 255 and 0 < len(architecture) <= 255
            and _STR.issuperset(map(type, capability))):
        return None
    # escaping is per character: the four strings take what their concatenation takes
    joined = identity + feature + version + architecture
    if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
        size = _BARE + len(joined)
    else:
        try:
            size = _BARE + len(_ENCODER.encode(joined).encode()) - 2
        except ValueError:  # a lone surrogate, which UTF-8 cannot encode
            return None
    size += max(len(attributes) - 1, 0)
    for attribute in attributes:
        if type(attribute) is not dict or len(attribute) != 2:
            return None
        first, second = attribute
        key = attribute.get("hpa-attribute-key")
        text = attribute.get("hpa-attribute-value")
        if not (type(key) is str and type(text) is str and type(first) is str
                and type(second) is str):
            return None
        attribute_bytes = (_remembered_attribute_bytes if len(key) + len(text) <= _REMEMBERED
                           else _attribute_bytes)(key, text)
        if attribute_bytes is None:
            return None
        size += attribute_bytes
    return size


def _checked_bytes(result: Any) -> int | None:
    """The bytes of ``result``'s compact JSON when it is a list of capabilities that the
    schema accepts, made of plain dicts, lists and strings and without other properties;
    None when it is not, and then :func:`_problem` and the size check decide. The same
    verdict as theirs for such results, at a fraction of the cost: the verdict on each
    distinct attribute is remembered, and the size adds up without encoding.
    """
    if type(result) is not list:
        return None
    total = len(result) + 1 if result else 2
    for capability in result:
        size = _capability_bytes(capability)
        if size is None:
            return None
        total += size
    return total


#: The fields of an :class:`HpaReport`, in order.
Verdict = tuple[list[dict[str, Any]], str, str | None, int]


def _dropped(reason: str, size: int = 0) -> Verdict:
    return [], "dropped", reason, size


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
    or as ``get_hpa_capabilities(data)`` for a legacy ONAP plugin, with a copy of ``data``
    (see :meth:`HpaCaller.invoke`), in a worker thread that gives it ``timeout`` seconds.
    ``None`` is accepted as ``[]``. The result is dropped, with the reason, when the plugin
    cannot be registered, raises or overruns, or when it is not a list, not JSON, over
    :data:`HPA_MAX_BYTES`, or has an item that fails ``specs/schemas/hpa-capability.json``
    or an hpa-attribute-value that is not the compact JSON of
    ``{"value": str, "unit"?: "KB"|"MB"|"GB"}``.
    """
    return HpaCaller(plugin)(data, timeout)


class HpaCaller:
    """One HPA plugin as :func:`run_hpa_discover` calls it, made and registered once.

    A plugin whose constructor raises, or that is no HPA plugin, gives a dropped report
    (with that reason, :attr:`problem`) for every flavor.
    """

    def __init__(self, plugin: object) -> None:
        self.problem: str | None = None
        self._name = "hpa_discover"
        self._function: Callable[[Any], Any] | None = None
        self._writable = False
        try:
            obj = instance(plugin)
        except Exception as exc:  # a constructor may raise anything
            self.problem = f"its constructor raised {describe(exc)}"
            return
        try:
            manager, self._name = hpa_manager(obj)
        except TypeError as exc:
            self.problem = f"not an HPA plugin: {exc}"
            return
        self._function = hook_function(manager, "hpa_discover", "data")

    def __call__(self, data: Mapping[str, Any], timeout: float) -> HpaReport:
        if self.problem is not None:
            return HpaReport(*_dropped(self.problem))
        (outcome,) = _CALLS.run([(self.verdict, Copies(data))], timeout)
        return HpaReport(*self.judge(outcome, timeout))

    def invoke(self, data: Any) -> Any:
        """What the plugin returns called with ``data``, a copy from :class:`Copies`.

        Read-only data refuses changes (TypeError); a plugin that tried to change it is
        called again with a writable deep copy, as it is from then on: nothing its first
        call did to the data took effect, so it sees what a copy would have shown it.
        """
        function = self._function
        if function is None:
            raise TypeError(self.problem)
        if self._writable:
            return function(writable(data))
        before = refusals()
        try:
            result = function(data)
        except BaseException:
            if refusals() == before:
                raise
        else:
            if refusals() == before:
                return result
        self._writable = True
        return function(writable(data))

    def verdict(self, copies: Copies) -> Verdict:
        """The fields of the report on the plugin called with its copy of the data
        (:meth:`invoke`), judged in the same thread: the call's time limit covers it all."""
        try:
            value = self.invoke(copies.get())
        except BaseException as exc:  # plugin code may raise anything
            return _judge(self._name, "raised", exc)
        return _judge(self._name, "returned", value)

    def judge(self, outcome: Outcome, timeout: float) -> Verdict:
        """The fields of the report on a call of :meth:`verdict` that ended with ``outcome``."""
        if outcome[0] == "returned":
            verdict: Verdict = outcome[1]
            return verdict
        return _judge(self._name, outcome[0], outcome[1], timeout)


def _judge(name: str, outcome: str, value: Any, timeout: float = 0) -> Verdict:
    """The fields of the report of one call that ended with ``outcome`` and ``value`` (see
    :data:`Outcome`); ``timeout`` is the limit of a call that overran."""
    if outcome == "timeout":
        return _dropped(f"{name} did not return within {timeout:g}s")
    if outcome == "raised":
        return _dropped(f"{name} raised {describe(value)}")
    if value is None:
        return [], "accepted", None, 2
    size = _checked_bytes(value)
    if size is not None and size <= HPA_MAX_BYTES:
        return value, "accepted", None, size
    if not isinstance(value, list):
        return _dropped(f"{name} returned {type(value).__name__}, not a list")
    try:
        size = len(_compact(value).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        return _dropped(f"{name} returned data that is not JSON: {exc}")
    if size > HPA_MAX_BYTES:
        return _dropped(f"{name} returned {size} bytes (limit {HPA_MAX_BYTES})", size)
    problem = _problem(value)
    if problem is not None:
        return _dropped(f"{name} returned invalid data: {problem}", size)
    # what passed the slow way may hold read-only parts of the plugin's data
    return writable(value), "accepted", None, size


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
        return self._discover([data])[0]

    def discover_all(self, flavors: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        """:meth:`discover` of each flavor, in order, as they come: the plugin calls of up to
        :data:`BATCH` flavors at a time are handed to a worker thread at once, which spares
        a hand-off between threads per flavor (tens of microseconds, a plugin's work)."""
        batch: list[Mapping[str, Any]] = []
        for data in flavors:
            batch.append(data)
            if len(batch) == BATCH:
                yield from self._discover(batch)
                batch = []
        if batch:
            yield from self._discover(batch)

    def _discover(self, flavors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        callers = [caller for _, _, caller in self.plugins if caller.problem is None]
        calls = [(caller.verdict, copies) for copies in map(Copies, flavors)
                 for caller in callers]
        outcomes = iter(_CALLS.run(calls, self.timeout))
        return [self._report(data, outcomes) for data in flavors]

    def _report(self, data: Mapping[str, Any], outcomes: Iterator[Outcome]) -> dict[str, Any]:
        capabilities: list[dict[str, Any]] = []
        report = []
        for name, distribution, caller in self.plugins:
            accepted, status, reason, size = (
                _dropped(caller.problem) if caller.problem is not None
                else caller.judge(next(outcomes), self.timeout))
            capabilities += accepted
            entry = {"name": name, "distribution": distribution, "status": status,
                     "reason": reason, "bytes": size}
            report.append(entry)
            if status == "dropped" and self.on_drop is not None:
                flavor = data.get("flavor") or {}
                self.on_drop({**entry, "flavor": {"id": flavor.get("id"),
                                                  "name": flavor.get("name")}})
        return {"hpa-capability": capabilities, "plugins": report}
