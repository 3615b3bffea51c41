"""The plugin registry: stevedore loads each entry point alone, failures are recorded, not fatal."""

from pathlib import Path

import pytest
from fixtures.servers import make_distribution

from framework.plugins.registry import (
    COORDINATE_GROUP,
    HPA_GROUP,
    LEGACY_HPA_GROUP,
    RESOURCE_GROUP,
    PluginRegistry,
)

HPA_OK = '''
from framework import hookimpl

@hookimpl
def hpa_discover(data):
    return [{"hpa-feature": "basicCapabilities", "flavor": data["flavor"]["id"]}]
'''
HPA_BAD_SIGNATURE = '''
from framework import hookimpl

@hookimpl
def hpa_discover(data, region):
    return []
'''
LEGACY = '''
class HPA_Discovery:
    def get_hpa_capabilities(self, data):
        return [{"hpa-feature": "legacy", "vimtype": data["vimtype"]}]
'''
DRIVERS = '''
from framework import ResourceDriver, LifecycleResult

class Good(ResourceDriver):
    infrastructure_types = ("Test",)
    def execute_lifecycle(self, request):
        return LifecycleResult(outputs={"ok": "yes"})
    def find_reference(self, request):
        return None

class RaisesInInit(Good):
    def __init__(self):
        raise RuntimeError("cannot reach the VIM credentials store")

class Abstract(ResourceDriver):
    pass

class NotADriver:
    pass
'''
COORDINATE = '''
from framework import hookimpl

class Script:
    @hookimpl
    def coordinate_vnfc(self, script, vnfc, context):
        if script != "mine":
            return None
        return {"coordinationResult": "CONTINUE", "vnfc": vnfc["id"]}
'''


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PluginRegistry:
    root = tmp_path / "site"
    make_distribution(root, "vendor-drivers", "2.3.4", {
        RESOURCE_GROUP: {"good": "vendor_drivers:Good",
                         "init-raises": "vendor_drivers:RaisesInInit",
                         "abstract": "vendor_drivers:Abstract",
                         "not-a-driver": "vendor_drivers:NotADriver",
                         "no-module": "vendor_missing_module:Driver",
                         "no-attribute": "vendor_drivers:Missing",
                         "import-raises": "vendor_boom:Driver"},
    }, {"vendor_drivers.py": DRIVERS, "vendor_boom.py": "raise RuntimeError('boom at import')\n"})
    make_distribution(root, "other-vendor", "0.1", {RESOURCE_GROUP: {"good": "other_vendor:Good"}},
                      {"other_vendor.py": DRIVERS})
    make_distribution(root, "onap-device-driver-test", "1.0.0", {
        HPA_GROUP: {"ok": "hpa_ok", "bad-signature": "hpa_bad", "no-hooks": "hpa_none"},
        LEGACY_HPA_GROUP: {"legacy": "hpa_legacy:HPA_Discovery",
                           "legacy-broken": "hpa_none:Nothing"},
        COORDINATE_GROUP: {"mine": "coord_script:Script"},
    }, {"hpa_ok.py": HPA_OK, "hpa_bad.py": HPA_BAD_SIGNATURE,
        "hpa_none.py": "class Nothing:\n    pass\n", "hpa_legacy.py": LEGACY,
        "coord_script.py": COORDINATE})
    monkeypatch.syspath_prepend(str(root))
    return PluginRegistry.discover()


def _record(registry: PluginRegistry, group: str, name: str, dist: str | None = None) -> dict:
    found = [r for r in registry.as_list() if r["group"] == group and r["name"] == name
             and (dist is None or r["distribution"] == dist)]
    assert len(found) == 1, found
    return found[0]


def test_builtin_fake_driver_is_an_ordinary_entry_point() -> None:
    registry = PluginRegistry.discover()
    fake = _record(registry, RESOURCE_GROUP, "fake")
    assert fake["status"] == "loaded"
    assert fake["distribution"] == "nfv-driver-framework"
    assert fake["target"] == "framework.plugins.fake:FakeResourceDriver"
    assert registry.resource_driver("fake") is not None


def test_good_plugins_load_with_their_distribution(plugins: PluginRegistry) -> None:
    good = _record(plugins, RESOURCE_GROUP, "good", "vendor-drivers")
    assert (good["status"], good["version"], good["error"]) == ("loaded", "2.3.4", None)
    assert good["hooks"] == ["execute_lifecycle", "find_reference"]
    driver = plugins.resource_driver("good")
    assert driver is not None and type(driver).__name__ == "Good"
    assert _record(plugins, RESOURCE_GROUP, "fake")["status"] == "loaded"


@pytest.mark.parametrize(("name", "error"), [
    ("init-raises", "RuntimeError: cannot reach the VIM credentials store"),
    ("abstract", "TypeError: Can't instantiate abstract class Abstract"),
    ("not-a-driver", "is not a subclass of framework.ResourceDriver"),
    ("no-module", "ModuleNotFoundError: No module named 'vendor_missing_module'"),
    ("no-attribute", "AttributeError"),
    ("import-raises", "RuntimeError: boom at import"),
])
def test_broken_resource_drivers_are_recorded(plugins: PluginRegistry, name: str,
                                              error: str) -> None:
    record = _record(plugins, RESOURCE_GROUP, name)
    assert record["status"] == "failed"
    assert error in record["error"]
    assert record["distribution"] == "vendor-drivers"
    assert plugins.resource_driver(name) is None


def test_duplicate_driver_name_keeps_the_first(plugins: PluginRegistry) -> None:
    records = [r for r in plugins.as_list() if r["name"] == "good"]
    assert sorted(r["status"] for r in records) == ["failed", "loaded"]
    failed = next(r for r in records if r["status"] == "failed")
    assert "already provides resource driver 'good'" in failed["error"]


def test_hpa_plugins_are_called_through_pluggy(plugins: PluginRegistry) -> None:
    assert _record(plugins, HPA_GROUP, "ok")["hooks"] == ["hpa_discover"]
    # a complete flavor: the HPA plugins installed beside nfvd are called too
    results = plugins.manager.hook.hpa_discover(
        data={"flavor": {"id": "f1", "vcpus": 1, "ram": 512}, "extra_specs": {}, "viminfo": {},
              "vimtype": "openstack"})
    results = [capability for result in results for capability in result]
    assert {"hpa-feature": "basicCapabilities", "flavor": "f1"} in results
    assert {"hpa-feature": "legacy", "vimtype": "openstack"} in results
    assert "ok" in plugins.hook_plugins(HPA_GROUP)  # with those installed beside nfvd
    assert set(plugins.hook_plugins(LEGACY_HPA_GROUP)) == {"legacy"}


@pytest.mark.parametrize(("group", "name", "error"), [
    (HPA_GROUP, "bad-signature", "PluginValidationError"),
    (HPA_GROUP, "no-hooks", "implements no hpa_discover hook"),
    (LEGACY_HPA_GROUP, "legacy-broken", "has no get_hpa_capabilities(data)"),
])
def test_broken_hook_plugins_are_recorded(plugins: PluginRegistry, group: str, name: str,
                                          error: str) -> None:
    record = _record(plugins, group, name)
    assert record["status"] == "failed"
    assert error in record["error"]


def test_coordinate_script_first_result_wins(plugins: PluginRegistry) -> None:
    assert _record(plugins, COORDINATE_GROUP, "mine")["status"] == "loaded"
    hook = plugins.manager.hook.coordinate_vnfc
    assert hook(script="mine", vnfc={"id": "vnfc-1"}, context={}) == {
        "coordinationResult": "CONTINUE", "vnfc": "vnfc-1"}
    assert hook(script="someone-else", vnfc={"id": "vnfc-1"}, context={}) is None


def test_failures_are_logged_once_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    root = make_distribution(tmp_path / "s", "broken", "1", {RESOURCE_GROUP: {"b": "nope_mod:X"}})
    monkeypatch.syspath_prepend(str(root))
    PluginRegistry.discover()
    lines = [r.getMessage() for r in caplog.records if "failed to load" in r.getMessage()]
    assert lines == ["plugin nfvd.resource_drivers:b (nope_mod:X) failed to load: "
                     "ModuleNotFoundError: No module named 'nope_mod'"]


def test_a_wheel_installed_later_is_seen_by_the_next_discovery(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "later"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    assert PluginRegistry.discover().resource_driver("late") is None
    make_distribution(root, "late-driver", "1.0", {RESOURCE_GROUP: {"late": "late_mod:Late"}},
                      {"late_mod.py": DRIVERS + "\n\nclass Late(Good):\n    pass\n"})
    assert PluginRegistry.discover().resource_driver("late") is not None
