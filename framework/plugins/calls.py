"""Plugin code as nfvd runs it: made with no argument, registered with pluggy, time-limited."""

from __future__ import annotations

import copy
import inspect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import pluggy

from framework.plugins import hookspecs

#: One outcome of plugin code: ``("returned", value)``, ``("raised", exception)`` or
#: ``("timeout", None)``.
Outcome = tuple[str, Any]


def instance(plugin: object) -> Any:
    """A class is instantiated with no argument, as nfvd does; anything else is used as is."""
    return plugin() if inspect.isclass(plugin) else plugin


def describe(exc: BaseException) -> str:
    """``Type: message``, as nfvd reports what plugin code raised."""
    text = str(exc).strip()
    return type(exc).__name__ + (f": {text}" if text else "")


def call(function: Callable[[], Any], timeout: float | None) -> Outcome:
    """``("returned", value)``, ``("raised", exception)`` or ``("timeout", None)``.

    With a timeout the call runs in a daemon thread that is left running once the time
    is up, as the server abandons a call that overran; without one it runs here. For
    many calls in a row, :class:`TimedCalls` does the same without a thread per call.
    """
    box: list[Outcome] = []

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


def hook_function(manager: pluggy.PluginManager, hook: str,
                  argument: str) -> Callable[[Any], Any]:
    """``manager.hook.<hook>(<argument>=value)`` as a function of the value, for a manager
    with one plugin: what the plugin returned (None when it returned None).

    A plugin's one plain hookimpl is the function itself, called as pluggy calls it but
    without pluggy's dispatch, which can cost more than the plugin's own work; pluggy calls
    any other kind.
    """
    caller = getattr(manager.hook, hook)
    impls = caller.get_hookimpls()
    impl = impls[0] if len(impls) == 1 else None
    if impl is None or impl.hookwrapper or impl.wrapper or impl.argnames != (argument,) \
            or impl.kwargnames:
        def dispatched(value: Any) -> Any:
            results = caller(**{argument: value})  # pluggy leaves None results out
            return results[0] if results else None

        return dispatched
    function: Callable[[Any], Any] = impl.function
    return function


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


class _Batch:
    """Calls handed to :class:`TimedCalls` at once, and how far their workers got.

    ``next`` is the call in progress (or the first not started), ``started`` when it
    started, ``worker`` the one worker allowed to record outcomes; all three change
    under ``lock`` only. ``done`` is released by the worker that ran the last call.
    """

    __slots__ = ("calls", "done", "lock", "next", "outcomes", "started", "worker")

    def __init__(self, calls: Sequence[tuple[Callable[[Any], Any], Any]]) -> None:
        self.calls = calls
        self.outcomes: list[Outcome] = [("timeout", None)] * len(calls)
        self.lock = threading.Lock()
        self.done = threading.Lock()
        self.done.acquire()
        self.next = 0
        self.started = time.monotonic()
        self.worker: _Worker | None = None


class _Worker:
    """A daemon thread that runs batches of calls back to back until it is idle too long."""

    def __init__(self, pool: TimedCalls) -> None:
        self.pool = pool
        self.batch: _Batch | None = None
        self.wake = threading.Lock()
        self.wake.acquire()
        threading.Thread(target=self._serve, name=pool.name, daemon=True).start()

    def give(self, batch: _Batch) -> None:
        self.batch = batch
        self.wake.release()

    def _serve(self) -> None:
        while True:
            if not self.wake.acquire(timeout=self.pool.idle):
                if self.pool.retire(self):
                    return
                continue  # taken from the idle list just now: a batch is on its way
            batch, self.batch = self.batch, None
            if batch is None or not self._run(batch):
                return  # abandoned: its caller gave up on a call that overran
            self.pool.rest(self)
            batch.done.release()

    def _run(self, batch: _Batch) -> bool:
        """Runs the batch's calls from ``next`` on; False once it was abandoned."""
        calls, outcomes = batch.calls, batch.outcomes
        index = batch.next
        while index < len(calls):
            function, argument = calls[index]
            try:
                outcome: Outcome = ("returned", function(argument))
            except BaseException as exc:  # plugin code may raise anything; the caller judges it
                outcome = ("raised", exc)
            with batch.lock:
                if batch.worker is not self:
                    return False
                outcomes[index] = outcome
                index = batch.next = index + 1
                batch.started = time.monotonic()
        return True


class TimedCalls:
    """Runs calls of plugin code back to back in long-lived daemon threads, each call
    limited to its own ``timeout``: what :func:`call` does, without a thread per call.

    :meth:`run` hands a batch to a worker thread and waits for it, waking only at the
    deadline of the call in progress, which the worker moves on as each call returns: a
    lock and a clock read a call rather than a thread's start and join. When a call overruns,
    its outcome is ``("timeout", None)``, its worker is abandoned (a daemon thread never
    joined, as a call that hangs may never return; if it does, its result is dropped) and
    the batch goes on in another worker, so a plugin that hangs never holds up later calls.
    Batches run at the same time (several callers) get workers of their own; a worker
    idle for ``idle`` seconds ends.
    """

    def __init__(self, name: str = "nfvd-plugin-calls", idle: float = 30.0) -> None:
        self.name = name
        self.idle = idle
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []

    def run(self, calls: Sequence[tuple[Callable[[Any], Any], Any]],
            timeout: float) -> list[Outcome]:
        """The outcome of ``function(argument)`` for each pair of ``calls``, in order."""
        if not calls:
            return []
        batch = _Batch(calls)
        self._hand(batch)
        while True:
            with batch.lock:
                if batch.next >= len(calls):
                    return batch.outcomes
                remaining = batch.started + timeout - time.monotonic()
                overran = remaining <= 0
                if overran:
                    batch.outcomes[batch.next] = ("timeout", None)
                    batch.next += 1
                    batch.started = time.monotonic()
                    batch.worker = None
                    if batch.next >= len(calls):
                        return batch.outcomes
            if overran:
                self._hand(batch)
            else:
                batch.done.acquire(timeout=min(remaining, threading.TIMEOUT_MAX))

    def _hand(self, batch: _Batch) -> None:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker(self)
        with batch.lock:
            batch.worker = worker
            batch.started = time.monotonic()
        worker.give(batch)

    def rest(self, worker: _Worker) -> None:
        """Puts ``worker``, done with its batch, on the idle list."""
        with self._lock:
            self._idle.append(worker)

    def retire(self, worker: _Worker) -> bool:
        """True, taking it off the idle list, when ``worker`` may end: no batch is coming."""
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
                return True
            return False


#: The types of JSON values that cannot change, which copies share.
_ATOMS = frozenset({str, int, float, bool, type(None)})


class _Refusals(threading.local):
    count = 0


_refusals = _Refusals()


def refusals() -> int:
    """How many changes :func:`read_only` data has refused in this thread so far."""
    return _refusals.count


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    _refusals.count += 1
    raise TypeError("this data is shared read-only with other plugins: change a copy of it")


class ReadOnlyDict(dict[Any, Any]):
    """A dict that refuses (TypeError) every change made through its methods; its copies
    (``dict(...)``, ``.copy()``, :mod:`copy`, pickle) are ordinary, writable dicts."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> dict[Any, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        copied: dict[Any, Any] = writable(self)
        return copied

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return dict, (writable(self),)


class ReadOnlyList(list[Any]):
    """A list that refuses (TypeError) every change made through its methods; its copies
    (slices, ``list(...)``, :mod:`copy`, pickle) are ordinary, writable lists."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        copied: list[Any] = writable(self)
        return copied

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return list, (writable(self),)


# plugins name the type of what they reject ("extra_specs is list, not a mapping"): to them
# these are the dicts and lists of the JSON they are given
ReadOnlyDict.__name__, ReadOnlyList.__name__ = "dict", "list"


def read_only(value: Any) -> Any:
    """A deep copy of ``value`` made of :class:`ReadOnlyDict`, :class:`ReadOnlyList` and
    JSON's immutable values, which any number of plugins can share without one changing
    what another sees. TypeError for other types (tuples, sets, objects: those need
    :func:`copy.deepcopy`) and for keys other than strings.
    """
    kind = type(value)
    if kind is dict or kind is ReadOnlyDict:
        for key in value:
            if type(key) is not str:
                raise TypeError(f"key {key!r} is not a string")
        return ReadOnlyDict({key: item if type(item) in _ATOMS else read_only(item)
                             for key, item in value.items()})
    if kind is list or kind is ReadOnlyList:
        return ReadOnlyList([item if type(item) in _ATOMS else read_only(item)
                             for item in value])
    if kind in _ATOMS:
        return value
    raise TypeError(f"{kind.__name__} is not JSON")


def writable(value: Any) -> Any:
    """A deep copy of ``value`` in which dicts and lists (read-only or not) are ordinary,
    writable ones; anything else is copied by :func:`copy.deepcopy`."""
    kind = type(value)
    if kind is dict or kind is ReadOnlyDict:
        return {key: item if type(item) in _ATOMS else writable(item)
                for key, item in value.items()}
    if kind is list or kind is ReadOnlyList:
        return [item if type(item) in _ATOMS else writable(item) for item in value]
    return value if kind in _ATOMS else copy.deepcopy(value)


class Copies:
    """What plugins are given of ``data``: one :func:`read_only` deep copy they share, made
    when first asked for (in the thread that runs them), or, when ``data`` holds more than
    JSON, a deep copy each."""

    __slots__ = ("_data", "_shared")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self._shared: Any = None

    def get(self) -> Any:
        """The copy for one more plugin."""
        if self._shared is None:
            try:
                self._shared = read_only(dict(self._data))
            except TypeError:
                return copy.deepcopy(dict(self._data))
        return self._shared
