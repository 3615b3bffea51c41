"""nfvd's six HPA plugins beside ONAP's own HPA driver (onaphpadriver 1.0 from PyPI, in a
virtualenv of its own): on the same flavors they must report the same capabilities, feature
by feature and attribute by attribute. Only the ids differ by design: ONAP draws a random one
at every run, nfvd derives a stable one (tests/test_hpa_ids.py).

The flavors are the HPA benchmark's (``make_flavors``): ten families of extra specs that
together ask for every feature, from regions whose vimtype and cloud_extra_info give every
ovsDpdk variant.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

from fixtures.peers import benchmark_module, onap_python

from framework.discovery import Discovery
from framework.plugins.registry import PluginRegistry

#: Runs ONAP's driver on a file of flavors; prints a result per flavor (or what it raised).
ONAP_RUN = textwrap.dedent('''
    import json, sys
    from hpa.hpa_discovery import HPADiscovery
    driver = HPADiscovery()
    results = []
    for flavor in json.load(open(sys.argv[1])):
        try:
            results.append(driver.get_hpa_capabilities(flavor))
        except Exception as exc:
            results.append({"raised": repr(exc)})
    print(json.dumps(results))
''')


def _onap(flavors: list[dict[str, Any]], folder: Path) -> list[Any]:
    (folder / "flavors.json").write_text(json.dumps(flavors))
    (folder / "run.py").write_text(ONAP_RUN)
    # ONAP's driver writes discovery.log in the working directory
    done = subprocess.run([str(onap_python()), "run.py", "flavors.json"], cwd=folder,
                          capture_output=True, text=True, check=True, timeout=300)
    results: list[Any] = json.loads(done.stdout)
    return results


def _comparable(capabilities: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The capabilities without their ids, in one order; attribute values parsed."""
    return sorted(
        (c["hpa-feature"], c["architecture"], c["hpa-version"],
         tuple(sorted((a["hpa-attribute-key"],
                       tuple(sorted(json.loads(a["hpa-attribute-value"]).items())))
                      for a in c["hpa-feature-attributes"])))
        for c in capabilities)


def test_the_same_capabilities_as_onaps_driver(tmp_path: Path) -> None:
    flavors = benchmark_module("hpa_discovery").make_flavors(1500, 11)
    theirs = _onap(flavors, tmp_path)
    ours = list(Discovery(PluginRegistry.discover()).discover_all(flavors))
    assert len(theirs) == len(ours) == len(flavors)
    features: Counter[str] = Counter()
    for flavor, onap, nfvd in zip(flavors, theirs, ours, strict=True):
        assert isinstance(onap, list), (flavor, onap)  # ONAP raised on a valid flavor
        assert {p["status"] for p in nfvd["plugins"]} == {"accepted"}, nfvd["plugins"]
        assert _comparable(nfvd["hpa-capability"]) == _comparable(onap), flavor
        features.update(c["hpa-feature"] for c in onap)
    # the comparison covered every feature ONAP's driver reports
    assert set(features) == {
        "basicCapabilities", "localStorage", "cpuPinning", "cpuTopology",
        "instructionSetExtensions", "hugePages", "numa", "pciePassthrough",
        "sriovNICNetwork", "ovsDpdk"}, features


def _broken(flavor: dict[str, Any], change: str) -> dict[str, Any]:
    broken = json.loads(json.dumps(flavor))
    if change == "an alias without a count":
        broken["extra_specs"]["pci_passthrough:alias"] = "gpu-nvidia"
    elif change == "hw:numa_nodes two":
        broken["extra_specs"]["hw:numa_nodes"] = "two"
    elif change == "no vcpus":
        del broken["flavor"]["vcpus"]
    return broken


#: Each malformed flavor of the issue: what ONAP's driver does with it, and the one nfvd
#: plugin whose result is dropped for it (the others are reported in full).
MALFORMED = {
    "an alias without a count": ("pciePassthrough without attributes", "pci-passthrough"),
    "hw:numa_nodes two": ('numaNodes "two"', "memory"),
    "no vcpus": ("raises", "basic"),
}


def test_where_onaps_driver_reports_a_broken_capability_or_raises_nfvd_drops_one_plugin(
        tmp_path: Path) -> None:
    flavors = benchmark_module("hpa_discovery").make_flavors(200, 3)
    nfv = next(f for f in flavors if f["flavor"]["name"].startswith("onap.nfv"))
    assert "pci_passthrough:alias" in nfv["extra_specs"] and "hw:numa_nodes" in nfv["extra_specs"]
    broken = [_broken(nfv, change) for change in MALFORMED]
    theirs = _onap([nfv, *broken], tmp_path)
    discovery = Discovery(PluginRegistry.discover())
    whole = _comparable(discovery.discover(nfv)["hpa-capability"])
    for (change, (onap_does, dropped)), flavor, onap in zip(MALFORMED.items(), broken,
                                                            theirs[1:], strict=True):
        if onap_does == "raises":
            assert isinstance(onap, dict) and "raised" in onap, onap
        elif onap_does == "pciePassthrough without attributes":
            pci = next(c for c in onap if c["hpa-feature"] == "pciePassthrough")
            assert "hpa-feature-attributes" not in pci
        else:
            numa = next(c for c in onap if c["hpa-feature"] == "numa")
            assert numa["hpa-feature-attributes"][0]["hpa-attribute-value"] == '{"value":"two"}'
        found = discovery.discover(flavor)
        statuses = {p["name"]: (p["status"], p["reason"]) for p in found["plugins"]}
        assert statuses.pop(dropped)[0] == "dropped", change
        assert {status for status, _ in statuses.values()} == {"accepted"}, change
        # every capability nfvd still reports is one of the whole flavor's, unbroken
        assert set(_comparable(found["hpa-capability"])) < set(whole), change
