"""The plugin registry: stevedore finds and loads entry points, pluggy dispatches their hooks."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
import logging
from typing import Any

import pluggy
from stevedore import ExtensionManager

from framework.plugins import hookspecs
from framework.plugins.hookspecs import PROJECT, hookimpl
from framework.plugins.resource import ResourceDriver

log = logging.getLogger(__name__)

RESOURCE_GROUP = "nfvd.resource_drivers"
HPA_GROUP = "nfvd.hpa_discovery"
LEGACY_HPA_GROUP = "hpa.discovery"
COORDINATE_GROUP = "nfvd.coordinate_scripts"
FLAVOR_SOURCE_GROUP = "nfvd.flavor_sources"
WORKLOAD_TYPE_GROUP = "nfvd.workload_types"
#: Every group nfvd reads, and the hook a plugin of that group must implement.
GROUPS: dict[str, str | None] = {
    RESOURCE_GROUP: None,
    HPA_GROUP: "hpa_discover",
    LEGACY_HPA_GROUP: "hpa_discover",
    COORDINATE_GROUP: "coordinate_vnfc",
    FLAVOR_SOURCE_GROUP: None,
    WORKLOAD_TYPE_GROUP: None,
}
RESOURCE_METHODS = ("execute_lifecycle", "find_reference")
_ERROR_LIMIT = 500


@dataclasses.dataclass(frozen=True)
class PluginRecord:
    """What nfvd knows of one entry point: where it comes from and whether it loaded."""

    group: str
    name: str
    target: str
    distribution: str | None
    version: str | None
    status: str
    error: str | None = None
    hooks: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hooks": list(self.hooks)}


class LegacyHpaPlugin:
    """Adapts an ONAP ``hpa.discovery`` plugin (``get_hpa_capabilities(data)``) to the hook."""

    def __init__(self, legacy: Any) -> None:
        self.legacy = legacy

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> Any:
        return self.legacy.get_hpa_capabilities(data)


def _summary(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 3] + "..."


def _distribution(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _instantiate(plugin: Any) -> Any:
    """A class is instantiated with no argument; a module or an instance is used as it is."""
    return plugin() if inspect.isclass(plugin) else plugin


class PluginRegistry:
    """Every installed plugin, loaded one entry point at a time; failures are recorded, not raised.

    Resource drivers are one-of-N: :meth:`resource_driver` returns the one by
    name. HPA discovery and coordinate-script plugins are many-of-N: they are
    registered in one pluggy :attr:`manager` whose ``hook`` attribute calls them.
    """

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []
        self.resource_drivers: dict[str, ResourceDriver] = {}
        self.flavor_sources: dict[str, Any] = {}  # name: framework.flavor_sources.FlavorSource
        self.workload_types: dict[str, Any] = {}  # template type: framework.workloads.WorkloadType

    @classmethod
    def discover(cls, groups: tuple[str, ...] = tuple(GROUPS)) -> PluginRegistry:
        """Load every entry point of ``groups`` installed now."""
        registry = cls()
        importlib.invalidate_caches()  # directory listings and metadata paths of the import system
        for group in groups:
            registry._load_group(group)
        return registry

    def _load_group(self, group: str) -> None:
        # stevedore caches entry points in the process (keyed by sys.path) and on disk (keyed by
        # mtimes rounded to ~2 minutes); hand it the current list so that a wheel installed since
        # the last discovery is always seen. These entry points also know their distribution.
        ExtensionManager.ENTRY_POINT_CACHE[group] = list(
            importlib.metadata.entry_points(group=group))
        failures: list[tuple[importlib.metadata.EntryPoint, BaseException]] = []
        manager: ExtensionManager[Any] = ExtensionManager(
            namespace=group,
            invoke_on_load=False,
            on_load_failure_callback=lambda _mgr, ep, exc: failures.append((ep, exc)),
        )
        for ep, exc in failures:
            self._record(group, ep, error=exc)
        for extension in manager.extensions:
            try:
                hooks = self._register(group, extension.name, extension.plugin)
            except Exception as exc:  # a plugin's __init__ may raise anything
                self._record(group, extension.entry_point, error=exc)
            else:
                self._record(group, extension.entry_point, hooks=hooks)

    def _register(self, group: str, name: str, plugin: Any) -> tuple[str, ...]:
        if group == RESOURCE_GROUP:
            if name in self.resource_drivers:
                raise ValueError(f"another plugin already provides resource driver {name!r}")
            if not (inspect.isclass(plugin) and issubclass(plugin, ResourceDriver)):
                raise TypeError(f"{plugin!r} is not a subclass of framework.ResourceDriver")
            self.resource_drivers[name] = plugin()
            return RESOURCE_METHODS
        if group == FLAVOR_SOURCE_GROUP:
            from framework.flavor_sources import FlavorSource

            if not (inspect.isclass(plugin) and issubclass(plugin, FlavorSource)):
                raise TypeError(f"{plugin!r} is not a subclass of "
                                "framework.flavor_sources.FlavorSource")
            self.flavor_sources[name] = plugin()
            return ("list_flavors",)
        if group == WORKLOAD_TYPE_GROUP:
            from framework.workloads import WorkloadType

            if not (inspect.isclass(plugin) and issubclass(plugin, WorkloadType)):
                raise TypeError(f"{plugin!r} is not a subclass of "
                                "framework.workloads.WorkloadType")
            if name.lower() in self.workload_types:
                raise ValueError(f"another plugin already provides workload type {name!r}")
            self.workload_types[name.lower()] = plugin()
            return ("create", "show", "find", "delete", "inventory")
        obj = _instantiate(plugin)
        if group == LEGACY_HPA_GROUP:
            if not callable(getattr(obj, "get_hpa_capabilities", None)):
                raise TypeError("legacy hpa.discovery plugin has no get_hpa_capabilities(data)")
            obj = LegacyHpaPlugin(obj)
        key = f"{group}:{name}"
        if self.manager.has_plugin(key):
            raise ValueError(f"another plugin is already registered as {key!r}")
        self.manager.register(obj, name=key)
        hooks = tuple(hook.name for hook in self.manager.get_hookcallers(obj) or ())
        required = GROUPS[group]
        if required not in hooks:
            self.manager.unregister(obj)
            raise TypeError(f"implements no {required} hook")
        return hooks

    def _record(
        self,
        group: str,
        ep: importlib.metadata.EntryPoint,
        error: BaseException | None = None,
        hooks: tuple[str, ...] = (),
    ) -> None:
        dist, version = _distribution(ep)
        if error is not None:
            log.error("plugin %s:%s (%s) failed to load: %s", group, ep.name, ep.value,
                      _summary(error), exc_info=log.isEnabledFor(logging.DEBUG))
        self.records.append(PluginRecord(
            group=group, name=ep.name, target=ep.value, distribution=dist, version=version,
            status="failed" if error is not None else "loaded",
            error=_summary(error) if error is not None else None, hooks=hooks,
        ))

    def resource_driver(self, name: str) -> ResourceDriver | None:
        """The loaded resource driver called ``name``, or ``None``."""
        return self.resource_drivers.get(name)

    def hook_plugins(self, group: str) -> dict[str, Any]:
        """The loaded plugin objects of a hook group, by entry-point name."""
        prefix = group + ":"
        return {key[len(prefix):]: obj for key, obj in self.manager.list_name_plugin()
                if key.startswith(prefix)}

    def failed(self) -> list[PluginRecord]:
        return [record for record in self.records if record.status == "failed"]

    def as_list(self) -> list[dict[str, Any]]:
        """Every record as JSON-ready dicts, sorted by group then name."""
        return [r.as_dict() for r in sorted(self.records, key=lambda r: (r.group, r.name))]
