"""Outbox rows Kafka refuses for good: set aside, so that the rows after them go on.

The relay publishes the outbox in id order and holds back every row after one that fails,
which is right while Kafka is away: the row will go once it is back. A message Kafka can
never take as it is would hold them back for ever, every later event of every operation
with them: one larger than the producer's ``message.max.bytes``, refused before it is
sent, or one the broker refuses (larger than the topic's ``max.message.bytes``, or failing
the broker's validation). Such a row is moved to the table ``outbox_refused`` with the
reason, and the alarm ``kafka-message-refused`` is raised in the same transaction; the
rows after it go on.

A broker refuses a whole batch of records for the one it will not store, so a refusal on
delivery does not say which row it was. The relay then sends each row that was on its way
alone, waiting for each (:func:`send_alone`): a row refused alone is the one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from sqlalchemy import delete, insert

from framework.alarms import Alarms
from framework.messaging.producer import EventProducer, MessageRefused, MessagingError
from framework.store import Store
from framework.store.tables import outbox, outbox_refused

log = logging.getLogger(__name__)

#: The alarm raised for each row set aside; its key is the row's topic.
ALARM = "kafka-message-refused"


def set_aside(store: Store, row_id: int, row: Mapping[str, Any], reason: str,
              alarms: Alarms | None = None) -> None:
    """Moves outbox row ``row_id`` (its columns in ``row``) to ``outbox_refused``.

    One transaction: the row leaves the outbox if, and only if, it is kept with
    ``reason``, and with the alarm (when ``alarms`` is given) on its way to Kafka.
    """
    size = len(row["payload"].encode("utf-8"))
    with store.connect() as conn:
        conn.execute(insert(outbox_refused).values(
            id=row_id, topic=row["topic"], key=row["key"], payload=row["payload"],
            headers=row["headers"], created_at=row["created_at"], refused_at=time.time(),
            reason=reason))
        conn.execute(delete(outbox).where(outbox.c.id == row_id))
        if alarms is not None:
            alarms.raise_alarm(ALARM, row["topic"], {
                "outboxId": row_id, "messageKey": row["key"], "bytes": size,
                "reason": reason, "keptIn": outbox_refused.name}, conn)
        conn.commit()
    log.error("outbox relay: kafka refuses outbox row %d (topic %s, key %s, %d bytes) for "
              "good: %s; it is kept in %s and the rows after it go on", row_id, row["topic"],
              row["key"], size, reason, outbox_refused.name)


def send_alone(store: Store, producer: EventProducer, row: Mapping[str, Any], timeout: float,
               alarms: Alarms | None = None) -> bool:
    """Publishes outbox row ``row`` as the only message on its way and waits for Kafka.

    True when Kafka stored it; False when Kafka refused it, and it is set aside. Raises
    :class:`MessagingError` when it was not delivered within ``timeout`` seconds, or for
    another reason: the row stays in the outbox.
    """
    headers = json.loads(row["headers"]) if row["headers"] else None
    try:
        if producer.flush(timeout):  # nothing else in its batch
            raise MessagingError(f"kafka {producer.bootstrap_servers}: earlier messages "
                                 f"still undelivered after {timeout:g}s")
        future = producer.publish(row["topic"], row["payload"].encode(), key=row["key"],
                                  headers=headers)
        future.result(timeout)
    except MessageRefused as exc:
        set_aside(store, row["id"], row, str(exc), alarms)
        return False
    except FutureTimeout:
        raise MessagingError(f"kafka {row['topic']}: outbox row {row['id']} not delivered "
                             f"within {timeout:g}s") from None
    return True
