"""Rows handed to the relay by the transaction that wrote them (SQLite), against the real broker.

The relay under test polls only every 30 s, so a message that arrives sooner was published
by the handoff, on the committing thread, not by a pass of the relay.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.relay import wait_until_empty
from sqlalchemy import select, update
from test_relay import add_rows

from framework.engine.ports import NewOperation, NewTask
from framework.messaging import EventProducer
from framework.messaging.relay import OutboxRelay
from framework.store import Store, open_store, outbox_rows
from framework.store.lcm import SqlRepository
from framework.store.outbox_rows import Written
from framework.store.tables import outbox, outbox_refused

SLEEPY = {"poll_interval": 30.0}
Leading = Callable[[str], tuple[OutboxRelay, str]]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'nfvd.db'}")
    yield opened
    opened.close()


@pytest.fixture
def leading(sqlite_store: Store, producer: EventProducer,
            relays: Callable[..., OutboxRelay]) -> Callable[[str], tuple[OutboxRelay, str]]:
    """``leading(prefix)``: a relay that leads and has made its scan (one row, key "first",
    went through it to a new topic named after ``prefix``), then sleeps; and the topic."""
    def start(prefix: str) -> tuple[OutboxRelay, str]:
        topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
        relay = relays(sqlite_store, producer, **SLEEPY)
        add_rows(sqlite_store, topic, 1, key="first")
        assert wait_until_empty(relay, timeout=20)
        return relay, topic

    return start


def write(store: Store, topic: str, count: int, key: str = "op-1", first: int = 1) -> Written:
    """``count`` rows written in one transaction, as the repository writes them."""
    with store.connect() as conn, outbox_rows.journal(conn) as written:
        outbox_rows.write(conn, [
            {"topic": topic, "key": key, "payload": json.dumps({"seq": first + i}),
             "headers": json.dumps({"source": "handoff"}), "created_at": time.time()}
            for i in range(count)])
        conn.commit()
    return written


def test_rows_that_follow_the_last_one_sent_are_published_at_once(
        sqlite_store: Store, leading: Leading, kafka_consumer: Any) -> None:
    relay, topic = leading("handoff")
    written = write(sqlite_store, topic, 3)
    # consecutive; from 1, as SQLite numbers rows again once the table is empty
    assert [row_id for row_id, _row in written] == [1, 2, 3]
    assert relay.handoff(written) is True
    more = write(sqlite_store, topic, 2)  # after rows sent, not yet deleted
    assert [row_id for row_id, _row in more] == [4, 5]
    assert relay.handoff(more) is True
    messages = kafka_consumer(topic, 6, timeout=10)  # the relay itself sleeps for 30 s
    # Kafka keeps order per partition: the keys may sit on different partitions
    assert sorted(m.key() for m in messages) == [b"first"] + [b"op-1"] * 5
    handed = [m for m in messages if m.key() == b"op-1"]
    assert [json.loads(m.value())["seq"] for m in handed] == [1, 2, 3, 1, 2]
    assert handed[0].headers() == [("source", b"handoff")]
    # the rows stay until a pass finds Kafka's confirmation, then are deleted
    assert relay.pending() == 5
    assert wait_until_empty(relay, timeout=10)
    assert relay.published == 6


def test_rows_after_rows_not_handed_over_are_left_to_the_relay_in_order(
        sqlite_store: Store, leading: Leading, kafka_consumer: Any) -> None:
    relay, topic = leading("gap")
    add_rows(sqlite_store, topic, 1, key="op-1")  # written by someone who hands nothing over
    written = write(sqlite_store, topic, 2)
    assert relay.handoff(written) is True  # taken, but not sent past the row before them:
    assert wait_until_empty(relay, timeout=10)  # the relay was woken and read all three
    messages = kafka_consumer(topic, 4)
    # Kafka keeps order per partition: the keys may sit on different partitions
    assert sorted(m.key() for m in messages) == [b"first", b"op-1", b"op-1", b"op-1"]
    assert [m.headers() for m in messages if m.key() == b"op-1"] == \
        [[("source", b"test")]] + [[("source", b"handoff")]] * 2
    assert relay.published == 4


def test_a_handed_row_kafka_refuses_is_set_aside_and_the_rows_after_it_go_on(
        sqlite_store: Store, leading: Leading, kafka_consumer: Any) -> None:
    relay, topic = leading("refused")
    written = write(sqlite_store, topic, 3)
    big = json.dumps({"seq": 2, "pad": "x" * 1_000_000})  # past librdkafka's message.max.bytes
    with sqlite_store.connect() as conn:
        conn.execute(update(outbox).where(outbox.c.id == written[1][0]).values(payload=big))
        conn.commit()
    written[1] = (written[1][0], {**written[1][1], "payload": big})
    assert relay.handoff(written) is True  # 1 goes; 2 wakes the relay, whose pass sets it aside
    assert wait_until_empty(relay, timeout=20)
    messages = kafka_consumer(topic, 3)
    assert [json.loads(m.value())["seq"] for m in messages if m.key() == b"op-1"] == [1, 3]
    assert relay.refused == 1
    with sqlite_store.connect(read_only=True) as conn:
        assert conn.execute(select(outbox_refused.c.id)).scalars().all() == [written[1][0]]


def test_rows_handed_over_by_many_threads_at_once_arrive_once_each_in_order(
        sqlite_store: Store, leading: Leading, kafka_consumer: Any) -> None:
    relay, topic = leading("threads")
    answers: list[bool] = []

    def writer(name: str) -> None:
        for seq in range(1, 51, 2):  # two rows per transaction
            answers.append(relay.handoff(write(sqlite_store, topic, 2, key=name, first=seq)))

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [True] * 200
    messages = kafka_consumer(topic, 401, timeout=20)
    for n in range(8):
        seqs = [json.loads(m.value())["seq"] for m in messages if m.key() == f"t{n}".encode()]
        assert seqs == list(range(1, 51))  # each once, in the order written
    assert wait_until_empty(relay, timeout=10)
    assert relay.published == 401


def test_no_handoff_before_the_scan_nor_after_stop(
        sqlite_store: Store, producer: EventProducer, leading: Leading,
        kafka_consumer: Any) -> None:
    refused = f"refused-{uuid.uuid4().hex[:8]}"
    unstarted = OutboxRelay(sqlite_store, producer)  # leads nothing, scanned nothing
    assert unstarted.handoff(write(sqlite_store, refused, 1)) is False
    relay, _topic = leading("idle")  # reads and publishes that row too
    assert [m.key() for m in kafka_consumer(refused, 1)] == [b"op-1"]
    relay.stop()
    assert relay.handoff(write(sqlite_store, refused, 1)) is False
    assert relay.pending() == 1  # left for the next relay


def new_operation() -> NewOperation:
    task = NewTask("only", "noop", {}, (), (), None, True)
    return NewOperation(str(uuid.uuid4()), "test", None, None, (task,), time.time())


def test_the_repository_hands_over_what_it_committed(sqlite_store: Store) -> None:
    handed: list[Written] = []
    woken: list[bool] = []
    answer = True

    def handoff(rows: Written) -> bool:
        handed.append(rows)
        return answer

    repository = SqlRepository(sqlite_store, on_commit=lambda: woken.append(True),
                               handoff=handoff)
    operation_id, _created = repository.create_operation(new_operation())
    assert len(handed) == 1 and woken == []  # published: no wake-up for the relay
    ids = [row_id for row_id, _row in handed[0]]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert {row["key"] for _id, row in handed[0]} == {operation_id}
    with sqlite_store.connect(read_only=True) as conn:
        stored = conn.exec_driver_sql("SELECT id, payload FROM outbox ORDER BY id").all()
    assert [(row_id, row["payload"]) for row_id, row in handed[0]] == \
        [(row.id, row.payload) for row in stored]
    now = time.time()
    claim, = repository.claim(operation_id, owner="me", want=1, now=now, lease_until=now + 30)
    assert len(handed) == 2  # the task's event
    assert repository.record_side_effect(claim, [{"made": "it"}]) is True
    assert len(handed) == 2 and woken == []  # no row written: nothing to hand, nobody woken
    answer = False  # not published: the relay is woken to read them
    repository.create_operation(new_operation())
    assert len(handed) == 3 and woken == [True]


def test_journaling_is_for_sqlite_only(store: Store) -> None:
    with store.connect() as conn:
        if store.dialect == "sqlite":
            with outbox_rows.journal(conn) as written:
                outbox_rows.write(conn, [])
            assert written == []
        else:
            with pytest.raises(ValueError, match="SQLite only"), outbox_rows.journal(conn):
                pass
