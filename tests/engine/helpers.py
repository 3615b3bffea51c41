"""Helpers of the engine tests: waiting for a condition, reading an operation's events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from framework.engine import Engine
from framework.store import Store
from framework.store.tables import outbox

#: Engine options for tests: quick to notice work, leases long enough for a busy machine.
FAST: dict[str, Any] = {"workers": 4, "lease_seconds": 3.0, "poll_interval": 0.05,
                        "cancel_grace": 0.3}

EngineFactory = Callable[..., Engine]


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy (and return that), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or check}")
        time.sleep(0.01)


def task_state(engine: Engine, operation_id: str, name: str) -> str:
    return engine.get(operation_id).task(name).state.value


def events_of(store: Store, operation_id: str) -> list[dict[str, Any]]:
    """The outbox events of an operation, in the order they were written."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.topic, outbox.c.payload)
                            .where(outbox.c.key == operation_id).order_by(outbox.c.id)).all()
    assert {row.topic for row in rows} <= {"nfvd_lcm_events"}
    return [json.loads(row.payload) for row in rows]
