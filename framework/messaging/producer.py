"""Publishing events to Kafka: idempotent, acknowledged by all replicas, reported per message."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from framework.config import SECRET_KAFKA_KEYS

log = logging.getLogger(__name__)
#: librdkafka's own log lines go here, instead of to stderr.
kafka_log = logging.getLogger("framework.messaging.kafka")

_QUEUE_FULL_WAIT = 2.0
#: The longest single wait for Kafka's metadata in :func:`topic_metadata`.
_SLICE = 0.25
#: The same kind of error is logged at most once in this many seconds: librdkafka reports a
#: refused login on every reconnect, several times a second.
_ERROR_REPEAT_SECONDS = 30.0


class MessagingError(Exception):
    """Kafka did not take, deliver or answer; the message says which cluster and why."""


class MessageRefused(MessagingError):
    """Kafka will never take this message as it is. Sending it again cannot succeed.

    Raised by :meth:`EventProducer.publish` for a message larger than the producer's
    ``message.max.bytes``, and set on a delivery's future when the broker refused the
    record itself (see ``REFUSED_BY_BROKER``).
    """


#: What a broker answers for a record it will never store as it is: larger than the
#: topic's ``max.message.bytes``, a batch over its limit, or a record its validation
#: refuses (a schema, a missing key on a compacted topic).
REFUSED_BY_BROKER = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE,
                               KafkaError.INVALID_RECORD})
#: After these, this producer's messages are lost causes: the next publish starts a new one.
#: Timed-out messages may leave the idempotent producer unable to go on; and after a
#: refused record librdkafka's idempotent producer bumps its epoch, which some brokers
#: answer by fencing it for good.
_RENEW_AFTER = frozenset({KafkaError._MSG_TIMED_OUT, KafkaError.PRODUCER_FENCED,
                          KafkaError.INVALID_PRODUCER_EPOCH})


@dataclasses.dataclass(frozen=True)
class Delivery:
    """Where a published message was stored."""

    topic: str
    partition: int
    offset: int


def _reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)


def topic_metadata(client: Any, topic: str, timeout: float,
                   stop: threading.Event | None = None) -> Any:
    """``client.list_topics(topic)`` within ``timeout`` seconds, asked in short waits so that
    ``stop`` cuts it short; raises :class:`KafkaException` as ``list_topics`` does, or
    :class:`MessagingError` once ``stop`` is set."""
    deadline = time.monotonic() + timeout
    while True:
        if stop is not None and stop.is_set():
            raise MessagingError(f"kafka: stopped while waiting for the metadata of {topic}")
        asked = time.monotonic()
        remaining = deadline - asked
        try:
            return client.list_topics(topic, timeout=max(0.001, min(remaining, _SLICE)))
        except KafkaException:
            if remaining <= _SLICE:
                raise
            rest = _SLICE - (time.monotonic() - asked)  # a quick failure: no tight loop
            if rest > 0:
                (stop.wait if stop is not None else time.sleep)(rest)


def _encode(value: bytes | Mapping[str, Any]) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, Mapping):
        text = json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")
    raise TypeError(f"expected bytes or a mapping, got {type(value).__name__}")


class EventProducer:
    """A Kafka producer whose ``publish`` returns a future of the delivery report.

    Idempotent, ``acks=all``: a message that is reported delivered is stored once, in
    order with the other messages of its key. ``properties`` are extra librdkafka settings
    (``security.protocol``, ``sasl.*``...) and may override those defaults; their values
    are never logged. A daemon thread serves delivery reports until :meth:`close`.

    A message not delivered within ``message.timeout.ms`` (30 s by default) fails its
    future, and the next :meth:`publish` starts a new librdkafka producer: an idempotent
    producer whose broker lost its state (a broker replaced, or restarted without its
    storage) otherwise waits forever on sequence numbers the broker no longer knows.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        properties: Mapping[str, str] | None = None,
        client_id: str = "nfvd",
    ) -> None:
        extra = dict(properties or {})
        self.bootstrap_servers = bootstrap_servers
        self._secrets = [v for k, v in extra.items() if k in SECRET_KAFKA_KEYS and v]
        self._errors_seen: dict[int, tuple[float, int]] = {}
        self._config: dict[str, Any] = {
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 0,
            "socket.nagle.disable": True,  # a lone event leaves at once, not after an ACK
            "message.timeout.ms": 30000,
            **extra,
            "bootstrap.servers": bootstrap_servers,
            "error_cb": self._on_error,
            "logger": kafka_log,
        }
        try:
            self._producer = Producer(self._config)
        except KafkaException as exc:
            raise MessagingError(
                f"kafka {bootstrap_servers}: bad configuration: {self._redact(_reason(exc))}"
            ) from None
        #: Why this producer must be replaced before the next publish (None: it need not).
        self._stale: str | None = None
        #: librdkafka said every broker is down, and no message was delivered since
        self._brokers_down = False
        self._closed = False
        self._close_lock = threading.Lock()
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._serve, name="nfvd-kafka-poll", daemon=True)
        self._poller.start()

    def publish(
        self,
        topic: str,
        value: bytes | Mapping[str, Any],
        key: str | bytes | None = None,
        headers: Mapping[str, str | bytes] | None = None,
    ) -> Future[Delivery]:
        """Queue one message; the future resolves when Kafka stored it.

        A mapping ``value`` is sent as compact UTF-8 JSON. Raises :class:`MessagingError`
        when the message cannot be queued (producer closed, queue full for a while), its
        subclass :class:`MessageRefused` for a message too large ever to be queued, and
        ``TypeError`` for a value that is neither bytes nor JSON-encodable. The future fails
        with :class:`MessagingError` when delivery fails; cancelling it does not take the
        message back.
        """
        if self._closed:
            raise MessagingError(f"kafka {self.bootstrap_servers}: producer is closed")
        if self._stale is not None:
            self._renew()
        payload = _encode(value)
        future: Future[Delivery] = Future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None and error.code() in _RENEW_AFTER:
                self._stale = error.str()
            if not future.set_running_or_notify_cancel():
                return
            if error is not None:
                reason = f"kafka {topic}: {self._redact(error.str())}"
                future.set_exception(
                    MessageRefused(f"{reason} ({len(payload)} bytes)")
                    if error.code() in REFUSED_BY_BROKER else MessagingError(reason))
            else:
                self._brokers_down = False
                future.set_result(Delivery(message.topic() or topic, message.partition() or 0,
                                           message.offset() or 0))

        deadline = time.monotonic() + _QUEUE_FULL_WAIT
        while True:
            try:
                self._producer.produce(
                    topic, payload, key,
                    headers=list(headers.items()) if headers else None,
                    on_delivery=on_delivery,
                )
                return future
            except BufferError:
                # The local queue is full: wait for deliveries to make room, but not forever.
                if time.monotonic() >= deadline:
                    raise MessagingError(
                        f"kafka {topic}: local queue still full after {_QUEUE_FULL_WAIT:g}s "
                        f"({len(self._producer)} messages waiting)"
                    ) from None
                self._producer.poll(0.05)
            except KafkaException as exc:
                reason = f"kafka {topic}: {self._redact(_reason(exc))}"
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) \
                        and error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                    raise MessageRefused(f"{reason} ({len(payload)} bytes)") from None
                raise MessagingError(reason) from None

    def _renew(self) -> None:
        """Replace the librdkafka producer; what the old one still holds fails its futures."""
        with self._close_lock:
            because = self._stale
            if because is None or self._closed:
                return
            old, self._producer = self._producer, Producer(self._config)
            self._stale = None
        log.warning("kafka %s: %s; starting a new producer", self.bootstrap_servers,
                    self._redact(because))
        old.purge()
        old.flush(1.0)  # serves the purge reports, failing the futures still waiting

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for queued messages; return how many are left."""
        return self._producer.flush(timeout)

    def ping(self, timeout: float = 2.0) -> None:
        """Ask the cluster for metadata; raise :class:`MessagingError` if it does not answer."""
        try:
            self._producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise MessagingError(
                f"kafka {self.bootstrap_servers}: {self._redact(_reason(exc))}"
            ) from None

    @property
    def reachable(self) -> bool:
        """False from the moment librdkafka reports every broker down until a message is
        delivered again."""
        return not self._brokers_down

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued within ``timeout``, then stop. Idempotent.

        Messages still undelivered after ``timeout`` are dropped and their futures fail, so
        no caller waits on a producer that is gone. While every broker is down, nothing is
        waited for.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        down = self._brokers_down
        left = self._producer.flush(0 if down else timeout)
        if left:
            log.warning("kafka: dropping %d message(s) not delivered %s", left,
                        "(every broker is down)" if down else f"within {timeout:g}s")
            self._producer.purge()
            self._producer.flush(1.0)  # serves the purge reports, failing the futures
        self._stopping.set()
        self._poller.join()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                self._producer.poll(0.1)
            except Exception:
                # A failing callback must not stop delivery reports for everyone else.
                log.exception("kafka: delivery report handling failed")

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._brokers_down = True
        now = time.monotonic()
        last_time, suppressed = self._errors_seen.get(error.code(), (None, 0))
        if last_time is not None and now - last_time < _ERROR_REPEAT_SECONDS:
            self._errors_seen[error.code()] = (last_time, suppressed + 1)
            return
        self._errors_seen[error.code()] = (now, 0)
        more = f" ({suppressed} similar since last reported)" if suppressed else ""
        level = logging.ERROR if error.fatal() else logging.WARNING
        log.log(level, "kafka: %s%s", self._redact(error.str()), more)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
