"""Request intake: operations asked for by a message on Kafka (``nfvd_lcm_requests``)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from framework.messaging.producer import MessagingError, topic_metadata

log = logging.getLogger(__name__)

REQUEST_TOPIC = "nfvd_lcm_requests"
GROUP_ID = "nfvd-lcm-intake"


class RejectedRequest(ValueError):
    """A message that can never become an operation (not JSON, invalid); it is skipped."""


#: Times a message whose handling fails (other than for ``transient`` reasons) is read;
#: then it is skipped as one that cannot be handled.
MAX_ATTEMPTS = 5


def _never(_exc: Exception) -> bool:
    return False


class RequestIntake:
    """Reads requests from Kafka and hands each to ``handle``; commits once it is recorded.

    Every partition is assigned directly (joining a consumer group can take seconds) and
    reading resumes from the group's committed offsets. A message is committed after
    ``handle`` returned, so a crash between the two delivers it again: ``handle`` must be
    idempotent, which the request's ``idempotencyKey`` makes it. A message ``handle``
    rejects is logged and skipped. A failure ``transient`` recognises (the store is down)
    leaves the message to be read again, for as long as it lasts: nothing is lost. Any
    other failure is retried too, but a message that fails so ``max_attempts`` times in a
    row is skipped, logged, counted in ``skipped`` and passed to ``on_skipped`` (message,
    attempts, error): it would otherwise hold back every later message of its partition.
    """

    def __init__(self, bootstrap_servers: str, handle: Callable[[dict[str, Any]], Any], *,
                 properties: Mapping[str, str] | None = None, topic: str = REQUEST_TOPIC,
                 retry_interval: float = 1.0,
                 transient: Callable[[Exception], bool] = _never,
                 max_attempts: int = MAX_ATTEMPTS,
                 on_skipped: Callable[[Message, int, Exception], None] | None = None) -> None:
        self.topic = topic
        self.handle = handle
        self.retry_interval = retry_interval
        self.transient = transient
        self.max_attempts = max_attempts
        self.on_skipped = on_skipped
        self.accepted = 0
        self.rejected = 0
        self.skipped = 0
        #: (partition, offset) of the message failing now, and its failed attempts
        self._failing: tuple[tuple[int, int], int] = ((-1, -1), 0)
        config: dict[str, Any] = {
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50,
            "logger": logging.getLogger("framework.messaging.kafka"),
            **dict(properties or {}),
            "bootstrap.servers": bootstrap_servers,
            "group.id": GROUP_ID,
        }
        self._consumer = Consumer(config)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nfvd-request-intake", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _assign(self) -> bool:
        try:
            metadata = topic_metadata(self._consumer, self.topic, 5, self._stop)
        except MessagingError:  # stopped meanwhile
            return False
        except KafkaException as exc:
            log.warning("request intake: kafka does not answer: %s", exc)
            return False
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            return False
        self._consumer.assign([TopicPartition(self.topic, p) for p in topic.partitions])
        return True

    def _run(self) -> None:
        while not self._stop.is_set() and not self._assign():
            self._stop.wait(self.retry_interval)
        while not self._stop.is_set():
            message = self._consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            try:
                self._take(message)
            except Exception as exc:  # not recorded: read it again after a pause, or skip it
                if not self._again(message, exc):
                    self._consumer.commit(message=message, asynchronous=True)
                    continue
                self._consumer.seek(TopicPartition(message.topic() or self.topic,
                                                   message.partition() or 0,
                                                   message.offset() or 0))
                self._stop.wait(self.retry_interval)
                continue
            self._consumer.commit(message=message, asynchronous=True)
        self._consumer.close()

    def _again(self, message: Message, exc: Exception) -> bool:
        """Whether ``message``, whose handling raised ``exc``, is to be read again."""
        where = (message.partition() or 0, message.offset() or 0)
        if self.transient(exc):
            log.warning("request intake: %s; will read offset %s again", exc, where[1])
            return True
        attempts = (self._failing[1] if self._failing[0] == where else 0) + 1
        self._failing = (where, attempts)
        if attempts < self.max_attempts:
            log.warning("request intake: %s; will read offset %s again (attempt %d of %d)",
                        exc, where[1], attempts, self.max_attempts)
            return True
        self.skipped += 1
        log.error("request intake: skipping message at %s[%s]@%s after %d failed attempts: "
                  "%s", message.topic(), where[0], where[1], attempts, exc)
        if self.on_skipped is not None:
            try:
                self.on_skipped(message, attempts, exc)
            except Exception:  # the report failed, not the skip
                log.exception("request intake: reporting the skipped message failed")
        return False

    def _take(self, message: Message) -> None:
        try:
            body = json.loads(message.value() or b"")
            if not isinstance(body, dict):
                raise RejectedRequest("the request is not a JSON object")
            self.handle(body)
        # a RecursionError (a body nested past the parser, or past a check's depth) comes
        # back on every try: a rejection, not a failure to read again
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, RejectedRequest) as exc:
            self.rejected += 1
            log.error("request intake: skipping message at %s[%s]@%s: %s", message.topic(),
                      message.partition(), message.offset(), exc)
            return
        self.accepted += 1
