"""A registration writes each flavor to A&AI as soon as it is discovered."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import framework.discovery
from framework import hookimpl, hpa_attribute, hpa_capability
from framework.discovery import Discovery
from framework.multicloud import WriteFlavors

PARAMS = {"owner": "CloudOwner", "region": "RegionOne", "prefix": "onap.",
          "vimType": "openstack", "cloudExtraInfo": None}


class Slow:
    """Takes a while per flavor, and notes when it is called."""

    def __init__(self) -> None:
        self.called: list[float] = []

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        self.called.append(time.monotonic())
        time.sleep(0.02)
        if data["flavor"]["id"] == "3":
            raise ValueError("hw:test: broken")
        return [hpa_capability(data, "slow", "generic", [hpa_attribute("n", "1")])]


class Registry:
    records: list[Any] = []

    def __init__(self, plugin: object) -> None:
        self.plugin = plugin

    def hook_plugins(self, group: str) -> dict[str, object]:
        return {"slow": self.plugin} if group == "nfvd.hpa_discovery" else {}


class Aai:
    """Notes each flavor PUT, and when; fails the one named ``fail``."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.lock = threading.Lock()
        self.puts: list[tuple[float, str, dict[str, Any]]] = []

    def put_flavor(self, owner: str, region: str, flavor: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.puts.append((time.monotonic(), f"{owner}/{region}", flavor))
        time.sleep(0.01)
        if flavor["flavor-id"] == self.fail:
            raise RuntimeError("A&AI answered 500")
        return flavor


def listed(count: int) -> list[dict[str, Any]]:
    return [{"flavor": {"id": str(n), "name": "onap.small" if n % 4 else "m1.small",
                        "vcpus": 1, "ram": 512},
             "extra_specs": {}} for n in range(count)]


def write(plugin: Slow, aai: Aai, flavors: list[dict[str, Any]]
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    registry: Any = Registry(plugin)
    client: Any = aai
    unused: Any = None  # the region table: _write does not touch it
    task = WriteFlavors(lambda: Discovery(registry), lambda: client, regions=unused,
                        concurrency=3)
    dropped: list[dict[str, Any]] = []
    return task._write(client, PARAMS, flavors, dropped), dropped


def test_the_first_writes_overlap_the_discovery_of_later_flavors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(framework.discovery, "BATCH", 3)
    plugin, aai = Slow(), Aai()
    flavors = listed(16)
    records, dropped = write(plugin, aai, flavors)
    assert [record["flavor-id"] for record in records] == [str(n) for n in range(16)]
    assert len(aai.puts) == 16 and {where for _, where, _ in aai.puts} == {"CloudOwner/RegionOne"}
    assert aai.puts[0][0] < plugin.called[-1]
    assert len(plugin.called) == 12  # only the flavors named onap.*
    capabilities = [len(r["hpa-capabilities"]["hpa-capability"]) for r in records]
    assert capabilities == [0 if n % 4 == 0 or n == 3 else 1 for n in range(16)]
    assert [(d["flavor"], d["status"], d["reason"]) for d in dropped] == [
        ("3", "dropped", "hpa_discover raised ValueError: hw:test: broken")]


def test_a_failed_write_is_raised_once_every_flavor_was_written() -> None:
    aai = Aai(fail="2")
    with pytest.raises(RuntimeError, match="A&AI answered 500"):
        write(Slow(), aai, listed(8))
    assert sorted(flavor["flavor-id"] for _, _, flavor in aai.puts) == [str(n) for n in range(8)]
