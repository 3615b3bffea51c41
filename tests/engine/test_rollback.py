"""Rollback: compensation in reverse dependency order, idempotent, retried when it fails."""

from __future__ import annotations

from engine.helpers import events_of, task_state, wait_until
from engine.ledger import Ledger
from framework.engine import Engine, TaskSpec
from framework.store import Store

DONE = {"COMPLETED", "FAILED_TEMP"}
UNDONE = {"ROLLED_BACK", "FAILED_TEMP"}


def rollback_order(ledger: Ledger) -> list[str]:
    return [e["task"] for e in ledger.log() if e["event"] == "rollback"]


def test_rollback_after_partial_success_compensates_dependents_first(
        engine: Engine, ledger: Ledger, store: Store) -> None:
    op, _ = engine.submit("test", [
        TaskSpec("a", "ledger"), TaskSpec("b", "ledger", depends_on=("a",)),
        TaskSpec("c", "ledger", depends_on=("a",)),
        TaskSpec("d", "ledger", depends_on=("b", "c")),
        TaskSpec("e", "ledger", {"fail_action": 9}, depends_on=("d",)),
        TaskSpec("f", "ledger", depends_on=("e",))])
    assert engine.wait(op.id, DONE, timeout=20).state == "FAILED_TEMP"
    assert len(ledger.resources) == 4
    assert engine.rollback(op.id).state in ("ROLLING_BACK", "ROLLED_BACK")
    undone = engine.wait(op.id, UNDONE, timeout=20)
    assert undone.state == "ROLLED_BACK" and undone.direction == "rollback"
    assert ledger.resources == {}
    order = rollback_order(ledger)
    assert order[0] == "d" and set(order[1:3]) == {"b", "c"} and order[3] == "a"
    states = {task.name: task.state.value for task in undone.tasks}
    # e failed before recording any side effect and f never ran: nothing to undo there.
    assert states == {"a": "ROLLED_BACK", "b": "ROLLED_BACK", "c": "ROLLED_BACK",
                      "d": "ROLLED_BACK", "e": "FAILED", "f": "PENDING"}
    assert undone.task("a").result == {"resource": "a", "key": f"{op.id}:a"}  # kept
    # Rolling back again is asking for the state it is in: nothing happens.
    seq = len(events_of(store, op.id))
    assert engine.rollback(op.id) == undone
    assert len(events_of(store, op.id)) == seq and rollback_order(ledger) == order


def test_rollback_of_a_completed_operation(engine: Engine, ledger: Ledger) -> None:
    op, _ = engine.submit("test", [TaskSpec("a", "ledger"),
                                   TaskSpec("b", "ledger", {"precondition_false": True},
                                            ("a",)),
                                   TaskSpec("c", "noop", depends_on=("b",))])
    assert engine.wait(op.id, DONE, timeout=20).state == "COMPLETED"
    engine.rollback(op.id)
    undone = engine.wait(op.id, UNDONE, timeout=20)
    assert undone.state == "ROLLED_BACK" and ledger.resources == {}
    assert [task.state.value for task in undone.tasks] == ["ROLLED_BACK", "SKIPPED",
                                                           "ROLLED_BACK"]


def test_a_failing_rollback_is_retried(engine: Engine, ledger: Ledger) -> None:
    op, _ = engine.submit("test", [TaskSpec("a", "ledger"),
                                   TaskSpec("b", "ledger", {"fail_rollback": 1}, ("a",))])
    assert engine.wait(op.id, DONE, timeout=20).state == "COMPLETED"
    engine.rollback(op.id)
    stuck = engine.wait(op.id, UNDONE, timeout=20)
    assert stuck.state == "FAILED_TEMP" and stuck.direction == "rollback"
    assert stuck.task("b").state == "ROLLBACK_FAILED"
    assert stuck.task("b").error == "rollback raised RuntimeError: injected failure of the " \
        "rollback of b"
    assert stuck.error is not None and stuck.error.startswith("task 'b' rollback failed")
    assert stuck.task("a").state == "SUCCEEDED"  # waits for its dependent
    assert len(ledger.resources) == 2
    retried = engine.retry(op.id)
    assert retried.state in ("ROLLING_BACK", "ROLLED_BACK")
    undone = engine.wait(op.id, UNDONE, timeout=20)
    assert undone.state == "ROLLED_BACK" and ledger.resources == {}
    assert undone.task("b").attempt == 2 and undone.task("a").attempt == 1
    assert rollback_order(ledger) == ["b", "b", "a"]


def test_rollback_of_a_cancelled_operation_removes_what_the_cancelled_task_made(
        engine: Engine, ledger: Ledger) -> None:
    op, _ = engine.submit("test", [
        TaskSpec("a", "ledger"),
        TaskSpec("b", "ledger", {"delay": 30, "cooperative": True}, ("a",), cancellable=True)])
    wait_until(lambda: any(e["event"] == "start" and e["task"] == "b" for e in ledger.log()),
               what="b to start")
    engine.cancel(op.id)
    wait_until(lambda: task_state(engine, op.id, "b") == "CANCELLED", what="b to stop")
    engine.rollback(op.id)
    undone = engine.wait(op.id, UNDONE, timeout=20)
    assert undone.state == "ROLLED_BACK" and ledger.resources == {}
    assert rollback_order(ledger) == ["b", "a"]
