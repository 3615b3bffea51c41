"""nfvd outbox: see the events Kafka refused, send them again once it takes them, or drop them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from fixtures.relay import wait_until_empty
from sqlalchemy import func, insert, select

from framework.cli import main
from framework.messaging import EventProducer
from framework.messaging.relay import OutboxRelay
from framework.store import Store
from framework.store.tables import outbox, outbox_refused

NFVD = str(Path(sys.executable).with_name("nfvd"))
BIG = 1_100_000  # over the producer's default message.max.bytes (1,000,000)


def nfvd_outbox(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``nfvd outbox ARGS`` on the store at ``url``, in this process (a process of its own
    takes a second to start)."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("NFVD_")}
    env["NFVD_DATABASE_URL"] = url
    result = CliRunner().invoke(main, ["outbox", *args], env=env)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_the_command_is_installed(store_url: str) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NFVD_")}
    env["NFVD_DATABASE_URL"] = store_url
    done = subprocess.run([NFVD, "outbox", "status"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "waiting: 0\nset aside (refused by Kafka): 0\n"


def add(store: Store, topic: str, seqs: list[int], pad: int = 0) -> None:
    with store.connect() as conn:
        conn.execute(insert(outbox), [
            {"topic": topic, "key": "op-1", "created_at": time.time(),
             "payload": json.dumps({"seq": seq, "pad": "x" * pad}),
             "headers": json.dumps({"source": "test"})} for seq in seqs])
        conn.commit()


def count(store: Store, table: Any) -> int:
    with store.connect(read_only=True) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_refused_events_are_listed_shown_resent_and_dropped(
        store: Store, store_url: str, producer: EventProducer, relays: Callable[..., OutboxRelay],
        kafka_consumer: Any, kafka_broker: Any) -> None:
    topic = f"outbox-cli-{uuid.uuid4().hex[:8]}"
    add(store, topic, [1])
    add(store, topic, [2, 3], pad=BIG)  # refused by the producer: set aside
    add(store, topic, [4])
    relay = relays(store, producer)
    assert wait_until_empty(relay, timeout=20)
    relay.stop()
    assert [json.loads(m.value())["seq"] for m in kafka_consumer(topic, 2)] == [1, 4]

    status = nfvd_outbox(store_url, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {"waiting": 0, "oldestWaiting": None,
                                         "oldestWaitingSeconds": 0, "refused": 2}
    listed = json.loads(nfvd_outbox(store_url, "refused", "--json").stdout)["refused"]
    assert [(r["topic"], r["key"]) for r in listed] == [(topic, "op-1")] * 2
    assert all("Message size too large" in r["reason"] and r["bytes"] > BIG for r in listed)
    second, third = (r["id"] for r in listed)
    table = nfvd_outbox(store_url, "refused").stdout.splitlines()
    assert len(table) == 2 and table[0].startswith(f"{second}  {topic}  op-1  ")

    shown = json.loads(nfvd_outbox(store_url, "show", str(second)).stdout)
    assert shown["payload"]["seq"] == 2 and shown["headers"] == {"source": "test"}
    missing = nfvd_outbox(store_url, "show", "999999")
    assert missing.returncode == 1 and "no event set aside with id 999999" in missing.stderr

    # all or none: one unknown id, and nothing moves
    refused = nfvd_outbox(store_url, "resend", str(second), "999999")
    assert refused.returncode == 1, refused.stdout
    assert "not set aside: 999999; nothing was resent" in refused.stderr
    assert (count(store, outbox), count(store, outbox_refused)) == (0, 2)
    assert nfvd_outbox(store_url, "resend").returncode == 2  # neither ids nor --all

    # the limit is raised: the event goes out, after those written since
    add(store, topic, [5])
    resent = nfvd_outbox(store_url, "resend", str(second))
    assert resent.returncode == 0, resent.stderr
    assert resent.stdout.startswith(f"{second}  resent as outbox row ")
    roomy = EventProducer(kafka_broker.bootstrap_servers, {"message.max.bytes": "2000000"})
    try:
        relay = relays(store, roomy)
        assert wait_until_empty(relay, timeout=20)
    finally:
        relay.stop()
        roomy.close(timeout=1)
    seqs = [json.loads(m.value())["seq"] for m in kafka_consumer(topic, 4)]
    assert seqs == [1, 4, 5, 2]

    dropped = nfvd_outbox(store_url, "drop", "--all")
    assert dropped.returncode == 0, dropped.stderr
    assert dropped.stdout.splitlines() == [f"{third}  deleted"]
    assert json.loads(nfvd_outbox(store_url, "status", "--json").stdout)["refused"] == 0
    assert nfvd_outbox(store_url, "resend", "--all").stdout == "no event is set aside\n"
