"""The script driver (nfvd-driver-script, installed beside the core) behind the resource API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from fixtures.brent import EXECUTE, FIND, FIND_SCRIPT, ExecutionEvents, execute_body
from fixtures.servers import ThreadServer
from sqlalchemy import select

from framework.store.tables import outbox_refused

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
#: outputs of about NFVD_PROP_size bytes
LARGE = """\
printf '{"blob": "%s"}' "$(head -c "$NFVD_PROP_size" /dev/zero | tr '\\0' x)" \\
    > "$NFVD_OUTPUTS_FILE"
"""
FILES = {"scripts/Create.sh": CREATE, "scripts/Install.sh": FAIL,
         "scripts/FindReference.sh": FIND_SCRIPT, "scripts/Configure.sh": LARGE}


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


def _size(size: int) -> dict[str, Any]:
    return {"resourceProperties": {"size": {"type": "integer", "value": size}}}


def test_outputs_over_the_limit_fail_the_execution_and_the_next_ones_go_on(
        server: ThreadServer, events: ExecutionEvents) -> None:
    """Over driver_result_max_bytes (256 KiB by default) a result is refused by the framework,
    whatever the driver: the execution fails with INTERNAL_ERROR saying why, instead of a
    completion message Kafka may never take."""
    request_id = _execute(server, "Configure", **_size(300_000))
    failed = events.terminal(request_id)
    assert failed["status"] == "FAILED", failed
    assert failed["failureDetails"]["failureCode"] == "INTERNAL_ERROR"
    assert failed["failureDetails"]["description"] == (
        "driver 'script' returned outputs and associatedTopology of 300047 bytes as compact "
        "JSON, more than the limit of 262144 (setting driver_result_max_bytes)")
    within = events.terminal(_execute(server, "Configure", **_size(200_000)))
    assert within["status"] == "COMPLETE" and len(within["outputs"]["blob"]) == 200_000
    assert events.terminal(_execute(server, "Create"))["status"] == "COMPLETE"


def test_a_completion_kafka_refuses_is_set_aside_and_later_ones_still_arrive(
        serve: Callable[..., ThreadServer], settings_factory: Callable[..., Any],
        kafka_broker: Any, kafka_consumer: Any) -> None:
    """With the limit raised past what the producer sends (message.max.bytes, 1,000,000),
    the COMPLETE message of a large result is refused by Kafka: the relay sets it aside with
    an alarm, and the messages after it still go out."""
    topic = f"brent-{uuid.uuid4().hex[:8]}"
    server = serve(settings_factory(driver_result_max_bytes=2 * 1024 * 1024,
                                    execution_events_topic=topic))
    reader = ExecutionEvents(kafka_broker.bootstrap_servers, topic=topic)
    try:
        refused = _execute(server, "Configure", **_size(1_000_000))
        later = _execute(server, "Create")
        assert reader.terminal(later)["status"] == "COMPLETE"
        assert reader.terminals(refused) == []
    finally:
        reader.close()
    [alarm] = kafka_consumer("nfvd_alarms", 1, key=topic)
    event = json.loads(alarm.value())
    assert event["alarm"] == "kafka-message-refused" and event["keptIn"] == "outbox_refused"
    assert "Message size too large" in event["reason"]
    store = server.runtime.store
    assert store is not None
    with store.connect(read_only=True) as conn:
        kept = conn.execute(select(outbox_refused)).one()
    assert (kept.id, kept.key) == (event["outboxId"], refused)
    assert json.loads(kept.payload)["status"] == "COMPLETE"
    operation = requests.get(f"{server.url}/api/lcm/operations/{refused}", timeout=5).json()
    assert operation["state"] == "COMPLETED"  # nfvd keeps the outputs Brent was not sent
