"""Executions survive a killed server and a Kafka outage: one terminal message each, always."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import requests
from fixtures.brent import EXECUTE, ExecutionEvents, execute_body
from fixtures.kafka import free_port
from fixtures.servers import ServeProcess

from framework.messaging import EmbeddedBroker

Start = Callable[..., ServeProcess]
SLOW_CREATE = """\
sleep 1
echo '{"done": "yes"}' > "$NFVD_OUTPUTS_FILE"
"""
OUTAGE_SECONDS = 30.0


def _execute(url: str, body: dict[str, Any]) -> str:
    response = requests.post(url + EXECUTE, json=body, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["requestId"])


def _settle(events: ExecutionEvents, url: str) -> None:
    """Reads on until a fresh execution's terminal message arrived, so that anything the
    server published before it has arrived too."""
    events.terminal(_execute(url, execute_body("Start")), timeout=30)
    events.poll(0.3)


def test_kill_9_right_after_202_finishes_after_restart_with_one_terminal_message(
        serve_process: Start, kafka_broker: Any) -> None:
    env = {"NFVD_KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers}
    first = serve_process(env)
    first.wait_ready()
    body = execute_body("Create", location_type="Script",
                        files={"scripts/Create.sh": SLOW_CREATE})
    request_id = _execute(first.url, body)
    first.stop(signal.SIGKILL)  # the script is still running: the task is mid-way

    again = serve_process(env)  # same working directory: the same SQLite store
    again.wait_ready()
    events = ExecutionEvents(kafka_broker.bootstrap_servers)
    try:
        done = events.terminal(request_id, timeout=30)
        assert done["status"] == "COMPLETE", done
        assert done["outputs"] == {"done": "yes"}
        _settle(events, again.url)
        assert len(events.terminals(request_id)) == 1
    finally:
        events.close()
    operation = requests.get(f"{again.url}/api/lcm/operations/{request_id}", timeout=5).json()
    assert operation["state"] == "COMPLETED"


def test_terminal_messages_arrive_after_a_30s_broker_outage(serve_process: Start) -> None:
    port = free_port()
    broker = EmbeddedBroker(port)
    broker.start()
    server = serve_process({"NFVD_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers})
    try:
        server.wait_ready()
        slow = {"fakeDelay": {"type": "string", "value": "0.5"}}
        ids = [_execute(server.url, execute_body("Create", requestProperties=slow))
               for _ in range(5)]
        broker.stop()
        outage_started = time.monotonic()
        # accepted while Kafka is away: the store is what makes a request durable
        ids += [_execute(server.url, execute_body("Create")) for _ in range(5)]
        failing = execute_body("Create", requestProperties={
            "fakeFailure": {"type": "string", "value": "INSUFFICIENT_CAPACITY"}})
        ids.append(_execute(server.url, failing))
        for request_id in ids:  # all run to their end without Kafka
            deadline = time.monotonic() + 20
            while requests.get(f"{server.url}/api/lcm/operations/{request_id}",
                               timeout=5).json()["state"] == "PROCESSING":
                assert time.monotonic() < deadline
                time.sleep(0.1)
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))

        broker = EmbeddedBroker(port)  # back on the same address
        broker.start()
        events = ExecutionEvents(broker.bootstrap_servers)
        try:
            for request_id in ids[:-1]:
                assert events.terminal(request_id, timeout=60)["status"] == "COMPLETE"
            failed = events.terminal(ids[-1], timeout=60)
            assert failed["failureDetails"]["failureCode"] == "INSUFFICIENT_CAPACITY"
            _settle(events, server.url)
            assert all(len(events.terminals(request_id)) == 1 for request_id in ids)
        finally:
            events.close()
    finally:
        server.stop()
        broker.stop()
