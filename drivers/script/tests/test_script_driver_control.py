"""ScriptDriver: result files, timeouts, cancelling, clean-up, find-reference, rollback and
settings, with real scripts run by /bin/sh."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from framework import FindReferenceRequest, ResourceDriverError
from script_cases import PRIVATE_KEY, alive, make_request, wait_for, write_script

from nfvd_driver_script import ScriptDriver


@pytest.mark.parametrize(("body", "problem"), [
    ("echo '[1, 2]' > \"$NFVD_OUTPUTS_FILE\"",
     "invalid $NFVD_OUTPUTS_FILE: an array, not a JSON object"),
    ("echo '{oops' > \"$NFVD_OUTPUTS_FILE\"", "invalid $NFVD_OUTPUTS_FILE: not JSON"),
    ("head -c 1100000 /dev/zero | tr '\\0' ' ' > \"$NFVD_OUTPUTS_FILE\"",
     "invalid $NFVD_OUTPUTS_FILE: larger than 1048576 bytes"),
    ("mkfifo \"$NFVD_OUTPUTS_FILE\"", "invalid $NFVD_OUTPUTS_FILE: not a regular file"),
    ("echo '{\"vm\": {\"id\": 7, \"type\": \"VM\"}}' > \"$NFVD_TOPOLOGY_FILE\"",
     "invalid $NFVD_TOPOLOGY_FILE: entry 'vm' is neither null nor an object"),
    ("echo '\"vm\"' > \"$NFVD_TOPOLOGY_FILE\"",
     "invalid $NFVD_TOPOLOGY_FILE: a string, not a JSON object"),
])
def test_invalid_result_files(driver: ScriptDriver, driver_dir: Path, body: str,
                              problem: str) -> None:
    write_script(driver_dir, "Create", body + "\n")
    with pytest.raises(ResourceDriverError) as failed:
        driver.execute_lifecycle(make_request(driver_dir))
    assert failed.value.failure_code == "INTERNAL_ERROR"
    assert str(failed.value).startswith(f"scripts/Create.sh wrote an {problem}")


@pytest.mark.parametrize("where", ["request_properties", "resource_properties"])
def test_timeout_from_a_property(driver: ScriptDriver, driver_dir: Path, where: str) -> None:
    write_script(driver_dir, "Create", "sleep 30\n")
    fields: dict[str, Any] = {where: {"scriptTimeout": "0.5"}}
    request = make_request(driver_dir, **fields)
    with pytest.raises(ResourceDriverError, match=r"^scripts/Create.sh timed out after 0.5s$") \
            as failed:
        driver.execute_lifecycle(request)
    assert failed.value.failure_code == "INFRASTRUCTURE_ERROR"


def test_invalid_timeout_property(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Create", "true\n")
    with pytest.raises(ResourceDriverError, match="scriptTimeout") as failed:
        driver.execute_lifecycle(make_request(driver_dir, request_properties={
            "scriptTimeout": {"type": "string", "value": "soon"}}))
    assert failed.value.failure_code == "INTERNAL_ERROR"


def test_timeout_kills_what_ignores_sigterm(driver: ScriptDriver, driver_dir: Path) -> None:
    pid_file = driver_dir.parent / "pid"
    write_script(driver_dir, "Create",
                 f"trap '' TERM\nsleep 30 &\necho $! > {pid_file}\nwait\n")
    with pytest.raises(ResourceDriverError, match="timed out after 1s"):
        driver.execute_lifecycle(make_request(
            driver_dir, request_properties={"scriptTimeout": 1}))
    assert not alive(int(pid_file.read_text()))


def test_timeout_default_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                              driver_dir: Path) -> None:
    monkeypatch.setenv("NFVD_PLUGIN_SCRIPT_TIMEOUT", "0.3")
    write_script(driver_dir, "Create", "sleep 30\n")
    with pytest.raises(ResourceDriverError, match="timed out after 0.3s"):
        ScriptDriver().execute_lifecycle(make_request(driver_dir))


def test_cancel_stops_the_whole_process_group(driver: ScriptDriver, driver_dir: Path) -> None:
    pid_file = driver_dir.parent / "pid"
    write_script(driver_dir, "Create",
                 f"sleep 30 &\necho $! > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}\nwait\n")
    event = threading.Event()

    def cancel_once_started() -> None:
        wait_for(pid_file)
        event.set()

    canceller = threading.Thread(target=cancel_once_started)
    canceller.start()
    with pytest.raises(ResourceDriverError, match=r"^scripts/Create.sh cancelled$") as failed:
        driver.execute_lifecycle(make_request(driver_dir, cancelled=event.is_set))
    canceller.join()
    assert failed.value.failure_code == "INTERNAL_ERROR"
    assert not alive(int(pid_file.read_text()))


def test_already_cancelled_request_runs_nothing(driver: ScriptDriver, driver_dir: Path) -> None:
    marker = driver_dir.parent / "ran"
    write_script(driver_dir, "Create", f"touch {marker}\n")
    with pytest.raises(ResourceDriverError, match="cancelled"):
        driver.execute_lifecycle(make_request(driver_dir, cancelled=lambda: True))
    assert not marker.exists()


def test_background_processes_do_not_outlive_the_script(driver: ScriptDriver,
                                                        driver_dir: Path) -> None:
    pid_file = driver_dir.parent / "pid"
    write_script(driver_dir, "Create", f"sleep 30 &\necho $! > {pid_file}\n")
    driver.execute_lifecycle(make_request(driver_dir))
    assert not alive(int(pid_file.read_text()))


def test_lots_of_output(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Create", """
yes 0123456789abcdef | head -c 5000000
yes ERROR | head -c 5000000 >&2
echo the-end; echo the-end >&2
""")
    result = driver.execute_lifecycle(make_request(driver_dir))
    stdout, stderr = result.details["stdout"], result.details["stderr"]
    assert 0 < len(stdout) <= 64 * 1024 and stdout.endswith("the-end\n")
    assert stdout.startswith("0123456789abcdef\n")
    assert 0 < len(stderr) <= 64 * 1024 and stderr.endswith("the-end\n")
    assert stderr.startswith("ERROR\n")


@pytest.mark.parametrize("ending", ["exit 0", "exit 1", "sleep 30"])
def test_run_dir_is_removed(driver: ScriptDriver, driver_dir: Path, ending: str) -> None:
    record = driver_dir.parent / "run-dir"
    write_script(driver_dir, "Create", f"""
dirname "$NFVD_REQUEST_FILE" > {record}
echo data > "$TMPDIR/scratch"
echo '{{}}' > "$NFVD_OUTPUTS_FILE"
{ending}
""")
    request = make_request(driver_dir, request_properties={
        "scriptTimeout": 0.5, "k": {"type": "key", "keyName": "k", "privateKey": PRIVATE_KEY}})
    with contextlib.suppress(ResourceDriverError):
        driver.execute_lifecycle(request)
    run_dir = record.read_text().strip()
    assert run_dir and not os.path.exists(run_dir)
    # inside the driver directory, which nfvd removes even after a crash
    assert os.path.dirname(run_dir) == str(driver_dir)


def test_find_reference_found(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "FindReference", """
[ "$NFVD_LIFECYCLE" = FindReference ] || exit 9
echo "id-$NFVD_INSTANCE_NAME-$NFVD_DL_region" > "$NFVD_RESOURCE_ID_FILE"
printf '{"%s": {"id": "x1", "type": "VM"}}' "$NFVD_INSTANCE_NAME" > "$NFVD_TOPOLOGY_FILE"
echo '{"ip": "10.1.1.1"}' > "$NFVD_OUTPUTS_FILE"
""")
    found = driver.find_reference(FindReferenceRequest(
        instance_name="vm7", deployment_location={"name": "dl1", "type": "Script",
                                                  "properties": {"region": "eu-1"}},
        driver_dir=str(driver_dir)))
    assert found is not None
    assert found.resource_id == "id-vm7-eu-1"
    assert found.associated_topology == {"vm7": {"id": "x1", "type": "VM"}}
    assert found.outputs == {"ip": "10.1.1.1"}


@pytest.mark.parametrize("body", ["true", "printf '  \\n' > \"$NFVD_RESOURCE_ID_FILE\""])
def test_find_reference_not_found(driver: ScriptDriver, driver_dir: Path, body: str) -> None:
    write_script(driver_dir, "FindReference", body + "\n")
    assert driver.find_reference(FindReferenceRequest(
        instance_name="vm7", deployment_location={"name": "dl1"},
        driver_dir=str(driver_dir))) is None


def test_find_reference_without_a_script(driver: ScriptDriver, driver_dir: Path) -> None:
    location = {"name": "dl1", "type": "Script"}
    assert driver.find_reference(FindReferenceRequest("vm7", location, str(driver_dir))) is None
    assert driver.find_reference(FindReferenceRequest("vm7", location, None)) is None


def test_find_reference_failure(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "FindReference",
                 'echo "cannot log in as admin/$NFVD_DL_password" >&2\nexit 2\n')
    with pytest.raises(ResourceDriverError) as failed:
        driver.find_reference(FindReferenceRequest(
            instance_name="vm7", driver_dir=str(driver_dir),
            deployment_location={"name": "dl1", "properties": {"password": "cl0ud-pw"}}))
    assert failed.value.failure_code == "INFRASTRUCTURE_ERROR"
    assert str(failed.value) == (
        "scripts/FindReference.sh exited with status 2: cannot log in as admin/****")


def test_rollback_runs_its_script(driver: ScriptDriver, driver_dir: Path) -> None:
    marker = driver_dir.parent / "rolled-back"
    write_script(driver_dir, "RollbackCreate", f'echo "$NFVD_LIFECYCLE" > {marker}\n')
    driver.rollback_lifecycle(make_request(driver_dir))
    assert marker.read_text() == "Create\n"


def test_rollback_without_a_script(driver: ScriptDriver, driver_dir: Path) -> None:
    with pytest.raises(NotImplementedError, match="scripts/RollbackCreate.sh"):
        driver.rollback_lifecycle(make_request(driver_dir))
    with pytest.raises(NotImplementedError, match="scripts/RollbackCreate.sh"):
        driver.rollback_lifecycle(make_request(None))


def test_infrastructure_types(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ScriptDriver().infrastructure_types == ("Script",)
    monkeypatch.setenv("NFVD_PLUGIN_SCRIPT_TYPES", "Script, Ansible,")
    assert ScriptDriver().infrastructure_types == ("Script", "Ansible")
    assert ScriptDriver.infrastructure_types == ("Script",)


@pytest.mark.parametrize(("variable", "value"), [
    ("NFVD_PLUGIN_SCRIPT_TIMEOUT", "ten"),
    ("NFVD_PLUGIN_SCRIPT_TIMEOUT", "0"),
    ("NFVD_PLUGIN_SCRIPT_FIND_TIMEOUT", "-1"),
    ("NFVD_PLUGIN_SCRIPT_KILL_GRACE", "nan"),
    ("NFVD_PLUGIN_SCRIPT_TYPES", " , "),
])
def test_bad_settings_fail_the_constructor(monkeypatch: pytest.MonkeyPatch, variable: str,
                                           value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        ScriptDriver()
