"""The script driver (nfvd-driver-script, installed beside the core) behind the resource API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from fixtures.brent import EXECUTE, FIND, FIND_SCRIPT, ExecutionEvents, execute_body
from fixtures.servers import ThreadServer

CREATE = """\
set -e
test -f "$NFVD_REQUEST_FILE"
printf '{"address": "10.0.0.%s", "flavor": "%s"}' "$NFVD_PROP_index" "$NFVD_PROP_flavor" \\
    > "$NFVD_OUTPUTS_FILE"
printf '{"vm-%s": {"id": "%s", "type": "VM"}}' "$NFVD_PROP_index" "$NFVD_REQUEST_ID" \\
    > "$NFVD_TOPOLOGY_FILE"
"""
FAIL = """\
echo "connecting to $NFVD_DL_host as admin" >&2
echo "login refused for password $NFVD_PROP_adminPassword" >&2
exit 3
"""
FILES = {"scripts/Create.sh": CREATE, "scripts/Install.sh": FAIL,
         "scripts/FindReference.sh": FIND_SCRIPT}


@pytest.fixture
def server(serve: Callable[..., ThreadServer]) -> ThreadServer:
    return serve()


def _execute(server: ThreadServer, lifecycle: str, **fields: Any) -> str:
    body = execute_body(lifecycle, location_type="Script", files=FILES, **fields)
    response = requests.post(server.url + EXECUTE, json=body, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["requestId"])


def test_script_outputs_and_topology_reach_kafka(server: ThreadServer,
                                                 events: ExecutionEvents) -> None:
    request_id = _execute(server, "Create", resourceProperties={
        "index": {"type": "integer", "value": 7}, "flavor": "m1.small"})
    done = events.terminal(request_id)
    assert done["status"] == "COMPLETE", done
    assert done["outputs"] == {"address": "10.0.0.7", "flavor": "m1.small"}
    assert done["associatedTopology"] == {"vm-7": {"id": request_id, "type": "VM"}}
    task = requests.get(f"{server.url}/api/lcm/operations/{request_id}",
                        timeout=5).json()["tasks"][0]
    assert task["result"]["details"]["exitCode"] == 0  # the script's run is kept with the task


def test_failing_script_is_an_infrastructure_error_with_stderr_and_no_secret(
        server: ThreadServer, events: ExecutionEvents) -> None:
    request_id = _execute(server, "Install", deploymentLocation={
        "name": "lab", "type": "Script", "properties": {"host": "cloud.example"}},
        resourceProperties={"adminPassword": {"type": "password", "value": "s3cr3t-Pa55"}})
    failed = events.terminal(request_id)
    details = failed["failureDetails"]
    assert failed["status"] == "FAILED" and details["failureCode"] == "INFRASTRUCTURE_ERROR"
    assert "scripts/Install.sh exited with status 3" in details["description"]
    assert "connecting to cloud.example as admin" in details["description"]
    assert "s3cr3t-Pa55" not in details["description"]
    operation = requests.get(f"{server.url}/api/lcm/operations/{request_id}", timeout=5).json()
    assert "exited with status 3" in operation["tasks"][0]["error"]
    assert "s3cr3t-Pa55" not in operation["tasks"][0]["error"] + operation["error"]


def test_missing_script_is_an_internal_error_naming_the_lifecycle(
        server: ThreadServer, events: ExecutionEvents) -> None:
    failed = events.terminal(_execute(server, "Upgrade"))
    assert failed["failureDetails"]["failureCode"] == "INTERNAL_ERROR"
    assert "'Upgrade'" in failed["failureDetails"]["description"]
    assert "scripts/Upgrade.sh" in failed["failureDetails"]["description"]


def test_find_reference_runs_the_find_script(server: ThreadServer) -> None:
    body = execute_body("Create", location_type="Script", files=FILES)
    find = {"driverFiles": body["driverFiles"], "deploymentLocation": body["deploymentLocation"]}
    found = requests.post(server.url + FIND, json={**find, "instanceName": "known"}, timeout=10)
    assert found.status_code == 200, found.text
    assert found.json() == {"result": {"resourceId": "res-1", "outputs": {"cidr": "10.1.0.0/24"},
                                       "associatedTopology": {"net": {"id": "n-1",
                                                                      "type": "Network"}}}}
    missing = requests.post(server.url + FIND, json={**find, "instanceName": "other"}, timeout=10)
    assert missing.json() == {"result": None}
