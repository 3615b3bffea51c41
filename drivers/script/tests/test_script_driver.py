"""ScriptDriver against real scripts run by /bin/sh in a driver directory under tmp_path."""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from framework import ResourceDriver, ResourceDriverError
from script_cases import PRIVATE_KEY, PUBLIC_KEY, dump, make_request, seen, write_script

from nfvd_driver_script import ScriptDriver


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
