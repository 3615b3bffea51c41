"""Lifecycle events: one outbox row per transition, numbered without gaps, as the schema says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from engine.helpers import events_of, wait_until
from engine.ledger import Ledger
from framework.engine import Engine, OperationView, TaskSpec, machine
from framework.engine.model import SOL_STATE, OperationState, TaskState
from framework.store import Store

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "specs" / "schemas" /
                     "lcm-event.json").read_text())
DONE = {"COMPLETED", "FAILED_TEMP", "ROLLED_BACK"}


def check_events(events: list[dict[str, Any]], view: OperationView) -> None:
    """The events replay the operation's history: valid, numbered, and ending where it is."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    op_state: OperationState | None = None
    tasks = {task.name: TaskState.PENDING for task in view.tasks}
    for event in events:
        validator.validate(event)
        assert event["operationId"] == view.id
        old, new = event["from"], event["to"]
        if event["entity"] == "operation":
            assert old == (op_state.value if op_state else None)
            machine.check_operation(op_state, OperationState(new))
            op_state = OperationState(new)
        else:
            assert old == tasks[event["task"]].value
            machine.check_task(TaskState(old), TaskState(new))
            tasks[event["task"]] = TaskState(new)
        assert op_state is not None and event["state"] == op_state.value
        assert event["solState"] == SOL_STATE[op_state]
    assert op_state is view.state
    assert tasks == {task.name: task.state for task in view.tasks}


def test_every_transition_is_one_event_in_order(engine: Engine, store: Store,
                                                ledger: Ledger) -> None:
    op, _ = engine.submit("test", [
        TaskSpec("a", "ledger"),
        TaskSpec("b", "ledger", {"fail_action": 1}, ("a",)),
        TaskSpec("c", "ledger", {"precondition_false": True}, ("a",)),
        TaskSpec("d", "ledger", {"fail_rollback": 1}, ("b", "c"))])
    assert engine.wait(op.id, DONE, timeout=20).state == "FAILED_TEMP"
    engine.retry(op.id)
    assert engine.wait(op.id, DONE, timeout=20).state == "COMPLETED"
    engine.rollback(op.id)
    assert engine.wait(op.id, DONE, timeout=20).state == "FAILED_TEMP"  # d's rollback failed
    engine.retry(op.id)
    view = engine.wait(op.id, DONE, timeout=20)
    assert view.state == "ROLLED_BACK" and ledger.resources == {}
    events = events_of(store, op.id)
    check_events(events, view)
    failed = [e for e in events if e["to"] == "FAILED"]
    assert failed == [{**failed[0], "task": "b", "attempt": 1,
                       "error": "action raised RuntimeError: injected failure of the "
                                "action of b"}]
    assert [e["attempt"] for e in events if e["task"] == "b" and e["to"] == "RUNNING"] == [1, 2]
    assert sum(1 for e in events if e["entity"] == "operation") == 8


def test_events_of_cancel_and_fail(engine: Engine, store: Store) -> None:
    op, _ = engine.submit("test", [TaskSpec("a", "ledger", {"delay": 30, "cooperative": True})])
    engine.cancel(op.id)
    engine.fail(op.id)
    view = wait_until(lambda: (v := engine.get(op.id)).task("a").state != "RUNNING" and v,
                      what="the task to stop")
    events = events_of(store, op.id)
    assert [(e["from"], e["to"]) for e in events if e["entity"] == "operation"] == [
        (None, "PROCESSING"), ("PROCESSING", "CANCELLED"), ("CANCELLED", "FAILED")]
    check_events(events, view)
