"""The operator's controls: pause, resume, cancel (cooperative or not), and what each refuses."""

from __future__ import annotations

import logging
import time

import pytest

from engine.helpers import EngineFactory, events_of, task_state, wait_until
from engine.ledger import Ledger
from framework.engine import Engine, OperationState, TaskSpec, machine
from framework.errors import Conflict, NotFound
from framework.store import Store

DONE = {"COMPLETED", "FAILED_TEMP"}


def started(ledger: Ledger, task: str) -> bool:
    return any(e["event"] == "start" and e["task"] == task for e in ledger.log())


def test_pause_lets_the_running_task_finish_and_starts_nothing_until_resume(
        engine: Engine, ledger: Ledger) -> None:
    op, _ = engine.submit("test", [
        TaskSpec("t1", "ledger"), TaskSpec("t2", "ledger", {"delay": 0.4}, ("t1",)),
        TaskSpec("t3", "ledger", depends_on=("t2",))])
    wait_until(lambda: started(ledger, "t2"), what="t2 to start")
    paused = engine.pause(op.id)
    assert paused.state == "PAUSED" and paused.sol_state == "PROCESSING"
    wait_until(lambda: task_state(engine, op.id, "t2") == "SUCCEEDED", what="t2 to finish")
    with pytest.raises(TimeoutError):  # nothing moves while paused
        engine.wait(op.id, {"COMPLETED"}, timeout=0.3)
    assert task_state(engine, op.id, "t3") == "PENDING" and not started(ledger, "t3")
    resumed_at = time.time()
    assert engine.resume(op.id).state in ("PROCESSING", "COMPLETED")
    assert engine.wait(op.id, DONE, timeout=20).state == "COMPLETED"
    t3 = next(e for e in ledger.log() if e["event"] == "start" and e["task"] == "t3")
    assert t3["at"] >= resumed_at


def test_an_operation_paused_during_its_last_task_completes_on_resume(
        engine: Engine, ledger: Ledger, store: Store) -> None:
    op, _ = engine.submit("test", [TaskSpec("last", "ledger", {"delay": 0.2})])
    wait_until(lambda: started(ledger, "last"), what="the task to start")
    engine.pause(op.id)
    wait_until(lambda: task_state(engine, op.id, "last") == "SUCCEEDED", what="the task")
    assert engine.get(op.id).state == "PAUSED"
    assert engine.resume(op.id).state == "COMPLETED"
    moves = [(e["from"], e["to"]) for e in events_of(store, op.id) if e["entity"] == "operation"]
    assert moves[-3:] == [("PROCESSING", "PAUSED"), ("PAUSED", "PROCESSING"),
                          ("PROCESSING", "COMPLETED")]


def test_a_task_failing_while_paused_fails_the_operation(engine: Engine,
                                                         ledger: Ledger) -> None:
    op, _ = engine.submit("test", [TaskSpec("a", "ledger", {"delay": 0.2, "fail_postcondition": 1}),
                                   TaskSpec("b", "ledger", depends_on=("a",))])
    wait_until(lambda: started(ledger, "a"), what="the task to start")
    engine.pause(op.id)
    assert engine.wait(op.id, {"FAILED_TEMP"}, timeout=10).task("a").state == "FAILED"


def test_cancel_stops_a_cooperative_task(engine: Engine, ledger: Ledger) -> None:
    op, _ = engine.submit("test", [
        TaskSpec("long", "ledger", {"delay": 30, "cooperative": True}, cancellable=True),
        TaskSpec("after", "ledger", depends_on=("long",))])
    wait_until(lambda: started(ledger, "long"), what="the task to start")
    cancelled = engine.cancel(op.id)
    assert cancelled.state == "CANCELLED" and cancelled.sol_state == "FAILED_TEMP"
    wait_until(lambda: task_state(engine, op.id, "long") == "CANCELLED", timeout=5,
               what="the task to stop")
    task = engine.get(op.id).task("long")
    assert not task.abandoned and task.reason == "cancelled while running"
    assert any(e["event"] == "stopped" for e in ledger.log())
    assert task_state(engine, op.id, "after") == "PENDING"
    # Its side effect stays recorded, for a rollback to remove.
    assert task.side_effects == ({"resource": "long", "key": f"{op.id}:long"},)


def test_cancel_abandons_a_task_that_does_not_stop(engine: Engine, ledger: Ledger,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="framework.engine.scheduler")
    op, _ = engine.submit("test", [TaskSpec("stubborn", "ledger", {"delay": 1.0})])
    wait_until(lambda: started(ledger, "stubborn"), what="the task to start")
    engine.cancel(op.id)
    wait_until(lambda: task_state(engine, op.id, "stubborn") == "CANCELLED", timeout=5,
               what="the task to be abandoned")
    task = engine.get(op.id).task("stubborn")
    assert task.abandoned and "abandoned" in (task.reason or "")
    # The action ends later; its outcome is refused and the task stays as it is.
    wait_until(lambda: "of task stubborn of operation" in caplog.text, what="the late outcome")
    assert engine.get(op.id).task("stubborn") == task
    assert any(e["event"] == "end" for e in ledger.log())


def test_cancel_from_another_engine_reaches_the_running_task(
        make_engine: EngineFactory, ledger: Ledger) -> None:
    worker = make_engine()
    operator = make_engine(start=False)  # as if in another process: no shared memory
    op, _ = operator.submit("test", [
        TaskSpec("long", "ledger", {"delay": 30, "cooperative": True}, cancellable=True)])
    wait_until(lambda: started(ledger, "long"), what="the task to start")
    operator.cancel(op.id)
    wait_until(lambda: task_state(worker, op.id, "long") == "CANCELLED", timeout=5,
               what="the worker to see the cancel")
    assert not worker.get(op.id).task("long").abandoned


def operations_in_every_state(make_engine: EngineFactory) -> dict[str, str]:
    """One operation id per operation state."""
    runner = make_engine()
    completed, _ = runner.submit("test", [TaskSpec("a", "ledger")])
    completed_2, _ = runner.submit("test", [TaskSpec("a", "ledger")])
    failed_temp, _ = runner.submit("test", [TaskSpec("a", "ledger", {"fail_action": 9})])
    for op in (completed, completed_2, failed_temp):
        runner.wait(op.id, DONE, timeout=20)
    runner.stop()
    ctl = make_engine(start=False)  # no workers: what is submitted stays PROCESSING
    ids = {"COMPLETED": completed.id, "FAILED_TEMP": failed_temp.id}
    ids["PROCESSING"] = ctl.submit("test", [TaskSpec("a", "ledger")])[0].id
    ids["PAUSED"] = ctl.pause(ctl.submit("test", [TaskSpec("a", "ledger")])[0].id).id
    ids["CANCELLED"] = ctl.cancel(ctl.submit("test", [TaskSpec("a", "ledger")])[0].id).id
    ids["FAILED"] = ctl.fail(ctl.cancel(ctl.submit("test", [TaskSpec("a", "ledger")])[0].id)
                             .id).id
    ids["ROLLING_BACK"] = ctl.rollback(completed_2.id).id  # no worker to compensate it
    ids["ROLLED_BACK"] = ctl.rollback(ctl.submit("test", [TaskSpec("a", "ledger")])[0].id).id
    for state, op_id in ids.items():
        assert ctl.get(op_id).state == state
    return ids


def test_controls_refused_or_idempotent_in_every_state(make_engine: EngineFactory,
                                                       store: Store) -> None:
    ids = operations_in_every_state(make_engine)
    ctl = make_engine(start=False)
    for state, op_id in ids.items():
        for name, control in machine.CONTROLS.items():
            before = ctl.get(op_id)
            seq = len(events_of(store, op_id))
            if state in control.allowed_from:
                continue  # the transitions themselves are tested one by one
            if state in control.settled_in:
                assert getattr(ctl, name)(op_id) == before, (name, state)
            else:
                with pytest.raises(Conflict, match=f"cannot {name} an operation in state "
                                                   f"{state}"):
                    getattr(ctl, name)(op_id)
            assert ctl.get(op_id) == before and len(events_of(store, op_id)) == seq


@pytest.mark.parametrize("control", list(machine.CONTROLS))
def test_controls_of_an_unknown_operation(make_engine: EngineFactory, control: str) -> None:
    with pytest.raises(NotFound):
        getattr(make_engine(start=False), control)("no-such-operation")


def test_repeated_controls_change_nothing_more(make_engine: EngineFactory,
                                               store: Store) -> None:
    ctl = make_engine(start=False)
    op, _ = ctl.submit("test", [TaskSpec("a", "ledger")])
    for control, state in (("pause", "PAUSED"), ("resume", "PROCESSING"),
                           ("cancel", "CANCELLED"), ("fail", "FAILED")):
        first = getattr(ctl, control)(op.id)
        seq = len(events_of(store, op.id))
        again = getattr(ctl, control)(op.id)
        assert first.state == again.state == state
        assert len(events_of(store, op.id)) == seq
    assert OperationState.FAILED in machine.CONTROLS["fail"].settled_in
