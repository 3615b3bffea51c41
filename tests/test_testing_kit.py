"""framework.testing, the kit plugin authors' tests import, and ``nfvd drivers check``."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from fixtures.brent import EXECUTE, execute_body
from fixtures.servers import make_distribution
from nfvd_driver_script import ScriptDriver

from framework import (
    BadRequest,
    DriverFailed,
    FindReferenceRequest,
    FindReferenceResult,
    LifecycleRequest,
    LifecycleResult,
    ResourceDriver,
    ResourceDriverError,
    TaskContext,
    TaskSpec,
    TaskType,
    Verdict,
    hookimpl,
)
from framework.plugins.registry import COORDINATE_GROUP, HPA_GROUP, RESOURCE_GROUP
from framework.testing import (
    FakeResourceDriver,
    HpaReport,
    app_server,
    check_plugin,
    find_reference,
    run_coordinate,
    run_hpa_discover,
    run_lifecycle,
)

# -- resource drivers -----------------------------------------------------------------------


class Documented(ResourceDriver):
    """A driver that conforms: it says what it does and creates nothing."""

    infrastructure_types = ("Lab",)

    def execute_lifecycle(self, request: LifecycleRequest) -> LifecycleResult:
        """Succeed with the lifecycle's name as the only output; never raises."""
        return LifecycleResult(outputs={"lifecycle": request.lifecycle_name})

    def find_reference(self, request: FindReferenceRequest) -> FindReferenceResult | None:
        """Find nothing; never raises."""
        return None


class NotADriver:
    pass


class Unmakeable(Documented):
    def __init__(self) -> None:
        raise RuntimeError("needs a cloud.yaml")


class ListTypes(Documented):
    infrastructure_types = ["Lab"]


class BlankType(Documented):
    infrastructure_types = ("",)


class FlagNotBool(Documented):
    uses_driver_files = "yes"


class Undocumented(Documented):
    def find_reference(self, request: FindReferenceRequest) -> FindReferenceResult | None:
        return None


class PlansNothing(Documented):
    """Plans nothing."""

    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        return []


class UnknownType(Documented):
    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        return [TaskSpec("deploy", "deploy")]


class Cycle(Documented):
    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        return [TaskSpec("a", "lifecycle", depends_on=("b",)),
                TaskSpec("b", "lifecycle", depends_on=("a",))]


class PlanRaises(Documented):
    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        raise KeyError("flavor")


def test_conforming_drivers_have_no_problem() -> None:
    assert check_plugin(Documented, "resource") == []
    assert check_plugin(Documented(), "resource") == []
    assert check_plugin(ScriptDriver, "resource") == []


def test_the_fake_driver_conforms() -> None:
    assert check_plugin(FakeResourceDriver, "resource") == []


@pytest.mark.parametrize(("driver", "problem"), [
    (NotADriver, "NotADriver is not a framework.ResourceDriver subclass"),
    (Unmakeable, "its constructor raised RuntimeError: needs a cloud.yaml"),
    (ListTypes, "infrastructure_types is ['Lab']: it must be a tuple of non-empty strings"),
    (BlankType, "infrastructure_types is ('',): it must be a tuple of non-empty strings"),
    (FlagNotBool, "uses_driver_files is 'yes': it must be a bool"),
    (Undocumented, "find_reference has no docstring of its own"),
    (PlansNothing, "plan() returned no task for a sample Create request"),
    (UnknownType, "task 'deploy' has type 'deploy', which is neither 'lifecycle' nor in "
                  "task_types()"),
    (Cycle, "plan() is not a valid task graph: the tasks form a cycle"),
    (PlanRaises, "plan() or task_types() raised KeyError: 'flavor'"),
])
def test_each_resource_problem_is_named(driver: type, problem: str) -> None:
    problems = check_plugin(driver, "resource")
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of resource, hpa, coordinate"):
        check_plugin(Documented, "vim")


class ReturnsAList(FakeResourceDriver):
    def execute_lifecycle(self, request: LifecycleRequest) -> LifecycleResult:
        return LifecycleResult(outputs=["10.0.0.7"])  # type: ignore[arg-type]


def test_a_result_the_server_would_refuse_fails_in_the_kit_as_on_the_server() -> None:
    with pytest.raises(ResourceDriverError) as failed:
        run_lifecycle(ReturnsAList(), "Start")
    assert failed.value.failure_code == "INTERNAL_ERROR"
    assert str(failed.value) == \
        "driver 'ReturnsAList' returned outputs that is a list, not a dict"


class DeepDetails(FakeResourceDriver):
    def execute_lifecycle(self, request: LifecycleRequest) -> LifecycleResult:
        trace: Any = "leaf"
        for _ in range(100):
            trace = [trace]
        return LifecycleResult(outputs={"ip": "10.0.0.7"}, details={"trace": trace})


def test_details_that_could_not_be_shown_are_left_out_but_the_execution_completes() -> None:
    result = run_lifecycle(DeepDetails(), "Start")
    assert result.outputs == {"ip": "10.0.0.7"}
    assert result.details == {"omitted": "the driver's details were nested more than 64 levels"}


def test_a_plan_that_raises_fails_in_the_kit_as_the_server_answers_it() -> None:
    with pytest.raises(DriverFailed) as failed:
        run_lifecycle(PlanRaises(), "Create")
    assert failed.value.status == 502 and failed.value.extra["failureCode"] == "INTERNAL_ERROR"
    assert isinstance(failed.value.__cause__, KeyError)  # the driver's own error, chained


def test_fake_create_gives_the_topology_and_twice_already_exists() -> None:
    driver = FakeResourceDriver()
    result = run_lifecycle(driver, "Create", system_properties={"resourceName": "vm-1"})
    assert result.outputs == {"lifecycle": "Create"}
    assert result.associated_topology["vm-1"]["type"] == "Fake"
    with pytest.raises(ResourceDriverError, match="vm-1 exists") as failed:
        run_lifecycle(driver, "Create", system_properties={"resourceName": "vm-1"})
    assert failed.value.failure_code == "RESOURCE_ALREADY_EXISTS"
    found = find_reference(driver, "vm-1")
    assert found is not None and found.resource_id == result.associated_topology["vm-1"]["id"]
    assert find_reference(driver, "vm-2") is None


CREATE = """\
printf '{"flavor": "%s", "tenant": "%s"}' "$NFVD_PROP_flavor" "$NFVD_TENANT_ID" \\
    > "$NFVD_OUTPUTS_FILE"
printf '{"vm": {"id": "%s", "type": "VM"}}' "$NFVD_REQUEST_ID" > "$NFVD_TOPOLOGY_FILE"
"""
FIND = """\
[ "$NFVD_INSTANCE_NAME" = known ] && echo res-1 > "$NFVD_RESOURCE_ID_FILE"
exit 0
"""
SCRIPTS = {"scripts/Create.sh": CREATE, "scripts/Install.sh": "echo no route >&2; exit 3\n",
           "scripts/FindReference.sh": FIND}


def test_the_script_driver_runs_the_package_scripts() -> None:
    driver = ScriptDriver()
    result = run_lifecycle(driver, "Create", files=SCRIPTS, request_properties={
        "flavor": "m1.small"}, tenant_id="t-1", request_id="req-1")
    assert result.outputs == {"flavor": "m1.small", "tenant": "t-1"}
    assert result.associated_topology == {"vm": {"id": "req-1", "type": "VM"}}
    assert result.details["exitCode"] == 0
    with pytest.raises(ResourceDriverError, match="scripts/Install.sh exited with status 3"
                       ) as failed:
        run_lifecycle(driver, "Install", files=SCRIPTS)
    assert failed.value.failure_code == "INFRASTRUCTURE_ERROR"
    found = find_reference(driver, "known", files=SCRIPTS)
    assert found is not None and found.resource_id == "res-1"
    assert find_reference(driver, "other", files=SCRIPTS) is None


def test_a_package_the_server_refuses_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="member '../escape.sh'"):
        run_lifecycle(ScriptDriver(), "Create", files={"../escape.sh": "true\n"})


class Step(TaskType):
    """Adds its name to the ``steps`` output of the task it depends on."""

    side_effects = False

    def precondition(self, ctx: TaskContext) -> Verdict:
        return Verdict(not ctx.params.get("skip"), "asked to skip")

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        before = [result["outputs"]["steps"] for result in ctx.results.values() if result]
        return {"outputs": {"steps": [*(before[0] if before else []), ctx.task]},
                "associatedTopology": {ctx.task: {"id": ctx.operation_id, "type": "Step"}}}

    def postcondition(self, ctx: TaskContext) -> Verdict:
        return Verdict(ctx.task != "broken", "not there")


class Waits(TaskType):
    """Waits until it is cancelled."""

    side_effects = False

    def action(self, ctx: TaskContext) -> None:
        deadline = time.monotonic() + 30
        while not ctx.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)


class Stepwise(Documented):
    def __init__(self, *tasks: TaskSpec) -> None:
        self.tasks = tasks

    def plan(self, request: LifecycleRequest) -> Sequence[TaskSpec]:
        return self.tasks

    def task_types(self) -> Mapping[str, TaskType]:
        return {"step": Step(), "wait": Waits()}


def test_a_plan_runs_in_dependency_order_with_earlier_results() -> None:
    driver = Stepwise(TaskSpec("third", "step", depends_on=("second",)),
                      TaskSpec("first", "step"),
                      TaskSpec("skipped", "step", {"skip": True}),
                      TaskSpec("second", "step", depends_on=("first", "skipped")))
    result = run_lifecycle(driver, "Create", request_id="op-1")
    assert result.outputs == {"steps": ["first", "second", "third"]}
    assert set(result.associated_topology) == {"first", "second", "third"}
    assert check_plugin(driver, "resource") == []


def test_a_false_postcondition_is_an_internal_error_naming_the_task() -> None:
    with pytest.raises(ResourceDriverError, match="task 'broken': postcondition false: not "
                       "there") as failed:
        run_lifecycle(Stepwise(TaskSpec("broken", "step")), "Create")
    assert failed.value.failure_code == "INTERNAL_ERROR"


def test_a_task_past_its_timeout_is_cancelled_and_an_infrastructure_error() -> None:
    with pytest.raises(ResourceDriverError, match="timed out after 0.1s") as failed:
        run_lifecycle(Stepwise(TaskSpec("slow", "wait", timeout=0.1)), "Create")
    assert failed.value.failure_code == "INFRASTRUCTURE_ERROR"


# -- HPA discovery ----------------------------------------------------------------------------


def capability(feature: str = "basicCapabilities", **attributes: str) -> dict[str, Any]:
    return {"hpa-capability-id": "6d1a5c4e-3f4b-4e59-9a55-0f7b1c8a2d10", "hpa-feature": feature,
            "hpa-version": "v1", "architecture": "generic",
            "hpa-feature-attributes": [{"hpa-attribute-key": key, "hpa-attribute-value": value}
                                       for key, value in attributes.items()]}


VALID = [capability(numVirtualCpu='{"value":"2"}', virtualMemSize='{"value":"2048","unit":"MB"}')]
FLAVOR = {"flavor": {"name": "onap.small", "vcpus": 2, "ram": 2048}, "extra_specs": {},
          "viminfo": {}, "vimtype": "openstack"}


class Returns:
    """An HPA plugin that returns what it was made with."""

    def __init__(self, result: Any = None) -> None:
        self.result = result

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> Any:
        return self.result


class Raises:
    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> Any:
        raise KeyError("vcpus")


class Sleeps:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def hpa_discover(self, data: dict[str, Any]) -> Any:
        self.release.wait(10)
        return VALID


class Legacy:
    """An ONAP hpa.discovery plugin: one method, no hookimpl."""

    def get_hpa_capabilities(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        return [capability(numVirtualCpu=json.dumps({"value": str(data["flavor"]["vcpus"])},
                                                    separators=(",", ":")))]


def sized(size: int) -> list[dict[str, Any]]:
    """A valid result whose compact JSON is ``size`` bytes."""
    result = [capability(pad='{"value":""}')]
    base = len(json.dumps(result, separators=(",", ":")))
    pad = '{"value":"' + "x" * (size - base) + '"}'
    return [capability(pad=pad)]


def test_a_valid_result_is_accepted_with_its_size() -> None:
    report = run_hpa_discover(Returns(VALID), FLAVOR)
    assert report == HpaReport(VALID, "accepted", None,
                               len(json.dumps(VALID, separators=(",", ":"))))
    assert run_hpa_discover(Returns(sized(1500)), FLAVOR).status == "accepted"
    assert run_hpa_discover(Returns(None), FLAVOR) == HpaReport([], "accepted", None, 2)
    assert run_hpa_discover(Returns, FLAVOR).status == "accepted"  # a class is instantiated


def test_a_legacy_plugin_is_called_with_the_flavor() -> None:
    report = run_hpa_discover(Legacy(), FLAVOR)
    assert report.status == "accepted"
    assert report.capabilities[0]["hpa-feature-attributes"][0]["hpa-attribute-value"] == \
        '{"value":"2"}'
    assert check_plugin(Legacy, "hpa") == []


def test_a_raising_plugin_is_dropped() -> None:
    assert run_hpa_discover(Raises(), FLAVOR) == HpaReport(
        [], "dropped", "hpa_discover raised KeyError: 'vcpus'", 0)


def test_a_plugin_past_its_timeout_is_dropped() -> None:
    plugin = Sleeps()
    report = run_hpa_discover(plugin, FLAVOR, timeout=0.2)
    plugin.release.set()
    assert report == HpaReport([], "dropped", "hpa_discover did not return within 0.2s", 0)


def test_a_result_over_the_limit_is_dropped_naming_it() -> None:
    report = run_hpa_discover(Returns(sized(1501)), FLAVOR)
    assert report == HpaReport([], "dropped", "hpa_discover returned 1501 bytes (limit 1500)",
                               1501)


@pytest.mark.parametrize(("result", "reason"), [
    ({"hpa-feature": "numa"}, "returned dict, not a list"),
    ([{"x": {1, 2}}], "returned data that is not JSON"),
    ([{**VALID[0], "architecture": None}],
     "returned invalid data: [0].architecture: None is not of type 'string'"),
    ([{k: v for k, v in VALID[0].items() if k != "hpa-version"}],
     "returned invalid data: [0]: 'hpa-version' is a required property"),
    ([capability(numVirtualCpu="2 vCPUs")], "returned invalid data: [0].hpa-feature-attributes"
     "[0].hpa-attribute-value: '2 vCPUs' is not JSON"),
    ([capability(numVirtualCpu='{"value":2}')], "returned invalid data: [0].hpa-feature-"
     "attributes[0].hpa-attribute-value.value: 2 is not of type 'string'"),
    ([capability(diskSize='{"value":"2","unit":"TB"}')], "hpa-attribute-value.unit: 'TB' is "
     "not one of ['KB', 'MB', 'GB']"),
    ([capability(numVirtualCpu='{"value": "2"}')], "is not compact JSON"),
])
def test_invalid_data_is_dropped_naming_the_field(result: Any, reason: str) -> None:
    report = run_hpa_discover(Returns(result), FLAVOR)
    assert report.status == "dropped" and report.capabilities == []
    assert report.reason is not None and reason in report.reason, report.reason


class NoHook:
    def hpa_discover(self, data: dict[str, Any]) -> Any:
        return VALID


class Misspelt:
    @hookimpl
    def hpa_discovr(self, data: dict[str, Any]) -> Any:
        return VALID


class WrongArgument:
    @hookimpl
    def hpa_discover(self, flavor: dict[str, Any]) -> Any:
        return VALID


@pytest.mark.parametrize(("plugin", "problem"), [
    (NoHook, "no hpa_discover hookimpl: decorate the method with framework.hookimpl, or give "
             "it a legacy get_hpa_capabilities(data)"),
    (Misspelt, "its hookimpls do not match nfvd's hookspecs: unknown hook 'hpa_discovr'"),
    (WrongArgument, "its hookimpls do not match nfvd's hookspecs: hookimpl definition: "
                    "hpa_discover(flavor"),
    (Returns([{}]), "for a sample flavor, hpa_discover returned invalid data: [0]:"),
    (Raises, "for a sample flavor, hpa_discover raised KeyError"),
])
def test_each_hpa_problem_is_named(plugin: object, problem: str) -> None:
    problems = check_plugin(plugin, "hpa")
    assert len(problems) == 1 and problems[0].startswith(problem), problems


# -- coordination ----------------------------------------------------------------------------


class Coordinator:
    @hookimpl
    def coordinate_vnfc(self, script: str, vnfc: dict[str, Any],
                        context: dict[str, Any]) -> Any:
        if script != "drain":
            return None
        return {"coordinationResult": "CONTINUE", "vnfc": vnfc["new_vnfc_param"]["id"]}


class Greedy:
    @hookimpl
    def coordinate_vnfc(self, script: str, vnfc: dict[str, Any],
                        context: dict[str, Any]) -> Any:
        return {"coordinationResult": "CONTINUE"}


def test_run_coordinate_calls_the_hook() -> None:
    vnfc = {"old_vnfc_param": {"id": "a"}, "new_vnfc_param": {"id": "b"}}
    assert run_coordinate(Coordinator, "drain", vnfc, {"vnfInstanceId": "i-1"}) == {
        "coordinationResult": "CONTINUE", "vnfc": "b"}
    assert run_coordinate(Coordinator(), "other", vnfc, {}) is None
    with pytest.raises(TypeError, match="no coordinate_vnfc hookimpl"):
        run_coordinate(Returns(), "drain", vnfc, {})
    assert check_plugin(Coordinator, "coordinate") == []
    assert check_plugin(Greedy, "coordinate") == [
        "coordinate_vnfc returned a dict for script 'nfvd-check-no-such-script', which is not "
        "its own: it must return None, since the first result wins"]
    assert check_plugin(Returns, "coordinate") == [
        "no coordinate_vnfc hookimpl: decorate the method with framework.hookimpl"]


# -- nfvd drivers check ------------------------------------------------------------------------


def check(*args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NFVD_")}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    # not from the checkout, whose framework/ would shadow the installed one (no specs there)
    return subprocess.run([sys.executable, "-m", "framework", "drivers", "check", *args],
                          capture_output=True, text=True, env=env, timeout=60, check=False,
                          cwd=tempfile.gettempdir())


VENDOR = """\
from framework import hookimpl


class Good:
    @hookimpl
    def hpa_discover(self, data):
        return None


class Bad:
    @hookimpl
    def hpa_discover(self, data):
        return [{"hpa-feature": "numa"}]


class Greedy:
    @hookimpl
    def coordinate_vnfc(self, script, vnfc, context):
        return {"coordinationResult": "CONTINUE"}
"""


@pytest.fixture(scope="module")
def vendor_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Installed vendor plugins: one that fails to load, good and bad ones, a shared name."""
    root = tmp_path_factory.mktemp("site")
    make_distribution(root, "nfvd-driver-broken", "0.9.1",
                      {RESOURCE_GROUP: {"broken": "broken_driver:Driver"}},
                      {"broken_driver.py": "raise ImportError('libvirt is not installed')\n"})
    make_distribution(root, "nfvd-hpa-vendor", "2.0", {
        HPA_GROUP: {"good": "vendor_hpa:Good", "bad": "vendor_hpa:Bad", "twin": "vendor_hpa:Good"},
        COORDINATE_GROUP: {"greedy": "vendor_hpa:Greedy", "twin": "vendor_hpa:Greedy"},
    }, {"vendor_hpa.py": VENDOR})
    return root


def test_check_fake_is_ok() -> None:
    result = check("fake")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "fake (nfvd.resource_drivers, nfv-driver-framework 0.1.0): ok\n"


def test_check_an_installed_conforming_plugin(vendor_site: Path) -> None:
    version = importlib.metadata.version("nfvd-driver-script")
    result = check("script")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"script (nfvd.resource_drivers, nfvd-driver-script {version}): ok\n"
    result = check("good", site=vendor_site)
    assert (result.returncode, result.stdout) == (
        0, "good (nfvd.hpa_discovery, nfvd-hpa-vendor 2.0): ok\n")


def test_check_prints_each_problem_and_exits_1(vendor_site: Path) -> None:
    result = check("bad", site=vendor_site)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "bad (nfvd.hpa_discovery, nfvd-hpa-vendor 2.0):"
    assert lines[1].startswith("  for a sample flavor, hpa_discover returned invalid data: [0]")
    result = check("greedy", site=vendor_site)
    assert result.returncode == 1
    assert "it must return None, since the first result wins" in result.stdout


def test_check_a_plugin_that_failed_to_load(vendor_site: Path) -> None:
    result = check("broken", site=vendor_site)
    assert result.returncode == 1
    assert result.stdout == ("broken (nfvd.resource_drivers, nfvd-driver-broken 0.9.1): failed "
                             "to load: ImportError: libvirt is not installed\n")


def test_check_unknown_or_ambiguous_names_exit_2(vendor_site: Path) -> None:
    result = check("nope", site=vendor_site)
    assert result.returncode == 2
    assert result.stderr.startswith("nfvd: error: no plugin named 'nope' is installed; "
                                    "installed: ")
    installed = result.stderr.split("installed: ", 1)[1].strip().split(", ")
    assert installed == sorted(installed)  # and whatever else the environment has
    assert {"bad", "broken", "fake", "good", "greedy"} <= set(installed)
    result = check("twin", site=vendor_site)
    assert result.returncode == 2
    assert "'twin' is in several groups (nfvd.coordinate_scripts, nfvd.hpa_discovery): " \
        "choose one with --group" in result.stderr
    result = check("twin", "--group", HPA_GROUP, site=vendor_site)
    assert (result.returncode, result.stdout) == (
        0, "twin (nfvd.hpa_discovery, nfvd-hpa-vendor 2.0): ok\n")


# -- app_server --------------------------------------------------------------------------------


def test_app_server_serves_the_installed_drivers() -> None:
    with app_server() as server:
        assert server.url == f"http://127.0.0.1:{server.settings.port}"
        assert server.settings.database_url.startswith("sqlite:///")
        response = requests.post(server.url + EXECUTE, json=execute_body("Create"), timeout=10)
        assert response.status_code == 202, response.text
        assert response.json()["requestId"]
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/health", timeout=2)
