"""The request intake against the real broker: a message that always fails is skipped after a
few attempts instead of holding back its partition for ever; a passing outage is waited out."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from fixtures.waiting import wait_for

from framework.messaging import EmbeddedBroker
from framework.messaging.intake import GROUP_ID, RequestIntake


class StoreDown(Exception):
    """Stands for the store's errors that the server counts as transient."""


@pytest.fixture
def intakes(kafka_broker: EmbeddedBroker) -> Iterator[Callable[..., RequestIntake]]:
    started: list[RequestIntake] = []

    def start(topic: str, handle: Callable[[dict[str, Any]], Any],
              **options: Any) -> RequestIntake:
        intake = RequestIntake(kafka_broker.bootstrap_servers, handle, topic=topic,
                               retry_interval=0.05, properties={"fetch.wait.max.ms": "10"},
                               **options)
        intake.start()
        started.append(intake)
        return intake

    yield start
    for intake in started:
        intake.stop()


def produce(broker: EmbeddedBroker, topic: str, *bodies: dict[str, Any]) -> None:
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for body in bodies:  # one key: one partition, in this order
        producer.produce(topic, json.dumps(body).encode(), key=b"one")
    producer.flush(10)


def committed(broker: EmbeddedBroker, topic: str) -> int | None:
    """The intake group's committed offset on ``topic``'s partition of key ``one``."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": GROUP_ID})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        offsets = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        consumer.close()
    found = [tp.offset for tp in offsets if tp.offset >= 0]
    return found[0] if len(found) == 1 else None


class Handler:
    """Records the requests it takes; raises ``error`` for those marked ``fail`` (all their
    calls, or their first ``failures``)."""

    def __init__(self, error: type[Exception] = KeyError, failures: int | None = None) -> None:
        self.error, self.failures = error, failures
        self.taken: list[str] = []
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.calls[body["name"]] = self.calls.get(body["name"], 0) + 1
            calls = self.calls[body["name"]]
        if body.get("fail") and (self.failures is None or calls <= self.failures):
            raise self.error("flavor")
        self.taken.append(body["name"])


def test_a_message_that_always_fails_is_skipped_and_the_next_ones_are_taken(
        kafka_broker: EmbeddedBroker, intakes: Callable[..., RequestIntake]) -> None:
    topic = f"intake-{uuid.uuid4().hex[:8]}"
    skipped: list[tuple[int | None, int, str]] = []

    def report(message: Message, attempts: int, exc: Exception) -> None:
        skipped.append((message.offset(), attempts, type(exc).__name__))

    handler = Handler()
    produce(kafka_broker, topic, {"name": "first"}, {"name": "poison", "fail": True},
            {"name": "last"})
    intake = intakes(topic, handler, max_attempts=3, on_skipped=report)
    assert wait_for(lambda: handler.taken == ["first", "last"]), handler.taken
    assert handler.calls["poison"] == 3
    assert skipped == [(1, 3, "KeyError")]
    assert (intake.accepted, intake.skipped) == (2, 1)

    # its offset was committed with the skip: the group does not read it again
    assert wait_for(lambda: committed(kafka_broker, topic) == 3)
    intake.stop()
    again = Handler()
    intakes(topic, again)
    produce(kafka_broker, topic, {"name": "after"})
    assert wait_for(lambda: again.taken == ["after"]), again.taken
    assert "poison" not in again.calls


def test_a_transient_failure_is_waited_out_however_many_attempts_it_takes(
        kafka_broker: EmbeddedBroker, intakes: Callable[..., RequestIntake]) -> None:
    topic = f"intake-{uuid.uuid4().hex[:8]}"
    handler = Handler(StoreDown, failures=7)
    produce(kafka_broker, topic, {"name": "waits", "fail": True}, {"name": "behind"})
    intake = intakes(topic, handler, max_attempts=3,
                     transient=lambda exc: isinstance(exc, StoreDown))
    assert wait_for(lambda: handler.taken == ["waits", "behind"]), handler.taken
    assert handler.calls["waits"] == 8 and intake.skipped == 0
