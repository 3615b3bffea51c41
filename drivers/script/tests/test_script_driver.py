"""ScriptDriver against real scripts run by /bin/sh in a driver directory under tmp_path."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from framework import (
    FindReferenceRequest,
    LifecycleRequest,
    ResourceDriver,
    ResourceDriverError,
)

from nfvd_driver_script import ScriptDriver

PRIVATE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
               "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
               "QyNTUxOQAAACBmYWtlLWtleS1mb3ItdGVzdHMtb25seS1ub3QtcmVhbAAAAJgAAAAAAAAA\n"
               "-----END OPENSSH PRIVATE KEY-----")
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uta2V5 vm-key"

# Run by the scripts as "$PY" dump.py OUT: records what the script saw, since the run
# directory is gone by the time the driver returns.
DUMP_PY = """
import json, os, stat, sys
env = dict(os.environ)
files = {}
for name, path in env.items():
    if name == "NFVD_REQUEST_FILE" or name.startswith("NFVD_KEYFILE_"):
        for p in (path, path + ".pub"):
            if os.path.exists(p):
                files[p] = {"mode": stat.S_IMODE(os.stat(p).st_mode), "text": open(p).read()}
seen = {"env": env, "cwd": os.getcwd(), "files": files,
        "tmpdir": os.path.isdir(env["TMPDIR"]) and os.access(env["TMPDIR"], os.W_OK)}
json.dump(seen, open(sys.argv[1], "w"))
"""


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> ScriptDriver:
    monkeypatch.setenv("NFVD_PLUGIN_SCRIPT_KILL_GRACE", "0.5")
    return ScriptDriver()


@pytest.fixture
def driver_dir(tmp_path: Path) -> Path:
    (tmp_path / "driver" / "scripts").mkdir(parents=True)
    (tmp_path / "dump.py").write_text(DUMP_PY)
    return tmp_path / "driver"


def write_script(driver_dir: Path, name: str, body: str) -> None:
    """A script as a package would ship it, without the exec bit."""
    path = driver_dir / "scripts" / f"{name}.sh"
    path.write_text(body)
    path.chmod(0o644)


def dump(driver_dir: Path) -> str:
    """Shell code that records the script's view in dump.json beside the driver dir."""
    return f'"{sys.executable}" "{driver_dir.parent / "dump.py"}" "{driver_dir.parent}/dump.json"\n'


def seen(driver_dir: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((driver_dir.parent / "dump.json").read_text())
    return result


def make_request(driver_dir: Path | None, lifecycle: str = "Create",
                 **fields: Any) -> LifecycleRequest:
    values: dict[str, Any] = {
        "system_properties": {"resourceId": {"type": "string", "value": "r-1"},
                              "resourceName": {"type": "string", "value": "vm1"}},
        "deployment_location": {"name": "dl1", "type": "Script",
                                "properties": {"region": "eu-1"}},
        "request_id": "req-1",
        "driver_dir": str(driver_dir) if driver_dir else None}
    values.update(fields)
    return LifecycleRequest(lifecycle_name=lifecycle, **values)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def wait_for(path: Path) -> None:
    for _ in range(500):
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def test_is_a_resource_driver_registered_as_script() -> None:
    assert issubclass(ScriptDriver, ResourceDriver)
    assert entry_points(group="nfvd.resource_drivers")["script"].load() is ScriptDriver


def test_outputs_topology_and_details(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Create", """
echo '{"ip": "10.0.0.5", "ports": [22, 80]}' > "$NFVD_OUTPUTS_FILE"
echo '{"vm1": {"id": "abc", "type": "VM"}, "old": null}' > "$NFVD_TOPOLOGY_FILE"
echo created; echo careful >&2
""")
    result = driver.execute_lifecycle(make_request(driver_dir))
    assert result.outputs == {"ip": "10.0.0.5", "ports": [22, 80]}
    assert result.associated_topology == {"vm1": {"id": "abc", "type": "VM"}, "old": None}
    assert result.details["exitCode"] == 0
    assert result.details["stdout"] == "created\n"
    assert result.details["stderr"] == "careful\n"
    assert isinstance(result.details["durationSeconds"], float)


def test_no_files_written_means_empty_outputs(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Install", "true\n")
    result = driver.execute_lifecycle(make_request(driver_dir, "Install"))
    assert (result.outputs, result.associated_topology) == ({}, {})


def test_environment(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Create", dump(driver_dir))
    driver.execute_lifecycle(make_request(
        driver_dir, tenant_id="t-9",
        system_properties={"resourceName": "vm1", "flavor": {"type": "string", "value": "a"}},
        resource_properties={"flavor": {"type": "string", "value": "b"},
                             "count": {"type": "integer", "value": 3},
                             "tags": {"type": "list", "value": ["x", "y"]},
                             "meta-data.v2": {"type": "map", "value": {"k": 1}},
                             "enabled": {"type": "boolean", "value": True},
                             "nothing": {"type": "string", "value": None}},
        request_properties={"flavor": {"type": "string", "value": "c"}},
        deployment_location={"name": "dl1", "type": "Script",
                             "properties": {"region": "eu-1", "api-url": "http://x",
                                            "zones": ["a", "b"]}}))
    view = seen(driver_dir)
    env = view["env"]
    assert env["NFVD_PROP_resourceName"] == "vm1"
    assert env["NFVD_PROP_flavor"] == "c"
    assert env["NFVD_PROP_count"] == "3"
    assert env["NFVD_PROP_tags"] == '["x","y"]'
    assert env["NFVD_PROP_meta_data_v2"] == '{"k":1}'
    assert env["NFVD_PROP_enabled"] == "true"
    assert env["NFVD_PROP_nothing"] == ""
    assert env["NFVD_LIFECYCLE"] == "Create"
    assert env["NFVD_REQUEST_ID"] == "req-1"
    assert env["NFVD_TENANT_ID"] == "t-9"
    assert env["NFVD_DEPLOYMENT_LOCATION"] == "dl1"
    assert env["NFVD_DEPLOYMENT_LOCATION_TYPE"] == "Script"
    assert env["NFVD_DL_region"] == "eu-1"
    assert env["NFVD_DL_api_url"] == "http://x"
    assert env["NFVD_DL_zones"] == '["a","b"]'
    assert os.path.realpath(view["cwd"]) == os.path.realpath(driver_dir)
    run_dir = os.path.dirname(env["NFVD_REQUEST_FILE"])
    assert view["tmpdir"] and os.path.dirname(env["TMPDIR"]) == run_dir
    for name in ("NFVD_OUTPUTS_FILE", "NFVD_TOPOLOGY_FILE", "NFVD_FAILURE_FILE"):
        assert os.path.dirname(env[name]) == run_dir
    assert not os.path.exists(run_dir)


def test_nfvd_environment_does_not_reach_scripts(driver: ScriptDriver, driver_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NFVD_AUTH_BASIC_PASSWORD", "admin-pass-123")
    monkeypatch.setenv("NFVD_STORE_URL", "postgresql://nfvd:pw@db/nfvd")
    monkeypatch.setenv("SOME_RANDOM_VARIABLE", "x")
    monkeypatch.setenv("LANG", "C.UTF-8")
    write_script(driver_dir, "Create", dump(driver_dir))
    driver.execute_lifecycle(make_request(driver_dir))
    env = seen(driver_dir)["env"]
    assert env["LANG"] == "C.UTF-8"
    assert env["PATH"] == os.environ["PATH"]
    assert "NFVD_TENANT_ID" not in env
    # What the shell and Python add of their own may appear; nothing else from nfvd's.
    own = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "PWD", "OLDPWD", "SHLVL", "_"}
    assert [name for name in os.environ if name in env and name not in own] == []
    assert "admin-pass-123" not in json.dumps(env)


def test_key_property_goes_to_a_private_file(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Create", dump(driver_dir))
    key = {"type": "key", "keyName": "vm-key", "privateKey": PRIVATE_KEY,
           "publicKey": PUBLIC_KEY}
    driver.execute_lifecycle(make_request(driver_dir, request_properties={"ssh-key": key}))
    view = seen(driver_dir)
    env = view["env"]
    assert env["NFVD_PROP_ssh_key"] == "vm-key"
    key_file = env["NFVD_KEYFILE_ssh_key"]
    assert key_file.endswith("/keys/ssh_key")
    assert view["files"][key_file] == {"mode": 0o600, "text": PRIVATE_KEY + "\n"}
    assert view["files"][key_file + ".pub"]["text"] == PUBLIC_KEY
    request_file = view["files"][env["NFVD_REQUEST_FILE"]]
    assert request_file["mode"] == 0o600
    for line in PRIVATE_KEY.splitlines():
        assert line not in json.dumps(env)
        assert line not in request_file["text"]
    body = json.loads(request_file["text"])
    assert body["requestProperties"]["ssh-key"] == {**key, "privateKey": key_file}


def test_request_file(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Create", dump(driver_dir))
    request = make_request(driver_dir, tenant_id="t-1",
                           resource_properties={"size": 2},
                           request_properties={"mode": {"type": "string", "value": "fast"}},
                           associated_topology={"net": {"id": "n1", "type": "Network"}})
    driver.execute_lifecycle(request)
    env = seen(driver_dir)["env"]
    body = json.loads(seen(driver_dir)["files"][env["NFVD_REQUEST_FILE"]]["text"])
    assert body == {
        "lifecycleName": "Create", "requestId": "req-1", "tenantId": "t-1",
        "systemProperties": request.system_properties,
        "resourceProperties": {"size": {"type": "string", "value": 2}},
        "requestProperties": {"mode": {"type": "string", "value": "fast"}},
        "associatedTopology": {"net": {"id": "n1", "type": "Network"}},
        "deploymentLocation": request.deployment_location}


def test_failure_carries_the_end_of_stderr_with_secrets_masked(
        driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Create", """
i=1
while [ $i -le 30 ]; do echo "line $i" >&2; i=$((i + 1)); done
echo "login with $NFVD_PROP_adminPassword and $NFVD_PROP_vault" >&2
echo "token $NFVD_PROP_apiToken, cloud $NFVD_DL_os_password" >&2
cat "$NFVD_KEYFILE_key" >&2
exit 3
""")
    with pytest.raises(ResourceDriverError) as failed:
        driver.execute_lifecycle(make_request(
            driver_dir,
            resource_properties={"adminPassword": {"type": "string", "value": "hunter2hunter"},
                                 "vault": {"type": "password", "value": "v4ult-s3cret"},
                                 "apiToken": "tok-0123456789",
                                 "key": {"type": "key", "keyName": "k",
                                         "privateKey": PRIVATE_KEY}},
            deployment_location={"name": "dl1", "type": "Script",
                                 "properties": {"os_password": "cloud-pw-42"}}))
    message = str(failed.value)
    assert failed.value.failure_code == "INFRASTRUCTURE_ERROR"
    assert message.startswith("scripts/Create.sh exited with status 3: ")
    assert "line 30" in message and "line 10\n" not in message
    for secret in ("hunter2hunter", "v4ult-s3cret", "tok-0123456789", "cloud-pw-42",
                   *PRIVATE_KEY.splitlines()):
        assert secret not in message
    assert "login with **** and ****" in message


def test_secrets_masked_in_details(driver: ScriptDriver, driver_dir: Path) -> None:
    password = 'pa"ss\\word'
    write_script(driver_dir, "Create", 'printf "pw=%s\\n" "$NFVD_PROP_dbPassword"\n'
                 'cat "$NFVD_REQUEST_FILE" >&2\n')
    result = driver.execute_lifecycle(make_request(
        driver_dir, request_properties={"dbPassword": password}))
    assert result.details["stdout"] == "pw=****\n"
    assert json.dumps(password)[1:-1] not in result.details["stderr"]
    assert '"value": "****"' in result.details["stderr"]


@pytest.mark.parametrize(("failure", "code", "message"), [
    ({"failureCode": "RESOURCE_ALREADY_EXISTS", "description": "vm1 exists"},
     "RESOURCE_ALREADY_EXISTS", "vm1 exists"),
    ({"failureCode": "RESOURCE_NOT_FOUND"}, "RESOURCE_NOT_FOUND",
     "scripts/Create.sh exited with status 1: gone"),
    ({"failureCode": "NO_SUCH_CODE", "description": "odd"}, "INFRASTRUCTURE_ERROR",
     "odd (unknown failureCode 'NO_SUCH_CODE')"),
    (["not", "an", "object"], "INFRASTRUCTURE_ERROR",
     "scripts/Create.sh exited with status 1: gone"),
])
def test_failure_file_chooses_the_code(driver: ScriptDriver, driver_dir: Path, failure: Any,
                                       code: str, message: str) -> None:
    write_script(driver_dir, "Create",
                 f"echo '{json.dumps(failure)}' > \"$NFVD_FAILURE_FILE\"\necho gone >&2\nexit 1\n")
    with pytest.raises(ResourceDriverError) as failed:
        driver.execute_lifecycle(make_request(driver_dir))
    assert (failed.value.failure_code, str(failed.value)) == (code, message)


def test_secrets_masked_in_script_chosen_descriptions(driver: ScriptDriver,
                                                     driver_dir: Path) -> None:
    properties = {"rootPassword": "r00t-pw-99"}
    write_script(driver_dir, "Create", """
printf '{"failureCode": "INTERNAL_ERROR", "description": "bad %s"}' "$NFVD_PROP_rootPassword" \\
    > "$NFVD_FAILURE_FILE"
exit 1
""")
    with pytest.raises(ResourceDriverError, match=r"^bad \*\*\*\*$"):
        driver.execute_lifecycle(make_request(driver_dir, request_properties=properties))
    write_script(driver_dir, "Create", """
printf '{"%s": {"id": 1}}' "$NFVD_PROP_rootPassword" > "$NFVD_TOPOLOGY_FILE"
""")
    with pytest.raises(ResourceDriverError, match=r"entry '\*\*\*\*' is neither"):
        driver.execute_lifecycle(make_request(driver_dir, request_properties=properties))


def test_killed_by_a_signal(driver: ScriptDriver, driver_dir: Path) -> None:
    write_script(driver_dir, "Create", "kill -KILL $$\n")
    with pytest.raises(ResourceDriverError, match=r"^scripts/Create.sh was killed by SIGKILL$"):
        driver.execute_lifecycle(make_request(driver_dir))


def test_missing_script(driver: ScriptDriver, driver_dir: Path) -> None:
    with pytest.raises(ResourceDriverError) as failed:
        driver.execute_lifecycle(make_request(driver_dir, "Start"))
    assert failed.value.failure_code == "INTERNAL_ERROR"
    assert "'Start'" in str(failed.value) and "scripts/Start.sh" in str(failed.value)


def test_no_driver_files(driver: ScriptDriver) -> None:
    with pytest.raises(ResourceDriverError, match="no driver files") as failed:
        driver.execute_lifecycle(make_request(None))
    assert failed.value.failure_code == "INTERNAL_ERROR"


@pytest.mark.parametrize("name", ["../x", ".hidden", "a/b", "", "x y", "Create.sh\n"])
def test_invalid_lifecycle_names(driver: ScriptDriver, driver_dir: Path, name: str) -> None:
    with pytest.raises(ResourceDriverError, match="not a valid script name") as failed:
        driver.execute_lifecycle(make_request(driver_dir, name))
    assert failed.value.failure_code == "INTERNAL_ERROR"


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
