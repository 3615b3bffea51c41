"""Rows with an ``nfvd-message-id`` reach Kafka once, even if a relay died before deleting them."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from fixtures.kafka import free_port
from fixtures.relay import wait_until_empty
from sqlalchemy import insert

from framework.messaging import EmbeddedBroker, EventProducer
from framework.messaging.dedupe import MESSAGE_ID_HEADER, MessageIdScanner, Wanted
from framework.messaging.relay import OutboxRelay
from framework.store import Store
from framework.store.tables import outbox

KEY = "req-1"


def new_topic(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def headers_of(message_id: str | None) -> dict[str, str]:
    headers = {"source": "test"}
    if message_id is not None:
        headers[MESSAGE_ID_HEADER] = message_id
    return headers


def add_row(store: Store, topic: str, seq: int, message_id: str | None = None) -> None:
    """One outbox row, as a driver writes it in the transaction of its state change."""
    with store.connect() as conn:
        conn.execute(insert(outbox), {
            "topic": topic, "key": KEY, "payload": json.dumps({"seq": seq}),
            "headers": json.dumps(headers_of(message_id)), "created_at": time.time()})
        conn.commit()


def publish(producer: EventProducer, topic: str, seq: int, message_id: str | None = None) -> None:
    """What a relay that died before deleting the row had already sent."""
    producer.publish(topic, {"seq": seq}, key=KEY, headers=headers_of(message_id)).result(10)


def read_all(bootstrap_servers: str, topic: str) -> list[Message]:
    """Every message of ``topic``: all partitions, from the beginning to the end.

    The end is where the fetch reports it (end-of-partition event), not the high watermark
    of ``get_watermark_offsets``: Tansu's stops short of a last batch of several records.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "t",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "fetch.wait.max.ms": 10,
                         "logger": logging.getLogger("tests.kafka.consumer")})
    try:
        left = set(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in left])
        messages: list[Message] = []
        deadline = time.monotonic() + 15
        while left and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is None:
                messages.append(message)
            elif error.code() == KafkaError._PARTITION_EOF:
                left.discard(message.partition() or 0)
        assert not left, f"partitions {sorted(left)} of {topic} not read to the end"
        return messages
    finally:
        consumer.close()


def message_ids(messages: list[Message]) -> list[str | None]:
    found: list[str | None] = []
    for message in messages:
        values = [v for k, v in message.headers() or [] if k == MESSAGE_ID_HEADER]
        found.append(values[0].decode() if values and isinstance(values[0], bytes) else None)
    return found


def seqs(messages: list[Message]) -> list[int]:
    return [json.loads(m.value() or b"")["seq"] for m in messages]


@pytest.fixture
def dead_relay(kafka_broker: EmbeddedBroker) -> Iterator[EventProducer]:
    """The producer of a relay that published rows, then died before deleting them."""
    made = EventProducer(kafka_broker.bootstrap_servers)
    yield made
    made.close()


def test_row_published_before_a_crash_is_not_sent_again(
        store: Store, producer: EventProducer, dead_relay: EventProducer,
        relays: Callable[..., OutboxRelay], kafka_broker: EmbeddedBroker) -> None:
    topic = new_topic("once-crash")
    add_row(store, topic, 1, message_id="req-1:terminal")
    publish(dead_relay, topic, 1, message_id="req-1:terminal")
    relay = relays(store, producer)
    assert wait_until_empty(relay, timeout=20)
    messages = read_all(kafka_broker.bootstrap_servers, topic)
    assert message_ids(messages) == ["req-1:terminal"]
    assert (relay.published, relay.skipped) == (0, 1)


def test_row_never_published_is_published_once(
        store: Store, producer: EventProducer, relays: Callable[..., OutboxRelay],
        kafka_broker: EmbeddedBroker) -> None:
    topic = new_topic("once-new")
    add_row(store, topic, 1, message_id="req-2:terminal")
    relay = relays(store, producer)
    assert wait_until_empty(relay, timeout=20)
    messages = read_all(kafka_broker.bootstrap_servers, topic)
    assert message_ids(messages) == ["req-2:terminal"]
    assert (relay.published, relay.skipped) == (1, 0)
    # A row with an id written while the relay leads needs no scan: it is published too.
    add_row(store, topic, 2, message_id="req-3:terminal")
    assert wait_until_empty(relay, timeout=20)
    messages = read_all(kafka_broker.bootstrap_servers, topic)
    assert sorted(i or "" for i in message_ids(messages)) == ["req-2:terminal", "req-3:terminal"]


def test_rows_without_an_id_stay_at_least_once(
        store: Store, producer: EventProducer, dead_relay: EventProducer,
        relays: Callable[..., OutboxRelay], kafka_broker: EmbeddedBroker) -> None:
    topic = new_topic("once-plain")
    add_row(store, topic, 1)
    publish(dead_relay, topic, 1)  # the same message, without an id: sent again
    relay = relays(store, producer)
    assert wait_until_empty(relay, timeout=20)
    messages = read_all(kafka_broker.bootstrap_servers, topic)
    assert seqs(messages) == [1, 1]
    assert message_ids(messages) == [None, None]
    assert (relay.published, relay.skipped) == (1, 0)


def test_mixed_rows_each_id_once_in_order(
        store: Store, producer: EventProducer, dead_relay: EventProducer,
        relays: Callable[..., OutboxRelay], kafka_broker: EmbeddedBroker) -> None:
    topic, other = new_topic("once-mixed"), new_topic("once-other")
    rows: list[tuple[str, int, str | None, bool]] = [  # topic, seq, message id, sent before
        (topic, 1, "a", True), (topic, 2, None, False), (other, 3, "x", True),
        (topic, 4, "b", False), (topic, 5, "c", True), (other, 6, "y", False),
        (topic, 7, None, False), (topic, 8, "d", False), (topic, 9, "e", True),
    ]
    for where, seq, message_id, _ in rows:
        add_row(store, where, seq, message_id)
    for where, seq, message_id, sent in rows:
        if sent:
            publish(dead_relay, where, seq, message_id)
    relay = relays(store, producer)
    assert wait_until_empty(relay, timeout=20)
    for where in (topic, other):
        messages = read_all(kafka_broker.bootstrap_servers, where)
        expected = [r for r in rows if r[0] == where]
        ids = [i for i in message_ids(messages) if i is not None]
        assert sorted(ids) == sorted(r[2] for r in expected if r[2] is not None)
        # What was sent before comes first; then the rest, in the order of the outbox.
        assert seqs(messages) == ([r[1] for r in expected if r[3]] +
                                  [r[1] for r in expected if not r[3]])
    assert (relay.published, relay.skipped) == (5, 4)


def test_failed_scan_keeps_the_row_until_kafka_is_back(
        store: Store, relays: Callable[..., OutboxRelay]) -> None:
    port = free_port()
    producer = EventProducer(f"127.0.0.1:{port}", {"message.timeout.ms": "2000"})
    topic = new_topic("once-outage")
    add_row(store, topic, 1, message_id="req-4:terminal")
    relay = relays(store, producer, scan_timeout=0.5)
    time.sleep(2)  # several scans failed meanwhile
    assert relay.pending() == 1
    assert relay.published == 0
    assert relay._thread is not None and relay._thread.is_alive()
    broker = EmbeddedBroker(port)
    broker.start()
    try:
        assert wait_until_empty(relay, timeout=30)
        messages = read_all(broker.bootstrap_servers, topic)
        assert message_ids(messages) == ["req-4:terminal"]
    finally:
        relay.stop()
        producer.close(timeout=1)
        broker.stop()


def test_rows_published_in_one_batch_before_a_crash(
        store: Store, producer: EventProducer, dead_relay: EventProducer,
        relays: Callable[..., OutboxRelay], kafka_broker: EmbeddedBroker) -> None:
    # One record batch of 50 messages, the ids in the middle and at the end: the scan must
    # read to the real end of the partition, past Tansu's high watermark.
    topic = new_topic("once-batch")
    ids = {seq: f"req-{seq}:terminal" for seq in (25, 50)}
    for seq in range(1, 51):
        add_row(store, topic, seq, ids.get(seq))
    futures = [dead_relay.publish(topic, {"seq": seq}, key=KEY, headers=headers_of(ids.get(seq)))
               for seq in range(1, 51)]
    for future in futures:
        future.result(10)
    add_row(store, topic, 51, "req-51:terminal")  # written, not yet sent
    relay = relays(store, producer)
    assert wait_until_empty(relay, timeout=20)
    messages = read_all(kafka_broker.bootstrap_servers, topic)
    assert sorted(i for i in message_ids(messages) if i) == sorted(
        ["req-25:terminal", "req-50:terminal", "req-51:terminal"])
    # The rows without an id were sent again: at least once, as before.
    assert seqs(messages) == list(range(1, 51)) + list(range(1, 25)) + list(range(26, 50)) + [51]
    assert (relay.published, relay.skipped) == (49, 2)


def test_scan_reads_only_recent_messages(kafka_broker: EmbeddedBroker,
                                         producer: EventProducer) -> None:
    topic = new_topic("once-bounded")
    for seq in range(999):
        producer.publish(topic, {"seq": seq}, key=KEY, headers=headers_of(f"old-{seq}"))
    assert producer.flush(10) == 0
    publish(producer, topic, 999, message_id="old-999")  # a batch of its own, last
    time.sleep(1.5)  # the 1000 messages are now older than ``since`` below
    since = time.time() - 1.0
    scanner = MessageIdScanner(kafka_broker.bootstrap_servers, timeout=5.0, chunk=100)
    # Nothing that recent: one chunk read from the end, found older, ends the scan.
    result = scanner.scan({topic: Wanted(frozenset({"new-1"}), since)})
    assert result.found == {topic: set()}
    assert result.read == 100
    # Once a recent message exists, the broker's offset for ``since`` starts the scan there.
    publish(producer, topic, 1000, message_id="new-1")
    result = scanner.scan({topic: Wanted(frozenset({"new-1", "new-2"}), since)})
    assert result.found == {topic: {"new-1"}}
    assert result.read == 1
    # An id older than ``since`` is out of reach by design: the margin must cover it.
    result = scanner.scan({topic: Wanted(frozenset({"old-998"}), since)})
    assert result.found == {topic: set()}


def test_scan_of_a_topic_that_does_not_exist(kafka_broker: EmbeddedBroker) -> None:
    scanner = MessageIdScanner(kafka_broker.bootstrap_servers, timeout=5.0)
    topic = new_topic("once-none")
    result = scanner.scan({topic: Wanted(frozenset({"a"}), time.time() - 60)})
    assert result.found == {topic: set()}
    assert result.read == 0
