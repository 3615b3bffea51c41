"""Running operations: order, parallelism, skips, failures, retries, timeouts, submit, plans."""

from __future__ import annotations

import logging

import pytest

from engine.helpers import EngineFactory, events_of, wait_until
from engine.ledger import Ledger
from framework.engine import ActionFailed, Engine, TaskCatalog, TaskContext, TaskSpec, TaskType
from framework.errors import NotFound
from framework.store import Store

DONE = {"COMPLETED", "FAILED_TEMP"}


def diamond(**params: dict[str, object]) -> list[TaskSpec]:
    """a, then b and c in parallel, then d; ``params`` by task name."""
    return [TaskSpec("a", "ledger", params.get("a", {})),
            TaskSpec("b", "ledger", params.get("b", {}), depends_on=("a",)),
            TaskSpec("c", "ledger", params.get("c", {}), depends_on=("a",)),
            TaskSpec("d", "ledger", params.get("d", {}), depends_on=("b", "c"))]


def test_tasks_run_in_dependency_order_and_in_parallel(engine: Engine, ledger: Ledger) -> None:
    op, created = engine.submit("test", diamond(b={"delay": 0.3}, c={"delay": 0.3}),
                                request={"why": "test"})
    assert created and op.state == "PROCESSING" and op.request == {"why": "test"}
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED" and done.sol_state == "COMPLETED"
    assert [task.state for task in done.tasks] == ["SUCCEEDED"] * 4
    at = ledger.position
    assert at("end", "a") < at("start", "b") and at("end", "a") < at("start", "c")
    assert at("start", "b") < at("end", "c") and at("start", "c") < at("end", "b")  # parallel
    assert max(at("end", "b"), at("end", "c")) < at("start", "d")
    assert done.result == {name: {"resource": name, "key": f"{op.id}:{name}"}
                           for name in "abcd"}
    assert sorted(ledger.resources) == [f"{op.id}:{name}" for name in "abcd"]
    task = done.task("b")
    assert task.attempt == 1 and task.started_at and task.finished_at
    assert task.finished_at >= task.started_at
    assert task.side_effects == ({"resource": "b", "key": f"{op.id}:b"},)


def test_false_precondition_skips_and_dependents_still_run(engine: Engine,
                                                          ledger: Ledger) -> None:
    op, _ = engine.submit("test", diamond(b={"precondition_false": True}))
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED"
    skipped = done.task("b")
    assert skipped.state == "SKIPPED" and skipped.reason == "b: precondition_false is set"
    assert done.task("d").state == "SUCCEEDED"
    assert ledger.calls("action", "b") == 0 and f"{op.id}:b" not in ledger.resources


def test_false_postcondition_fails_the_task_and_the_operation(engine: Engine,
                                                              ledger: Ledger) -> None:
    op, _ = engine.submit("test", diamond(b={"fail_postcondition": 1}))
    failed = engine.wait(op.id, DONE, timeout=20)
    assert failed.state == "FAILED_TEMP" and failed.sol_state == "FAILED_TEMP"
    task = failed.task("b")
    assert task.state == "FAILED"
    assert task.error == "postcondition false: injected postcondition failure"
    assert failed.error == "task 'b' failed: postcondition false: injected postcondition failure"
    assert failed.task("d").state == "PENDING"
    assert failed.result is None


def test_retry_runs_only_the_failed_task_again(engine: Engine, ledger: Ledger) -> None:
    chain = [TaskSpec("a", "ledger"), TaskSpec("b", "ledger", {"fail_action": 1}, ("a",)),
             TaskSpec("c", "ledger", depends_on=("b",))]
    op, _ = engine.submit("test", chain)
    failed = engine.wait(op.id, DONE, timeout=20)
    assert failed.state == "FAILED_TEMP"
    assert failed.task("b").error == "action raised RuntimeError: injected failure of the " \
        "action of b"
    assert [task.state for task in failed.tasks] == ["SUCCEEDED", "FAILED", "PENDING"]
    retried = engine.retry(op.id)
    assert retried.state in ("PROCESSING", "COMPLETED") and retried.error is None
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED"
    assert [ledger.calls("action", name) for name in "abc"] == [1, 2, 1]
    assert [task.attempt for task in done.tasks] == [1, 2, 1]
    assert len(ledger.resources) == 3


def test_an_unknown_task_type_fails_the_task_not_the_worker(engine: Engine) -> None:
    op, _ = engine.submit("test", [TaskSpec("a", "no-such-type")])
    failed = engine.wait(op.id, DONE, timeout=20)
    assert failed.state == "FAILED_TEMP"
    assert failed.task("a").error == \
        "unknown task type 'no-such-type' (no plugin provides it in this process)"
    other, _ = engine.submit("test", [TaskSpec("a", "noop")])
    assert engine.wait(other.id, DONE, timeout=20).state == "COMPLETED"


def test_a_task_past_its_timeout_is_abandoned_and_failed(
        engine: Engine, ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="framework.engine.scheduler")
    op, _ = engine.submit("test", [TaskSpec("slow", "ledger", {"delay": 1.0}, timeout=0.2)])
    failed = engine.wait(op.id, DONE, timeout=20)
    task = failed.task("slow")
    assert failed.state == "FAILED_TEMP"
    assert task.state == "FAILED" and task.abandoned and task.error == "timed out after 0.2s"
    # The action still ends, late; what it returns changes nothing.
    wait_until(lambda: "of task slow of operation" in caplog.text and "discarded" in
               caplog.text, what="the late outcome")
    assert engine.get(op.id).task("slow") == task


def test_an_operation_without_tasks_completes_at_once(engine: Engine) -> None:
    op, created = engine.submit("empty", [])
    assert created and op.state == "COMPLETED"
    assert engine.get(op.id).state == "COMPLETED"


def test_the_same_idempotency_key_gives_the_same_operation(engine: Engine,
                                                           store: Store) -> None:
    first, created = engine.submit("test", [TaskSpec("a", "noop")], idempotency_key="k-1")
    again, created_again = engine.submit("test", [TaskSpec("x", "noop")],
                                         idempotency_key="k-1")
    assert created and not created_again
    assert again.id == first.id and [task.name for task in again.tasks] == ["a"]
    other, created_other = engine.submit("test", [TaskSpec("a", "noop")],
                                         idempotency_key="k-2")
    assert created_other and other.id != first.id
    assert len(engine.list()) == 2
    assert [e["seq"] for e in events_of(store, first.id)][:1] == [1]


@pytest.mark.parametrize("tasks", [
    [TaskSpec("a", "noop"), TaskSpec("a", "noop")],
    [TaskSpec("a", "noop", depends_on=("nope",))],
    [TaskSpec("a", "noop", depends_on=("b",)), TaskSpec("b", "noop", depends_on=("a",))],
])
def test_an_invalid_graph_persists_nothing(make_engine: EngineFactory, store: Store,
                                           tasks: list[TaskSpec]) -> None:
    engine = make_engine(start=False)
    with pytest.raises(ValueError):
        engine.submit("test", tasks)
    with pytest.raises(ValueError):
        engine.dry_run(tasks)
    assert engine.list() == []


def test_dry_run_evaluates_preconditions_and_persists_nothing(make_engine: EngineFactory,
                                                              ledger: Ledger) -> None:
    engine = make_engine(start=False)
    plan = engine.dry_run(diamond(c={"precondition_false": True}, d={"fail_action": 1}),
                          request={"q": 1})
    assert plan["operationId"] is None and plan["request"] == {"q": 1}
    assert plan["order"] == ["a", "b", "c", "d"]
    assert plan["levels"] == [["a"], ["b", "c"], ["d"]]
    assert plan["rollbackOrder"] == ["d", "c", "b", "a"]
    verdicts = {task["name"]: task["precondition"] for task in plan["tasks"]}
    assert verdicts["a"] == {"ok": True, "reason": ""}
    assert verdicts["c"] == {"ok": False, "reason": "c: precondition_false is set"}
    assert engine.list() == [] and ledger.calls("action", "a") == 0


def test_plan_of_a_persisted_operation(engine: Engine) -> None:
    op, _ = engine.submit("test", diamond(b={"fail_action": 1}))
    engine.wait(op.id, DONE, timeout=20)
    plan = engine.plan(op.id)
    assert plan["operationId"] == op.id and plan["state"] == "FAILED_TEMP"
    states = {task["name"]: (task["state"], task["precondition"]) for task in plan["tasks"]}
    assert states["a"] == ("SUCCEEDED", None)
    assert states["d"] == ("PENDING", {"ok": True, "reason": ""})
    # c succeeded (compensated), b failed before recording anything (not compensated).
    assert set(plan["rollbackOrder"]) == {"a", "c"} and plan["rollbackOrder"][-1] == "a"
    with pytest.raises(NotFound):
        engine.plan("no-such-operation")


def test_list_and_get(engine: Engine) -> None:
    ops = [engine.submit("test", [TaskSpec("a", "noop")])[0] for _ in range(3)]
    for op in ops:
        engine.wait(op.id, DONE, timeout=20)
    listed = engine.list()
    assert [op.id for op in listed] == [op.id for op in reversed(ops)]  # newest first
    assert [op.id for op in engine.list(limit=1, offset=1)] == [ops[1].id]
    assert len(engine.list(state="COMPLETED")) == 3 and engine.list(state="PAUSED") == []
    with pytest.raises(ValueError, match="unknown operation state"):
        engine.list(state="DONE")
    with pytest.raises(NotFound):
        engine.get("no-such-operation")
    with pytest.raises(TimeoutError, match="is COMPLETED after 0.05s, not PAUSED"):
        engine.wait(ops[0].id, {"PAUSED"}, timeout=0.05)


def test_stop_finishes_the_running_tasks_and_starts_no_more(make_engine: EngineFactory,
                                                            ledger: Ledger) -> None:
    engine = make_engine()
    op, _ = engine.submit("test", [TaskSpec("a", "ledger", {"delay": 0.3}),
                                   TaskSpec("b", "ledger", depends_on=("a",))])
    wait_until(lambda: ledger.calls("action", "a"), what="a to start")
    engine.stop(timeout=10)
    stopped = engine.get(op.id)
    assert stopped.state == "PROCESSING"
    assert [task.state for task in stopped.tasks] == ["SUCCEEDED", "PENDING"]
    assert ledger.calls("action", "b") == 0
    with pytest.raises(RuntimeError, match="already started"):
        engine.start()
    assert make_engine().wait(op.id, DONE, timeout=20).state == "COMPLETED"


class _Refuses(TaskType):
    """Fails with ActionFailed, keeping the refusal; or with a result that cannot be stored."""

    side_effects = False

    def action(self, ctx: TaskContext) -> None:
        if ctx.params.get("unstorable"):
            raise ActionFailed("refused, unstorably", {"when": object()})
        raise ActionFailed("the peer said ABORT", {"coordinationResult": "ABORT"})


def test_an_action_failed_keeps_its_result_with_the_failed_task(
        make_engine: EngineFactory) -> None:
    engine = make_engine(catalog=TaskCatalog({"refuses": _Refuses()}))
    op, _ = engine.submit("test", [TaskSpec("kept", "refuses")])
    failed = engine.wait(op.id, DONE, timeout=20)
    assert failed.state == "FAILED_TEMP"
    kept = failed.task("kept")
    assert kept.state == "FAILED" and kept.result == {"coordinationResult": "ABORT"}
    assert kept.error == "action raised ActionFailed: the peer said ABORT"
    op, _ = engine.submit("test", [TaskSpec("lost", "refuses", {"unstorable": True})])
    lost = engine.wait(op.id, DONE, timeout=20).task("lost")
    assert lost.state == "FAILED" and lost.result is None
    assert lost.error == "action raised ActionFailed: refused, unstorably"
