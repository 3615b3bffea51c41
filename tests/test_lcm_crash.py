"""kill -9 of nfvd serve at every transition point of a task, then restart: nothing is lost,
nothing done twice. Also pause across a restart, and a stalled replica on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from crash_driver import STEPS, Ledger
from fixtures.servers import ServeProcess, make_distribution

from framework.plugins.registry import RESOURCE_GROUP

TESTS = Path(__file__).resolve().parent
FORWARD_POINTS = ("before_record", "after_record", "after_effect", "postcondition")
ROLLBACK_POINTS = ("rollback_before", "rollback_after")


def _env(tmp_path: Path, database_url: str, kafka: Any) -> dict[str, str]:
    site = tmp_path / "site"
    if not site.exists():
        make_distribution(site, "nfvd-driver-crash", "1.0",
                          {RESOURCE_GROUP: {"crash": "crash_driver:CrashDriver"}})
    return {"PYTHONPATH": os.pathsep.join([str(site), str(TESTS)]),
            "NFVD_DATABASE_URL": database_url,
            "NFVD_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "NFVD_KAFKA_INTAKE": "false",
            "NFVD_ENGINE_LEASE_SECONDS": "2"}


@pytest.fixture
def crash_env(tmp_path: Path, store_url: str, kafka_broker: Any) -> dict[str, str]:
    """nfvd serve with the crash driver installed, on SQLite and on PostgreSQL."""
    return _env(tmp_path, store_url, kafka_broker)


def create(server: ServeProcess, ledger: Path, delay: float = 0) -> str:
    body = {"driver": "crash", "lifecycleName": "Install",
            "requestProperties": {"ledger": {"type": "string", "value": str(ledger)},
                                  "delay": {"type": "string", "value": str(delay)}}}
    response = requests.post(server.url + "/api/lcm/operations", json=body, timeout=10)
    assert response.status_code == 201, response.text
    op_id: str = response.json()["id"]
    return op_id


def get(server: ServeProcess, op_id: str) -> dict[str, Any]:
    op: dict[str, Any] = requests.get(f"{server.url}/api/lcm/operations/{op_id}",
                                      timeout=10).json()
    return op


def wait_for(server: ServeProcess, op_id: str, check: Callable[[dict[str, Any]], bool],
             timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        op = get(server, op_id)
        if check(op):
            return op
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s: {json.dumps(op)[:2000]}")
        time.sleep(0.05)


def task(op: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in op["tasks"] if t["name"] == name)
    return found


def killed(server: ServeProcess, timeout: float = 30) -> None:
    """The server killed itself at the crash point."""
    server.process.wait(timeout)
    assert server.process.returncode == -signal.SIGKILL, server.output


def crash_and_restart(serve_process: Callable[..., ServeProcess], env: dict[str, str],
                      ledger: Path, then: Callable[[ServeProcess, str], None]) -> tuple[
                          ServeProcess, str]:
    """Starts nfvd, creates an operation, lets ``then`` lead it to the crash point, restarts."""
    first = serve_process(env)
    first.wait_ready()
    op_id = create(first, ledger)
    then(first, op_id)
    killed(first)
    second = serve_process(env)
    second.wait_ready()
    return second, op_id


def events_of(bootstrap: str, op_id: str, final: str, timeout: float = 20) -> list[int]:
    """The seq of every event of the operation on Kafka, up to its event reaching ``final``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{op_id}",
                         "fetch.wait.max.ms": 10, "enable.auto.commit": False})
    partitions = consumer.list_topics("nfvd_lcm_events", timeout=10).topics[
        "nfvd_lcm_events"].partitions
    consumer.assign([TopicPartition("nfvd_lcm_events", p, OFFSET_BEGINNING)
                     for p in partitions])
    seqs: list[int] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is None or message.error() is not None or \
                    message.key() != op_id.encode():
                continue
            event = json.loads(message.value())
            seqs.append(event["seq"])
            if event["entity"] == "operation" and event["to"] == final:
                return seqs
    finally:
        consumer.close()
    raise AssertionError(f"no {final} event for {op_id} on Kafka; got seq {seqs}")


def assert_no_gap(seqs: list[int]) -> None:
    """1..n, each first seen in order; a repeat (after a retried delivery) is allowed."""
    firsts = list(dict.fromkeys(seqs))
    assert firsts == list(range(1, len(firsts) + 1)), seqs


def calls(ledger: Path, what: str, key: str) -> int:
    return sum(1 for call in Ledger(ledger).read()["calls"] if call == [what, key])


@pytest.mark.parametrize("point", FORWARD_POINTS)
def test_kill_during_task_3_then_restart(serve_process: Callable[..., ServeProcess],
                                         crash_env: dict[str, str], tmp_path: Path,
                                         point: str) -> None:
    ledger = tmp_path / "ledger.json"
    env = {**crash_env, "NFVD_TEST_CRASH": f"t3:{point}"}
    second, op_id = crash_and_restart(serve_process, env, ledger, lambda _s, _o: None)
    op = wait_for(second, op_id, lambda o: o["state"] == "COMPLETED")
    assert_no_gap(events_of(env["NFVD_KAFKA_BOOTSTRAP_SERVERS"], op_id, "COMPLETED"))
    assert [task(op, s)["state"] for s in STEPS] == ["SUCCEEDED"] * 5
    keys = [f"{op_id}:{s}" for s in STEPS]
    assert sorted(Ledger(ledger).read()["resources"]) == sorted(keys)
    for key in keys:
        assert calls(ledger, "create", key) == 1  # one resource per key, never two
    third = f"{op_id}:t3"
    if point in ("after_effect", "postcondition"):
        # the action had done its work: the postcondition holds, so it is not run again
        assert calls(ledger, "action", third) == 1
    else:
        # the action had not made its effect: it runs again, with the same idempotency key
        assert calls(ledger, "action", third) == 2
    for earlier in ("t1", "t2"):
        assert calls(ledger, "action", f"{op_id}:{earlier}") == 1


@pytest.mark.parametrize("point", ROLLBACK_POINTS)
def test_kill_during_rollback_resumes_the_rollback(serve_process: Callable[..., ServeProcess],
                                                   crash_env: dict[str, str], tmp_path: Path,
                                                   point: str) -> None:
    ledger = tmp_path / "ledger.json"
    env = {**crash_env, "NFVD_TEST_CRASH": f"t3:{point}"}

    def complete_then_roll_back(first: ServeProcess, op_id: str) -> None:
        wait_for(first, op_id, lambda o: o["state"] == "COMPLETED")
        assert requests.post(f"{first.url}/api/lcm/operations/{op_id}/rollback",
                             timeout=10).status_code == 200

    second, op_id = crash_and_restart(serve_process, env, ledger, complete_then_roll_back)
    op = wait_for(second, op_id, lambda o: o["state"] == "ROLLED_BACK")
    assert_no_gap(events_of(env["NFVD_KAFKA_BOOTSTRAP_SERVERS"], op_id, "ROLLED_BACK"))
    assert [task(op, s)["state"] for s in STEPS] == ["ROLLED_BACK"] * 5
    assert Ledger(ledger).read()["resources"] == {}
    deletes = [call[1] for call in Ledger(ledger).read()["calls"] if call[0] == "delete"]
    firsts = list(dict.fromkeys(deletes))
    assert firsts == [f"{op_id}:{s}" for s in reversed(STEPS)]  # dependents first
    # the forward path never resumed: no action ran after the rollback began
    assert all(calls(ledger, "action", f"{op_id}:{s}") == 1 for s in STEPS)


def test_pause_holds_across_a_restart(serve_process: Callable[..., ServeProcess],
                                      crash_env: dict[str, str], tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.json"
    first = serve_process(crash_env)
    first.wait_ready()
    op_id = create(first, ledger, delay=1.0)
    wait_for(first, op_id, lambda o: task(o, "t2")["state"] == "RUNNING")
    paused = requests.post(f"{first.url}/api/lcm/operations/{op_id}/pause", timeout=10)
    assert paused.json()["state"] == "PAUSED"
    first.stop(signal.SIGKILL)
    second = serve_process(crash_env)
    second.wait_ready()
    op = wait_for(second, op_id, lambda o: task(o, "t2")["state"] == "SUCCEEDED")
    time.sleep(1.5)  # time enough for t3 to start, were the pause not kept
    op = get(second, op_id)
    assert op["state"] == "PAUSED"
    assert task(op, "t3")["state"] == "PENDING"
    requests.post(f"{second.url}/api/lcm/operations/{op_id}/resume", timeout=10)
    op = wait_for(second, op_id, lambda o: o["state"] == "COMPLETED")
    assert calls(ledger, "action", f"{op_id}:t3") == 1


@pytest.mark.postgres
def test_stalled_replica_loses_its_task(serve_process: Callable[..., ServeProcess],
                                        postgres_server: Any, kafka_broker: Any,
                                        tmp_path: Path) -> None:
    crash_env = _env(tmp_path, postgres_server.create_database(), kafka_broker)
    ledger = tmp_path / "ledger.json"
    stalled = serve_process(crash_env)
    stalled.wait_ready()
    op_id = create(stalled, ledger, delay=1.5)
    wait_for(stalled, op_id, lambda o: task(o, "t2")["state"] == "RUNNING")
    other = serve_process(crash_env)
    other.wait_ready()
    os.killpg(stalled.process.pid, signal.SIGSTOP)
    try:
        op = wait_for(other, op_id, lambda o: o["state"] == "COMPLETED", timeout=60)
    finally:
        os.killpg(stalled.process.pid, signal.SIGCONT)
    time.sleep(2)  # the stalled replica wakes up and tries to finish its old attempt
    after = get(other, op_id)
    assert after["state"] == "COMPLETED"
    assert [t["state"] for t in after["tasks"]] == [t["state"] for t in op["tasks"]]
    assert sorted(Ledger(ledger).read()["resources"]) == sorted(f"{op_id}:{s}" for s in STEPS)
