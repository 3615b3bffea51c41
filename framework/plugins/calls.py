"""Plugin code as nfvd runs it: made with no argument, registered with pluggy, time-limited."""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pluggy

from framework.plugins import hookspecs


def instance(plugin: object) -> Any:
    """A class is instantiated with no argument, as nfvd does; anything else is used as is."""
    return plugin() if inspect.isclass(plugin) else plugin


def describe(exc: BaseException) -> str:
    """``Type: message``, as nfvd reports what plugin code raised."""
    text = str(exc).strip()
    return type(exc).__name__ + (f": {text}" if text else "")


def call(function: Callable[[], Any], timeout: float | None) -> tuple[str, Any]:
    """``("returned", value)``, ``("raised", exception)`` or ``("timeout", None)``.

    With a timeout the call runs in a daemon thread that is left running once the time
    is up, as the server abandons a call that overran; without one it runs here.
    """
    box: list[tuple[str, Any]] = []

    def target() -> None:
        try:
            box.append(("returned", function()))
        except BaseException as exc:  # plugin code may raise anything; the caller judges it
            box.append(("raised", exc))

    if timeout is None:
        target()
    else:
        thread = threading.Thread(target=target, daemon=True, name="nfvd-plugin-call")
        thread.start()
        thread.join(timeout)
    return box[0] if box else ("timeout", None)


def hook_manager(plugin: object, hook: str) -> pluggy.PluginManager:
    """A manager with nfvd's hookspecs and ``plugin`` registered, as the registry does.

    TypeError, saying why, when a hookimpl does not match its hookspec, matches none (a
    misspelt name), or ``hook`` is not implemented.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    try:
        manager.register(plugin)
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise TypeError(f"its hookimpls do not match nfvd's hookspecs: {_one_line(exc)}"
                        ) from None
    if hook not in {caller.name for caller in manager.get_hookcallers(plugin) or ()}:
        raise TypeError(f"no {hook} hookimpl: decorate the method with framework.hookimpl")
    return manager


def _one_line(exc: pluggy.PluginValidationError) -> str:
    """pluggy's message on one line, without the plugin's id or repr (they say nothing here)."""
    lines = str(exc).splitlines() or [""]
    if len(lines) > 1 and lines[0].startswith("Plugin '"):  # "Plugin '<id>' for hook '<name>'"
        lines = lines[1:]
    return "; ".join(line.split(" in plugin <")[0] for line in lines)


def run_coordinate(plugin: object, script: str, vnfc: Mapping[str, Any],
                   context: Mapping[str, Any]) -> Any:
    """Call ``coordinate_vnfc`` of one plugin (a class is instantiated) through pluggy, as
    the rolling update does, with copies of ``vnfc`` and ``context``; what it returns.

    TypeError when the plugin has no ``coordinate_vnfc`` hookimpl that fits the hookspec.
    """
    manager = hook_manager(instance(plugin), "coordinate_vnfc")
    return manager.hook.coordinate_vnfc(script=script, vnfc=copy.deepcopy(dict(vnfc)),
                                        context=copy.deepcopy(dict(context)))
