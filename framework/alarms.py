"""Alarms: a log line, a metric and an event on the nfvd_alarms topic, through the outbox."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from framework.engine.model import iso
from framework.metrics import Counter
from framework.store import Store
from framework.store.tables import outbox

log = logging.getLogger(__name__)

#: Kafka topic of alarms; the key of each message is the plugin (or part) concerned.
TOPIC = "nfvd_alarms"


class Alarms:
    """Raises alarms: each is logged, counted and, with a store, queued for Kafka.

    The event is written to the outbox in its own transaction, so it reaches Kafka once the
    broker is reachable, even if it is away when the alarm is raised. Without a store (the
    command line, offline), alarms are logged and counted only.
    """

    def __init__(self, counter: Counter, store: Store | None = None,
                 notify: Callable[[], None] | None = None) -> None:
        self.counter = counter
        self.store = store
        self.notify = notify

    def raise_alarm(self, kind: str, key: str, details: Mapping[str, Any],
                    conn: Connection | None = None) -> None:
        """Alarm ``kind`` (e.g. ``hpa-plugin-dropped``) about ``key``, with ``details``
        (JSON, no secret).

        With ``conn``, the event is written in that connection's transaction, which the
        caller commits: the alarm is queued if, and only if, what it reports is.
        """
        now = time.time()
        event = {"alarm": kind, "key": key, "at": iso(now), **details}
        log.warning("alarm %s: %s: %s", kind, key, details.get("reason") or "")
        self.counter.inc(alarm=kind, key=key)
        row = outbox.insert().values(
            topic=TOPIC, key=key, created_at=now, headers=None,
            payload=json.dumps(event, separators=(",", ":"), ensure_ascii=False))
        if conn is not None:
            conn.execute(row)
            return
        if self.store is None:
            return
        with self.store.connect() as own:
            own.execute(row)
            own.commit()
        if self.notify is not None:
            self.notify()
