"""Lifecycle operations over real HTTP and Kafka: create, inspect, control, events, intake."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from confluent_kafka import Producer
from fixtures.brent import assert_driver_bug
from fixtures.servers import ThreadServer

SCHEMAS = Path(__file__).resolve().parent.parent / "specs" / "schemas"
PROBLEM = "application/problem+json"


def body(name: str, lifecycle: str = "Create", **request_properties: Any) -> dict[str, Any]:
    return {"driver": "fake", "lifecycleName": lifecycle,
            "systemProperties": {"resourceName": {"type": "string", "value": name}},
            "requestProperties": {k: {"type": "string", "value": str(v)}
                                  for k, v in request_properties.items()},
            "deploymentLocation": {"name": "lab", "type": "Fake", "properties": {}}}


def named(server: ThreadServer, name: str, timeout: float = 0.0) -> list[dict[str, Any]]:
    """The operations whose resourceName is ``name``; waits up to ``timeout`` for one."""
    deadline = time.monotonic() + timeout
    while True:
        ops = requests.get(f"{server.url}/api/lcm/operations", timeout=5).json()["operations"]
        found = [o for o in ops if o.get("request", {}).get("systemProperties", {})
                 .get("resourceName", {}).get("value") == name]
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.1)


def wait_state(server: ThreadServer, op_id: str, *states: str,
               timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        op: dict[str, Any] = requests.get(f"{server.url}/api/lcm/operations/{op_id}",
                                          timeout=5).json()
        if op["state"] in states:
            return op
        if time.monotonic() > deadline:
            raise AssertionError(f"operation stayed {op['state']}, wanted {states}: {op}")
        time.sleep(0.02)


@pytest.fixture
def server(serve: Callable[..., ThreadServer]) -> ThreadServer:
    return serve()


def test_create_runs_to_completion(server: ThreadServer) -> None:
    created = requests.post(f"{server.url}/api/lcm/operations", json=body("vm-1"), timeout=5)
    assert created.status_code == 201, created.text
    op = created.json()
    assert op["kind"] == "resource.lifecycle"
    assert op["tasks"][0]["type"] == "fake:lifecycle"
    done = wait_state(server, op["id"], "COMPLETED")
    assert done["solState"] == "COMPLETED"
    task = done["tasks"][0]
    assert task["state"] == "SUCCEEDED" and task["attempt"] == 1
    assert task["result"]["outputs"] == {"lifecycle": "Create"}
    assert task["sideEffects"] == [{"lifecycle": "Create", "requestId": f"{op['id']}:Create"}]
    listed = requests.get(f"{server.url}/api/lcm/operations?state=COMPLETED", timeout=5).json()
    assert op["id"] in [o["id"] for o in listed["operations"]]


def test_same_idempotency_key_makes_one_operation(server: ThreadServer) -> None:
    request = {**body("vm-2"), "idempotencyKey": "so-request-42"}
    first = requests.post(f"{server.url}/api/lcm/operations", json=request, timeout=5)
    second = requests.post(f"{server.url}/api/lcm/operations", json=request, timeout=5)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]


def test_driver_failure_then_rollback(server: ThreadServer) -> None:
    op = requests.post(f"{server.url}/api/lcm/operations",
                       json=body("vm-3", fakeFailure="INSUFFICIENT_CAPACITY"), timeout=5).json()
    failed = wait_state(server, op["id"], "FAILED_TEMP")
    assert "INSUFFICIENT_CAPACITY" in failed["tasks"][0]["error"]
    refused = requests.post(f"{server.url}/api/lcm/operations/{op['id']}/resume", timeout=5)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    rolled = requests.post(f"{server.url}/api/lcm/operations/{op['id']}/rollback", timeout=5)
    assert rolled.status_code == 200
    final = wait_state(server, op["id"], "ROLLED_BACK")
    assert final["solState"] == "ROLLED_BACK"


def test_plan_and_dry_run(server: ThreadServer) -> None:
    dry = requests.post(f"{server.url}/api/lcm/plan", json=body("vm-4"), timeout=5)
    assert dry.status_code == 200, dry.text
    assert [t["name"] for t in dry.json()["tasks"]] == ["Create"]
    assert requests.get(f"{server.url}/api/lcm/operations", timeout=5).json()["operations"] == []
    assert dry.json()["rollbackOrder"] == ["Create"]
    op = requests.post(f"{server.url}/api/lcm/operations", json=body("vm-4"), timeout=5).json()
    wait_state(server, op["id"], "COMPLETED")  # now its side effect is there to compensate
    plan = requests.get(f"{server.url}/api/lcm/operations/{op['id']}/plan", timeout=5)
    assert plan.status_code == 200
    assert plan.json()["rollbackOrder"] == ["Create"]


@pytest.mark.parametrize(("request_body", "detail"), [
    ({"driver": "nope", "lifecycleName": "Create"}, "no resource driver named 'nope'"),
    ({"lifecycleName": "Create"}, "'driver' is a required property"),
    ({"driver": "fake", "lifecycleName": "Create", "extra": 1}, "Additional properties"),
])
def test_bad_requests_are_400(server: ThreadServer, request_body: dict[str, Any],
                              detail: str) -> None:
    response = requests.post(f"{server.url}/api/lcm/operations", json=request_body, timeout=5)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]


def test_unknown_operation_is_404(server: ThreadServer) -> None:
    for path in ("", "/plan"):
        response = requests.get(f"{server.url}/api/lcm/operations/nope{path}", timeout=5)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
    response = requests.post(f"{server.url}/api/lcm/operations/nope/pause", timeout=5)
    assert response.status_code == 404


def test_pause_and_resume(server: ThreadServer) -> None:
    op = requests.post(f"{server.url}/api/lcm/operations", json=body("vm-5", fakeDelay=1),
                       timeout=5).json()
    paused = requests.post(f"{server.url}/api/lcm/operations/{op['id']}/pause", timeout=5)
    assert paused.status_code == 200 and paused.json()["state"] == "PAUSED"
    again = requests.post(f"{server.url}/api/lcm/operations/{op['id']}/pause", timeout=5)
    assert again.status_code == 200  # idempotent
    requests.post(f"{server.url}/api/lcm/operations/{op['id']}/resume", timeout=5)
    assert wait_state(server, op["id"], "COMPLETED")["state"] == "COMPLETED"


def test_events_on_kafka_equal_the_stored_transitions(server: ThreadServer,
                                                      kafka_consumer: Any) -> None:
    schema = json.loads((SCHEMAS / "lcm-event.json").read_text())
    op = requests.post(f"{server.url}/api/lcm/operations", json=body("vm-6"), timeout=5).json()
    wait_state(server, op["id"], "COMPLETED")
    messages = kafka_consumer("nfvd_lcm_events", 4, key=op["id"], timeout=15)
    events = [json.loads(m.value()) for m in messages]
    for event in events:
        jsonschema.validate(event, schema)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    task_moves = [(e["from"], e["to"]) for e in events if e["entity"] == "task"]
    assert task_moves[:2] == [("PENDING", "RUNNING"), ("RUNNING", "SUCCEEDED")]
    assert events[-1]["entity"] == "operation" and events[-1]["to"] == "COMPLETED"


def test_kafka_request_delivered_twice_makes_one_operation(server: ThreadServer,
                                                           kafka_broker: Any) -> None:
    key = f"kafka-{uuid.uuid4().hex[:8]}"
    request = json.dumps({**body("vm-7"), "idempotencyKey": key}).encode()
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for _ in range(2):
        producer.produce("nfvd_lcm_requests", request, key=key)
    producer.produce("nfvd_lcm_requests", b"{not json", key="garbage")
    producer.flush(10)
    assert named(server, "vm-7", timeout=20)
    time.sleep(1)  # the second copy has had time to arrive too
    mine = named(server, "vm-7")
    assert len(mine) == 1
    assert wait_state(server, mine[0]["id"], "COMPLETED")["state"] == "COMPLETED"


def test_a_kafka_request_nested_too_deeply_is_skipped_not_read_forever(
        server: ThreadServer, kafka_broker: Any) -> None:
    key = f"kafka-{uuid.uuid4().hex[:8]}"  # one key: one partition, the poison first
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    producer.produce("nfvd_lcm_requests", b"[" * 1500 + b"]" * 1500, key=key)
    deep: Any = "leaf"
    for _ in range(100):
        deep = [deep]
    deeper = {**body("vm-deeper"), "idempotencyKey": key + "-deeper"}
    deeper["requestProperties"] = {"p": {"type": "list", "value": deep}}  # valid but for depth
    producer.produce("nfvd_lcm_requests", json.dumps(deeper).encode(), key=key)
    producer.produce("nfvd_lcm_requests",
                     json.dumps({**body("vm-deep"), "idempotencyKey": key}).encode(), key=key)
    producer.flush(10)
    assert len(named(server, "vm-deep", timeout=20)) == 1, \
        "the requests behind the nested ones were not read"
    assert not named(server, "vm-deeper")



def test_a_kafka_request_the_driver_cannot_plan_is_skipped_with_an_alarm(
        server: ThreadServer, kafka_broker: Any, kafka_consumer: Any) -> None:
    """A driver whose plan raises fails the same way on every read: after a few attempts
    the message is skipped and reported, and the requests behind it are taken."""
    key = f"kafka-{uuid.uuid4().hex[:8]}"  # one key: one partition, the poison first
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    producer.produce("nfvd_lcm_requests", json.dumps({
        **body("vm-unplanned", fakePlanError="yes"), "idempotencyKey": key + "-bug"}).encode(),
        key=key)
    producer.produce("nfvd_lcm_requests", json.dumps({
        **body("vm-behind"), "idempotencyKey": key}).encode(), key=key)
    producer.flush(10)
    assert len(named(server, "vm-behind", timeout=30)) == 1, \
        "the request behind the one that cannot be planned was not read"
    alarms = [json.loads(m.value()) for m in kafka_consumer("nfvd_alarms", 1,
                                                            key="nfvd_lcm_requests")]
    assert [(a["alarm"], a["attempts"], a["error"]) for a in alarms] == \
        [("kafka-request-skipped", 5, "DriverFailed")]
    assert server.runtime.intake is not None and server.runtime.intake.skipped == 1


def test_an_http_request_the_driver_cannot_plan_is_the_drivers_failure(
        server: ThreadServer, caplog: pytest.LogCaptureFixture) -> None:
    response = requests.post(f"{server.url}/api/lcm/operations",
                             json=body("vm-bug", fakePlanError="yes"), timeout=10)
    assert_driver_bug(response, "plan", caplog.records, "injected", "RuntimeError")
