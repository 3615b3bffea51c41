"""Finding which messages are already on Kafka, by their ``nfvd-message-id`` header."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import (
    OFFSET_END,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from framework.config import SECRET_KAFKA_KEYS
from framework.messaging.producer import MessagingError, topic_metadata

log = logging.getLogger(__name__)

#: Header of a message that must reach Kafka at most once; its value is unique per message.
MESSAGE_ID_HEADER = "nfvd-message-id"


def message_id(headers: str | None) -> str | None:
    """The ``nfvd-message-id`` of an outbox row's ``headers`` (JSON object text), if it has one.

    An empty id counts as none. Malformed JSON too: publishing such a row fails anyway.
    """
    if not headers or MESSAGE_ID_HEADER not in headers:
        return None
    try:
        parsed = json.loads(headers)
    except ValueError:
        return None
    value = parsed.get(MESSAGE_ID_HEADER) if isinstance(parsed, dict) else None
    return value if isinstance(value, str) and value else None


@dataclasses.dataclass(frozen=True)
class Wanted:
    """Message ids looked for on one topic, none of which can be older than ``since``."""

    ids: frozenset[str]
    since: float  #: seconds since the epoch


@dataclasses.dataclass
class ScanResult:
    """What a scan found: per topic, the wanted ids that are on it; and its cost."""

    found: dict[str, set[str]]
    read: int = 0  #: messages read
    seconds: float = 0.0


class MessageIdScanner:
    """Tells which wanted message ids are on their topic, reading only its recent messages.

    Per partition it reads from the first message at or after ``Wanted.since`` to the end,
    and stops early once every wanted id of the topic is found. A message counts when its
    header ``nfvd-message-id`` is a wanted id, whatever its partition, key or payload. A
    consumer with ``assign()`` does the reading: it joins no group and commits nothing
    (``group.id`` only satisfies librdkafka).

    The caller must make sure that nothing wanted can reach the topic during the scan (no
    producer of it still running), and pick ``since`` early enough to cover the clocks of
    the hosts involved: message timestamps come from the producer's clock, or the broker's.

    ``properties`` are the extra librdkafka settings the producer gets (``security.*``,
    ``sasl.*``...); their values are never logged. Raises :class:`MessagingError` when
    Kafka does not answer within ``timeout`` seconds, or stops sending messages for that
    long while some are still to be read, and as soon as ``stop`` is set.
    """

    def __init__(self, bootstrap_servers: str, properties: Mapping[str, str] | None = None,
                 *, timeout: float = 10.0, chunk: int = 1000,
                 stop: threading.Event | None = None) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self._stop = stop
        self.chunk = chunk
        self._properties = dict(properties or {})
        self._secrets = [v for k, v in self._properties.items() if k in SECRET_KAFKA_KEYS and v]
        self._last_error = ""

    def scan(self, wanted: Mapping[str, Wanted]) -> ScanResult:
        """Which of the ``wanted`` ids (by topic) are on their topic now."""
        result = ScanResult({topic: set() for topic in wanted})
        if not wanted:
            return result
        began = time.monotonic()
        self._last_error = ""
        consumer = self._consumer()
        try:
            for topic, want in wanted.items():
                try:
                    self._scan_topic(consumer, topic, want, result)
                except KafkaException as exc:
                    raise self._error(topic, _reason(exc)) from None
        finally:
            consumer.close()
        result.seconds = time.monotonic() - began
        return result

    def _consumer(self) -> Consumer:
        config: dict[str, Any] = {
            "client.id": "nfvd-outbox-scan",
            "fetch.wait.max.ms": 10,
            # librdkafka logs every failed reconnect, dozens a second while a metadata request
            # waits; the scan reports one error instead, with the last reason from error_cb.
            "log_level": 2,
            "logger": logging.getLogger("framework.messaging.kafka"),
            **self._properties,
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": "nfvd-outbox-scan",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,  # the end as the fetch sees it: see _scan_topic
            "auto.offset.reset": "earliest",  # retention may have moved the start meanwhile
            "error_cb": self._on_error,
        }
        try:
            return Consumer(config)
        except KafkaException as exc:
            raise self._error(None, f"bad configuration: {_reason(exc)}") from None

    def _scan_topic(self, consumer: Consumer, topic: str, want: Wanted,
                    result: ScanResult) -> None:
        metadata = topic_metadata(consumer, topic, self.timeout, self._stop)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            code = described.error.code() if described is not None else None
            if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return  # nothing was ever published there
            raise self._error(topic, str(described.error) if described else "no metadata")
        since_ms = int(want.since * 1000)
        # The first offset at or after ``since``: Kafka looks message timestamps up, Tansu
        # the times it stored the batches. Both come after the row was written, give or take
        # the clock differences that ``since`` must allow for.
        answers = consumer.offsets_for_times(
            [TopicPartition(topic, p, since_ms) for p in sorted(described.partitions)],
            timeout=self.timeout)
        for answer in answers:
            partition = answer.partition
            if want.ids <= result.found[topic]:
                return
            if answer.error is not None:
                raise self._error(topic, f"partition {partition}: {answer.error}")
            if answer.offset == OFFSET_END:
                continue  # no message that recent
            marks = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                   timeout=self.timeout)
            if marks is None:
                raise self._error(topic, f"partition {partition}: no watermarks")
            low, high = marks
            if answer.offset > low:
                # A real answer: nothing before it is as recent as ``since``.
                self._read(consumer, topic, partition, answer.offset, None, want, result)
                continue
            # The answer is the partition's start: either all of it is that recent, or the
            # broker does not know (Tansu answers the start where Kafka answers OFFSET_END).
            # So walk back from the end, a chunk at a time, until a chunk holds only older
            # messages. First the tail past the high watermark: Tansu's is the last record
            # batch's first offset + 1, short of the end when that batch holds several.
            newest = self._read(consumer, topic, partition, high, None, want, result)
            end = high
            while (end > low and not want.ids <= result.found[topic]
                   and (newest is None or newest >= since_ms)):
                start = max(low, end - self.chunk)
                newest = self._read(consumer, topic, partition, start, end, want, result)
                end = start

    def _read(self, consumer: Consumer, topic: str, partition: int, start: int,
              end: int | None, want: Wanted, result: ScanResult) -> int | None:
        """Reads a partition from ``start`` to before ``end`` (None: to its end, as the fetch
        reports it); returns the newest message timestamp (ms) seen, None if none was."""
        if end is not None and start >= end:
            return None
        newest: int | None = None
        consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + self.timeout
        while True:
            if self._stop is not None and self._stop.is_set():
                raise self._error(topic, "stopped")
            # Checked even while events arrive: they may all be errors, repeated.
            if time.monotonic() > deadline:
                raise self._error(topic, f"partition {partition}: nothing read for "
                                         f"{self.timeout:g}s from offset {start}")
            for message in consumer.consume(500, timeout=0.1):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return newest  # the end of the partition: nothing more to read
                    if error.fatal():
                        raise self._error(topic, error.str())
                    self._last_error = self._redact(error.str())
                    continue  # transient, maybe; the deadline catches one that lasts
                deadline = time.monotonic() + self.timeout
                result.read += 1
                kind, stamp = message.timestamp()
                if kind != TIMESTAMP_NOT_AVAILABLE:
                    newest = stamp if newest is None else max(newest, stamp)
                found = _message_id_of(message)
                if found in want.ids:
                    result.found[topic].add(found)
                offset = message.offset()
                if want.ids <= result.found[topic] or (
                        end is not None and offset is not None and offset >= end - 1):
                    return newest

    def _on_error(self, error: KafkaError) -> None:
        self._last_error = self._redact(error.str())
        log.debug("outbox scan: kafka: %s", self._last_error)

    def _error(self, topic: str | None, reason: str) -> MessagingError:
        where = f"kafka {self.bootstrap_servers}" + (f" topic {topic}" if topic else "")
        last = f" (last error: {self._last_error})" if self._last_error else ""
        return MessagingError(f"{where}: scan for sent messages failed: "
                              f"{self._redact(reason)}{last}")

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def published_rows(scanner: MessageIdScanner, rows: Iterable[Any], clock_margin: float
                   ) -> tuple[list[int], int, ScanResult]:
    """Which outbox ``rows`` (with ``id``, ``topic``, ``headers``, ``created_at``) are on
    Kafka already, by their message id: their ids, how many message ids were looked for,
    and the scan's result. Each topic is read from ``clock_margin`` seconds before the
    oldest of its rows with an id."""
    pending: dict[tuple[str, str], list[int]] = {}  # (topic, message id): row ids
    oldest: dict[str, float] = {}  # topic: created_at of its oldest row with an id
    for row in rows:
        found = message_id(row.headers)
        if found is not None:
            pending.setdefault((row.topic, found), []).append(row.id)
            oldest[row.topic] = min(oldest.get(row.topic, row.created_at), row.created_at)
    wanted = {topic: Wanted(frozenset(i for t, i in pending if t == topic),
                            since - clock_margin) for topic, since in oldest.items()}
    result = scanner.scan(wanted)
    sent = [row_id for (topic, found), ids in pending.items()
            if found in result.found[topic] for row_id in ids]
    return sent, len(pending), result


def _message_id_of(message: Message) -> str | None:
    headers = message.headers() or []
    for name, value in headers.items() if isinstance(headers, dict) else headers:
        if name == MESSAGE_ID_HEADER and value is not None:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return None


def _reason(exc: KafkaException) -> str:
    error = exc.args[0] if exc.args else None
    return error.str() if isinstance(error, KafkaError) else str(exc)
