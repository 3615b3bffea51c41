"""The outbox relay against the real broker: order, delete after delivery, outages, one leader."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from fixtures.kafka import free_port
from fixtures.relay import wait_until_empty
from sqlalchemy import Connection, insert, select

from framework.alarms import Alarms
from framework.messaging import EmbeddedBroker, EventProducer
from framework.messaging.relay import OutboxRelay
from framework.metrics import Counter
from framework.store import Store, open_store
from framework.store.tables import outbox, outbox_refused


def add_rows(store: Store, topic: str, count: int, key: str = "op-1", first: int = 1) -> None:
    with store.connect() as conn:
        insert_rows(conn, topic, range(first, first + count), key)
        conn.commit()


def insert_rows(conn: Connection, topic: str, seqs: range, key: str = "op-1") -> None:
    conn.execute(insert(outbox), [
        {"topic": topic, "key": key, "payload": json.dumps({"seq": seq}),
         "headers": json.dumps({"source": "test"}), "created_at": time.time()}
        for seq in seqs])


def test_rows_are_published_in_order_then_deleted(
        store: Store, producer: EventProducer, relays: Callable[..., OutboxRelay],
        kafka_consumer: Any) -> None:
    topic = f"relay-{uuid.uuid4().hex[:8]}"
    add_rows(store, topic, 250)
    relay = relays(store, producer, batch=100)
    assert wait_until_empty(relay, timeout=20)
    messages = kafka_consumer(topic, 250)
    assert [json.loads(m.value())["seq"] for m in messages] == list(range(1, 251))
    assert {m.key() for m in messages} == {b"op-1"}
    assert messages[0].headers() == [("source", b"test")]
    assert relay.published == 250


def test_rows_wait_while_kafka_is_away(store: Store, relays: Callable[..., OutboxRelay],
                                       kafka_consumer: Any) -> None:
    port = free_port()
    producer = EventProducer(f"127.0.0.1:{port}", {"message.timeout.ms": "2000"})
    topic = f"outage-{uuid.uuid4().hex[:8]}"
    add_rows(store, topic, 20)
    relay = relays(store, producer)
    time.sleep(3)  # longer than the message timeout: deliveries failed and were retried
    assert relay.pending() == 20  # nothing lost, nothing deleted
    broker = EmbeddedBroker(port)
    broker.start()
    try:
        assert wait_until_empty(relay, timeout=30)
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": "t",
                             "fetch.wait.max.ms": 10})
        metadata = consumer.list_topics(topic, timeout=10)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                         for p in metadata.topics[topic].partitions])
        seen: list[int] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(set(seen)) < 20:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                seen.append(json.loads(message.value())["seq"])
        consumer.close()
        # at least once, in order: a repeat may follow a retry, but no seq is missing or early
        assert sorted(set(seen)) == list(range(1, 21))
        firsts = [seq for i, seq in enumerate(seen) if seq not in seen[:i]]
        assert firsts == list(range(1, 21))
    finally:
        relay.stop()
        producer.close(timeout=1)
        broker.stop()


def test_one_relay_leads(store: Store, producer: EventProducer,
                         relays: Callable[..., OutboxRelay], kafka_consumer: Any) -> None:
    topic = f"leader-{uuid.uuid4().hex[:8]}"
    first = relays(store, producer)
    add_rows(store, topic, 5)
    assert wait_until_empty(first, timeout=10)
    second = relays(store, producer)
    add_rows(store, topic, 5)
    assert wait_until_empty(first, timeout=10)
    assert (first.published, second.published) == (10, 0)
    first.stop()  # the leader goes away: the other takes over at once
    add_rows(store, topic, 5)
    assert wait_until_empty(second, timeout=10)
    assert second.published == 5
    messages = kafka_consumer(topic, 15)
    assert [json.loads(m.value())["seq"] for m in messages] == [1, 2, 3, 4, 5] * 3


def refused_rows(store: Store) -> list[Any]:
    with store.connect(read_only=True) as conn:
        return list(conn.execute(select(outbox_refused).order_by(outbox_refused.c.id)))


def test_a_row_kafka_refuses_for_good_is_set_aside_and_the_rows_after_it_go_on(
        store: Store, producer: EventProducer, relays: Callable[..., OutboxRelay],
        kafka_consumer: Any) -> None:
    """A message larger than the producer's message.max.bytes (librdkafka's default,
    1,000,000) can never be sent: the relay keeps it aside with an alarm, and the rows
    after it are published, in order, instead of waiting behind it for ever."""
    topic = f"refused-{uuid.uuid4().hex[:8]}"
    add_rows(store, topic, 2)
    payload = json.dumps({"seq": 3, "pad": "x" * 1_000_000})
    with store.connect() as conn:
        conn.execute(insert(outbox), [{"topic": topic, "key": "op-1", "created_at": time.time(),
                                       "payload": payload,
                                       "headers": json.dumps({"source": "test"})}])
        conn.commit()
    add_rows(store, topic, 2, first=4)
    alarms = Alarms(Counter("nfvd_alarms_total", "alarms"), store)
    relay = relays(store, producer, alarms=alarms)
    assert wait_until_empty(relay, timeout=20)
    messages = kafka_consumer(topic, 4)
    assert [json.loads(m.value())["seq"] for m in messages] == [1, 2, 4, 5]
    assert (relay.published, relay.refused) == (5, 1)  # the 4 rows and the alarm

    [kept] = refused_rows(store)
    assert (kept.topic, kept.key, json.loads(kept.payload)["seq"]) == (topic, "op-1", 3)
    assert json.loads(kept.headers) == {"source": "test"}
    assert "Message size too large" in kept.reason and f"{len(payload)} bytes" in kept.reason
    [alarm] = kafka_consumer("nfvd_alarms", 1, key=topic)
    event = json.loads(alarm.value())
    assert event["alarm"] == "kafka-message-refused" and event["outboxId"] == kept.id
    assert (event["messageKey"], event["bytes"], event["keptIn"]) == \
        ("op-1", len(payload), "outbox_refused")
    assert alarms.counter.value(alarm="kafka-message-refused", key=topic) == 1


@pytest.fixture
def postgres_store(postgres_database: str) -> Iterator[Store]:
    """A migrated Store on a PostgreSQL database of the test's own; closed after the relays
    the test started have stopped."""
    opened = open_store(postgres_database)
    yield opened
    opened.close()


def test_postgres_row_committed_after_a_higher_one_was_sent_is_sent_once(
        postgres_store: Store, producer: EventProducer,
        relays: Callable[..., OutboxRelay], kafka_consumer: Any) -> None:
    """On PostgreSQL a transaction may commit a lower outbox id after a higher one was
    visible, and published: the relay still publishes it, and sends nothing twice."""
    store = postgres_store
    topic = f"late-{uuid.uuid4().hex[:8]}"
    relay = relays(store, producer)
    add_rows(store, topic, 1)
    assert wait_until_empty(relay, timeout=10)
    with store.connect() as late:
        insert_rows(late, topic, range(2, 3))  # its id is taken, its commit comes last
        add_rows(store, topic, 2, first=3)
        assert wait_until_empty(relay, timeout=10)  # 3 and 4 sent while 2 is not seen
        late.commit()
    assert wait_until_empty(relay, timeout=10)
    messages = kafka_consumer(topic, 4)
    assert [json.loads(m.value())["seq"] for m in messages] == [1, 3, 4, 2]
    assert stored_messages(producer.bootstrap_servers, topic) == 4
    assert relay.published == 4


def stored_messages(bootstrap: str, topic: str) -> int:
    """How many messages the topic holds (its partitions' high watermarks)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in partitions)
    finally:
        consumer.close()
