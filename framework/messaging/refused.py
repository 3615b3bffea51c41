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
from collections.abc import Collection, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, true

from framework.alarms import Alarms
from framework.engine.model import iso
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


# What an operator does with them (``nfvd outbox``): look, send again, or let go.

def _summary(row: Any) -> dict[str, Any]:
    return {"id": row.id, "topic": row.topic, "key": row.key,
            "bytes": len(row.payload.encode("utf-8")), "createdAt": iso(row.created_at),
            "refusedAt": iso(row.refused_at), "reason": row.reason}


def refused_rows(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """The rows set aside, oldest first, without their payloads."""
    with store.connect(read_only=True) as conn:
        rows = conn.execute(select(outbox_refused).order_by(outbox_refused.c.id).limit(limit))
        return [_summary(row) for row in rows]


def refused_row(store: Store, row_id: int) -> dict[str, Any] | None:
    """One row set aside with its headers and payload (parsed when JSON); None if absent."""
    with store.connect(read_only=True) as conn:
        row = conn.execute(select(outbox_refused).where(outbox_refused.c.id == row_id)).first()
    if row is None:
        return None
    try:
        payload: Any = json.loads(row.payload)
    except ValueError:
        payload = row.payload
    return {**_summary(row), "headers": json.loads(row.headers) if row.headers else None,
            "payload": payload}


def _chosen(conn: Connection, ids: Collection[int] | None) -> Any:
    """The condition on ``outbox_refused`` for ``ids`` (None: every row). Raises KeyError
    naming the ids that are not set aside."""
    if ids is None:
        return true()
    found = set(conn.execute(select(outbox_refused.c.id)
                             .where(outbox_refused.c.id.in_(list(ids)))).scalars())
    missing = sorted(set(ids) - found)
    if missing:
        raise KeyError(missing)
    return outbox_refused.c.id.in_(list(ids))


def resend(store: Store, ids: Collection[int] | None) -> dict[int, int]:
    """Moves rows set aside (those with ``ids``, or every one) back to the end of the
    outbox, for the relay to publish again once the limit or validation that refused them
    was changed; the new outbox id of each. All or none: raises KeyError naming the ids
    that are not set aside."""
    moved: dict[int, int] = {}
    with store.connect() as conn:
        chosen = _chosen(conn, ids)
        for row in conn.execute(select(outbox_refused).where(chosen)
                                .order_by(outbox_refused.c.id)):
            moved[row.id] = conn.execute(insert(outbox).values(
                topic=row.topic, key=row.key, payload=row.payload, headers=row.headers,
                created_at=row.created_at).returning(outbox.c.id)).scalar_one()
        conn.execute(delete(outbox_refused).where(chosen))
        conn.commit()
    if moved:
        log.warning("outbox: %d row(s) set aside sent again: %s", len(moved),
                    ", ".join(f"{old} as {new}" for old, new in moved.items()))
    return moved


def drop(store: Store, ids: Collection[int] | None) -> list[int]:
    """Deletes rows set aside (those with ``ids``, or every one), for good; their ids. All
    or none: raises KeyError naming the ids that are not set aside."""
    with store.connect() as conn:
        chosen = _chosen(conn, ids)
        dropped = sorted(conn.execute(select(outbox_refused.c.id).where(chosen)).scalars())
        conn.execute(delete(outbox_refused).where(chosen))
        conn.commit()
    if dropped:
        log.warning("outbox: %d row(s) set aside deleted: %s", len(dropped),
                    ", ".join(map(str, dropped)))
    return dropped


def status(store: Store) -> dict[str, Any]:
    """How many rows wait in the outbox, since when and for how many seconds (0 when none
    waits), and how many are set aside."""
    with store.connect(read_only=True) as conn:
        waiting, oldest = conn.execute(
            select(func.count(), func.min(outbox.c.created_at)).select_from(outbox)).one()
        refused = conn.execute(select(func.count()).select_from(outbox_refused)).scalar_one()
    return {"waiting": int(waiting), "oldestWaiting": iso(oldest),
            "oldestWaitingSeconds": round(max(0.0, time.time() - oldest), 3) if oldest else 0,
            "refused": int(refused)}
