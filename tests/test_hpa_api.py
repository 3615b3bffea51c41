"""POST /api/hpa/v1/discover and nfvd hpa discover: each plugin judged alone, alarms on Kafka."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.servers import ThreadServer, make_distribution

GROUP = "nfvd.hpa_discovery"
PLUGINS = '''
import json, time
from framework import hookimpl, hpa_attribute, hpa_capability


def _one(data, feature, value):
    return [hpa_capability(data, feature, "generic", [hpa_attribute(feature + "Value", value)])]


class Good:
    @hookimpl
    def hpa_discover(self, data):
        return _one(data, "testGood", data["flavor"]["vcpus"])


class Raising:
    @hookimpl
    def hpa_discover(self, data):
        raise ValueError("hw:test_spec: not a number")


class Sleeping:
    @hookimpl
    def hpa_discover(self, data):
        time.sleep(3)
        return []


class Oversized:
    @hookimpl
    def hpa_discover(self, data):
        result = _one(data, "testBig", "")
        size = len(json.dumps(result, separators=(",", ":")))
        return _one(data, "testBig", "x" * (1501 - size))


class NotJson:
    @hookimpl
    def hpa_discover(self, data):
        result = _one(data, "testBad", "1")
        result[0]["hpa-feature-attributes"][0]["hpa-attribute-value"] = "{value: 1}"
        return result


class Legacy:
    def get_hpa_capabilities(self, data):
        return _one(data, "testLegacy", "yes")
'''
FLAVOR = {"flavor": {"id": "42", "name": "onap.test", "vcpus": 4, "ram": 4096},
          "extra_specs": {"hw:test_spec": "x"}, "vimtype": "openstack",
          "viminfo": {"cloud_owner": "owner", "cloud_region_id": "region"}}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    make_distribution(root, "onap-device-driver-testing", "1.0.0", {
        GROUP: {"good": "hpa_test_plugins:Good", "raising": "hpa_test_plugins:Raising",
                "sleeping": "hpa_test_plugins:Sleeping", "oversized": "hpa_test_plugins:Oversized",
                "not-json": "hpa_test_plugins:NotJson"},
        "hpa.discovery": {"legacy": "hpa_test_plugins:Legacy"},
    }, {"hpa_test_plugins.py": PLUGINS})
    monkeypatch.syspath_prepend(str(root))
    return root


def _ours(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report entries of the test distribution's plugins, by name."""
    return {p["name"]: p for p in report["plugins"]
            if p["distribution"] == "onap-device-driver-testing"}


def test_each_plugin_is_judged_alone_and_dropped_ones_raise_alarms(
        site: Path, serve: Callable[..., ThreadServer],
        settings_factory: Callable[..., Any], kafka_consumer: Any) -> None:
    server = serve(settings_factory(hpa_timeout_seconds=0.5))
    response = requests.post(server.url + "/api/hpa/v1/discover", json=FLAVOR, timeout=10)
    assert response.status_code == 200, response.text
    report = response.json()
    plugins = _ours(report)
    assert {name: p["status"] for name, p in plugins.items()} == {
        "good": "accepted", "legacy": "accepted", "raising": "dropped",
        "sleeping": "dropped", "oversized": "dropped", "not-json": "dropped"}
    assert plugins["raising"]["reason"] == "hpa_discover raised ValueError: hw:test_spec: " \
        "not a number"
    assert "did not return within 0.5s" in plugins["sleeping"]["reason"]
    assert plugins["oversized"]["bytes"] == 1501 and "limit 1500" in plugins["oversized"]["reason"]
    assert "is not JSON" in plugins["not-json"]["reason"]
    features = {c["hpa-feature"] for c in report["hpa-capability"]}
    assert {"testGood", "testLegacy"} <= features
    assert not features & {"testBig", "testBad"}
    good = next(c for c in report["hpa-capability"] if c["hpa-feature"] == "testGood")
    assert good["hpa-feature-attributes"] == [{"hpa-attribute-key": "testGoodValue",
                                               "hpa-attribute-value": '{"value":"4"}'}]

    # the ids are stable: discovering again gives the same ones
    again = requests.post(server.url + "/api/hpa/v1/discover", json=FLAVOR, timeout=10).json()
    assert [c["hpa-capability-id"] for c in again["hpa-capability"]] == \
        [c["hpa-capability-id"] for c in report["hpa-capability"]]

    alarm = json.loads(kafka_consumer("nfvd_alarms", 1, timeout=15, key="raising")[0].value())
    assert alarm["alarm"] == "hpa-plugin-dropped" and alarm["status"] == "dropped"
    assert alarm["flavor"] == {"id": "42", "name": "onap.test"}
    assert alarm["distribution"] == "onap-device-driver-testing"
    metrics = requests.get(server.url + "/metrics", timeout=5).text
    assert 'nfvd_alarms_total{alarm="hpa-plugin-dropped",key="oversized"}' in metrics


def test_bad_flavor_data_is_400_naming_the_field(serve: Callable[..., ThreadServer]) -> None:
    server = serve()
    for body, field in (({"extra_specs": {}}, "flavor"),
                        ({"flavor": {}, "extra_specs": {"hw:x": 5}}, "extra_specs")):
        response = requests.post(server.url + "/api/hpa/v1/discover", json=body, timeout=5)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.json()["detail"]


def test_nfvd_hpa_discover_offline(site: Path, tmp_path: Path) -> None:
    flavors = tmp_path / "flavors.json"
    flavors.write_text(json.dumps([FLAVOR, {**FLAVOR, "flavor": {**FLAVOR["flavor"],
                                                                 "id": "43"}}]))
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "framework", "hpa", "discover", str(flavors)],
                          capture_output=True, text=True, env=env, timeout=60, check=False,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    # printed one by one as they come, in the text json.dumps gives the whole list
    assert done.stdout == json.dumps(results, indent=2) + "\n"
    assert len(results) == 2
    assert _ours(results[0])["raising"]["status"] == "dropped"
    ids = [{c["hpa-feature"]: c["hpa-capability-id"] for c in r["hpa-capability"]}
           for r in results]
    assert ids[0]["testGood"] != ids[1]["testGood"]  # another flavor, another id
    assert "alarm hpa-plugin-dropped: raising" in done.stderr
    flavors.write_text("[]")
    none = subprocess.run([sys.executable, "-m", "framework", "hpa", "discover", str(flavors)],
                          capture_output=True, text=True, env=env, timeout=60, check=False,
                          cwd=tmp_path)
    assert (none.returncode, none.stdout) == (0, "[]\n"), none.stderr
    bad = subprocess.run([sys.executable, "-m", "framework", "hpa", "discover", str(site)],
                         capture_output=True, text=True, env=env, timeout=60, check=False,
                          cwd=tmp_path)
    assert bad.returncode == 2
