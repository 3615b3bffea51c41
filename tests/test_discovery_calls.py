"""How HPA discovery calls plugins: long-lived worker threads with a time limit per call,
one read-only copy of each flavor shared by every plugin, and whole batches of flavors."""

from __future__ import annotations

import copy
import json
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import framework.discovery
from framework import hookimpl, hpa_attribute, hpa_capability
from framework.discovery import Discovery, HpaCaller, HpaReport, run_hpa_discover
from framework.plugins.calls import (
    Copies,
    ReadOnlyDict,
    ReadOnlyList,
    TimedCalls,
    read_only,
    refusals,
    writable,
)

FLAVOR = {"flavor": {"id": "42", "name": "onap.test", "vcpus": 4, "ram": 4096,
                     "links": [{"rel": "self", "href": "http://nova/flavors/42"}]},
          "extra_specs": {"hw:cpu_policy": "dedicated"}, "vimtype": "openstack",
          "viminfo": {"cloud_owner": "owner", "cloud_region_id": "region"}}


# -- TimedCalls ------------------------------------------------------------------------------

def test_calls_run_in_order_and_what_they_raise_is_kept() -> None:
    error = ValueError("no")

    def fail(_: Any) -> None:
        raise error

    outcomes = TimedCalls().run([(str.upper, "a"), (fail, None), (len, "abc")], 5)
    assert outcomes == [("returned", "A"), ("raised", error), ("returned", 3)]
    assert TimedCalls().run([], 5) == []


def test_a_call_that_overruns_is_abandoned_and_the_others_go_on() -> None:
    release = threading.Event()
    late: list[str] = []

    def hang(_: Any) -> str:
        release.wait(10)
        late.append("returned")
        return "too late"

    calls = TimedCalls()
    started = time.monotonic()
    outcomes = calls.run([(str.upper, "a"), (hang, None), (str.upper, "b"), (hang, None),
                          (str.upper, "c")], 0.2)
    took = time.monotonic() - started
    assert outcomes == [("returned", "A"), ("timeout", None), ("returned", "B"),
                        ("timeout", None), ("returned", "C")]
    assert 0.4 <= took < 2
    # the hung calls hold up nothing that comes after them
    assert calls.run([(str.upper, "d")], 0.2) == [("returned", "D")]
    release.set()
    deadline = time.monotonic() + 5
    while len(late) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert late == ["returned", "returned"]
    assert outcomes[1] == ("timeout", None)  # a call that returns too late changes nothing


def test_each_call_has_its_own_time_limit() -> None:
    outcomes = TimedCalls().run([(time.sleep, 0.1)] * 4, 0.5)
    assert outcomes == [("returned", None)] * 4


def test_workers_are_reused_and_end_when_idle() -> None:
    calls = TimedCalls("nfvd-test-workers", idle=0.2)

    def workers() -> int:
        return sum(thread.name == "nfvd-test-workers" for thread in threading.enumerate())

    for _ in range(200):
        calls.run([(len, "x")] * 3, 5)
    assert workers() == 1
    deadline = time.monotonic() + 5
    while workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers() == 0
    assert calls.run([(len, "xy")], 5) == [("returned", 2)]


def test_batches_run_at_the_same_time_get_workers_of_their_own() -> None:
    calls = TimedCalls()
    gate = threading.Barrier(2, timeout=5)
    results: list[Any] = []

    def meet(_: Any) -> str:
        gate.wait()  # both batches must be running at once to pass it
        return "met"

    threads = [threading.Thread(target=lambda: results.append(calls.run([(meet, None)], 5)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [[("returned", "met")]] * 2


# -- read-only copies -----------------------------------------------------------------------

MUTATIONS: list[tuple[str, Callable[[Any], Any]]] = [
    ("setitem", lambda d: d["flavor"].__setitem__("vcpus", 8)),
    ("delitem", lambda d: d["extra_specs"].__delitem__("hw:cpu_policy")),
    ("update", lambda d: d["extra_specs"].update({"x": "y"})),
    ("setdefault", lambda d: d.setdefault("new", {})),
    ("pop", lambda d: d["viminfo"].pop("cloud_owner")),
    ("popitem", lambda d: d.popitem()),
    ("clear", lambda d: d["viminfo"].clear()),
    ("ior", lambda d: d["extra_specs"].__ior__({"x": "y"})),
    ("append", lambda d: d["flavor"]["links"].append({})),
    ("extend", lambda d: d["flavor"]["links"].extend([{}])),
    ("insert", lambda d: d["flavor"]["links"].insert(0, {})),
    ("list setitem", lambda d: d["flavor"]["links"].__setitem__(0, {})),
    ("list delitem", lambda d: d["flavor"]["links"].__delitem__(0)),
    ("list pop", lambda d: d["flavor"]["links"].pop()),
    ("remove", lambda d: d["flavor"]["links"].remove(d["flavor"]["links"][0])),
    ("sort", lambda d: d["flavor"]["links"].sort(key=str)),
    ("reverse", lambda d: d["flavor"]["links"].reverse()),
    ("iadd", lambda d: d["flavor"]["links"].__iadd__([{}])),
    ("imul", lambda d: d["flavor"]["links"].__imul__(2)),
    ("list clear", lambda d: d["flavor"]["links"].clear()),
    ("nested", lambda d: d["flavor"]["links"][0].__setitem__("rel", "other")),
]


@pytest.mark.parametrize(("name", "mutate"), MUTATIONS, ids=[name for name, _ in MUTATIONS])
def test_a_read_only_copy_refuses_every_change(name: str, mutate: Callable[[Any], Any]) -> None:
    shared = read_only(FLAVOR)
    before = refusals()
    with pytest.raises(TypeError, match="shared read-only"):
        mutate(shared)
    assert refusals() == before + 1
    assert shared == FLAVOR and shared is not FLAVOR


def test_a_read_only_copy_reads_and_copies_as_json_does() -> None:
    shared = read_only(FLAVOR)
    assert isinstance(shared, dict) and isinstance(shared["flavor"]["links"], list)
    assert type(shared).__name__ == "dict" and type(shared["flavor"]["links"]).__name__ == "list"
    assert json.dumps(shared) == json.dumps(FLAVOR)
    assert shared["flavor"]["links"][0]["rel"] == "self"
    unpickled = pickle.loads(pickle.dumps(shared))  # noqa: S301 - bytes made just above
    for copied in (copy.deepcopy(shared), unpickled, writable(shared)):
        assert copied == FLAVOR and type(copied) is dict
        assert type(copied["flavor"]) is dict and type(copied["flavor"]["links"]) is list
        copied["flavor"]["links"].append({})  # writable all the way down
    for shallow in (dict(shared), shared.copy(), copy.copy(shared)):
        assert type(shallow) is dict
        shallow["x"] = 1
    assert type(shared["flavor"]["links"][:]) is list
    assert shared == FLAVOR


def test_read_only_copies_json_only() -> None:
    assert isinstance(read_only([{"a": [1, 2.5, None, True, "s"]}]), ReadOnlyList)
    assert isinstance(read_only({"a": {}})["a"], ReadOnlyDict)
    for odd in ({"a": (1, 2)}, {"a": {1, 2}}, {1: "a"}, {"a": object()}):
        with pytest.raises(TypeError):
            read_only(odd)
    # what holds more than JSON is deep-copied for each plugin instead
    data = {"flavor": {"id": "1", "tags": ("a", ["b"])}}
    copies = Copies(data)
    first, second = copies.get(), copies.get()
    assert first == second == data and first is not second
    assert first["flavor"]["tags"][1] is not data["flavor"]["tags"][1]
    shared = Copies(FLAVOR)
    assert shared.get() is shared.get()


# -- plugins given the copies ----------------------------------------------------------------

class Changes:
    """Changes the data it is given, as plugins written for a private copy may."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.calls += 1
        data["extra_specs"]["hw:cpu_policy"] = "shared"
        data["flavor"]["links"].append({"rel": "bookmark"})
        return [hpa_capability(data, "changed", "generic", [
            hpa_attribute("policy", data["extra_specs"]["hw:cpu_policy"]),
            hpa_attribute("links", len(data["flavor"]["links"]))])]


class Swallows:
    """Tries to change its data and hides the refusal."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            data["extra_specs"]["hw:cpu_policy"] = "isolated"
        except TypeError:
            pass
        return [hpa_capability(data, "swallowed", "generic", [
            hpa_attribute("policy", data["extra_specs"]["hw:cpu_policy"])])]


class Reads:
    """Reports what it sees."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        return [hpa_capability(data, "read", "generic", [
            hpa_attribute("policy", data["extra_specs"]["hw:cpu_policy"]),
            hpa_attribute("links", len(data["flavor"]["links"]))])]


class Echoes:
    """Returns part of its data inside its result (an extra property)."""

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**hpa_capability(data, "echo", "generic", []), "links": data["flavor"]["links"]}]


class Nothing:
    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> None:
        return None


class Legacy:
    def get_hpa_capabilities(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        return [hpa_capability(data, "legacy", "generic", [])]


class Hangs:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.release.wait(10)
        return []


class Breaks:
    def __init__(self) -> None:
        raise RuntimeError("no licence")


class Registry:
    """What :class:`Discovery` reads of a PluginRegistry."""

    def __init__(self, plugins: dict[str, object]) -> None:
        self.records: list[Any] = []
        self.plugins = plugins

    def hook_plugins(self, group: str) -> dict[str, object]:
        return self.plugins if group == "nfvd.hpa_discovery" else {}


def attributes(report: dict[str, Any], feature: str) -> dict[str, str]:
    found = next(c for c in report["hpa-capability"] if c["hpa-feature"] == feature)
    return {a["hpa-attribute-key"]: json.loads(a["hpa-attribute-value"])["value"]
            for a in found["hpa-feature-attributes"]}


def test_a_plugin_that_changes_its_data_gets_its_own_copy_and_affects_no_other() -> None:
    changes = Changes()
    registry: Any = Registry({"a-changes": changes, "b-reads": Reads(), "c-swallows": Swallows()})
    discovery = Discovery(registry)
    data = copy.deepcopy(FLAVOR)
    for _ in range(3):
        report = discovery.discover(data)
        assert [p["status"] for p in report["plugins"]] == ["accepted"] * 3
        assert attributes(report, "changed") == {"policy": "shared", "links": "2"}
        assert attributes(report, "read") == {"policy": "dedicated", "links": "1"}
        assert attributes(report, "swallowed") == {"policy": "isolated"}
        assert data == FLAVOR
    assert changes.calls == 4  # called again once, when the read-only copy refused a change


def test_an_accepted_result_never_holds_read_only_data() -> None:
    report = run_hpa_discover(Echoes, FLAVOR)
    assert report.status == "accepted", report.reason
    links = report.capabilities[0]["links"]
    assert type(links) is list and links == FLAVOR["flavor"]["links"]
    links.append({})


def test_none_and_legacy_plugins_as_pluggy_calls_them() -> None:
    assert run_hpa_discover(Nothing, FLAVOR) == HpaReport([], "accepted", None, 2)
    assert run_hpa_discover(Legacy(), FLAVOR).capabilities[0]["hpa-feature"] == "legacy"


def test_discover_all_is_discover_for_each_flavor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework.discovery, "BATCH", 4)
    drops: list[dict[str, Any]] = []
    hangs = Hangs()
    registry: Any = Registry({"breaks": Breaks, "hangs": hangs, "reads": Reads()})
    discovery = Discovery(registry, timeout=0.05, on_drop=drops.append)
    flavors = [{**FLAVOR, "flavor": {**FLAVOR["flavor"], "id": str(n)}} for n in range(11)]
    try:
        one_by_one = [discovery.discover(data) for data in flavors[:3]]
        together = list(discovery.discover_all(iter(flavors)))
    finally:
        hangs.release.set()
    assert together[:3] == one_by_one
    assert len(together) == len(flavors)
    for data, report in zip(flavors, together, strict=True):
        assert [(p["name"], p["status"]) for p in report["plugins"]] == [
            ("breaks", "dropped"), ("hangs", "dropped"), ("reads", "accepted")]
        assert report["plugins"][0]["reason"] == "its constructor raised RuntimeError: no licence"
        assert report["plugins"][1]["reason"] == "hpa_discover did not return within 0.05s"
        assert [c["hpa-feature"] for c in report["hpa-capability"]] == ["read"]
        assert report["hpa-capability"][0]["hpa-capability-id"] == hpa_capability(
            data, "read", "generic", [])["hpa-capability-id"]
    assert len(drops) == 2 * (len(flavors) + 3)
    assert drops[-1]["flavor"] == {"id": flavors[-1]["flavor"]["id"], "name": "onap.test"}


def test_a_caller_made_once_serves_many_flavors() -> None:
    caller = HpaCaller(Reads)
    reports = [caller(FLAVOR, 5) for _ in range(3)]
    assert all(report.status == "accepted" for report in reports)
    assert HpaCaller(Breaks)(FLAVOR, 5).reason == "its constructor raised RuntimeError: no licence"
