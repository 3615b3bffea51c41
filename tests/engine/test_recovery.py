"""Leases and recovery: tasks of a dead worker are adopted, re-run or rolled back, never twice."""

from __future__ import annotations

import platform
import subprocess
import time

from engine.helpers import EngineFactory, events_of, wait_until
from engine.ledger import Ledger, ledger_catalog
from framework.engine import TaskSpec, TaskState
from framework.engine.ports import Claim, Outcome
from framework.engine.runner import ADOPTED
from framework.store import Store
from framework.store.lcm import SqlRepository

DONE = {"COMPLETED", "FAILED_TEMP"}
GHOST = "ghost-host:1:dead"  # another host: only its lease expiring frees its tasks


def ghost_claim(repository: SqlRepository, operation_id: str, owner: str = GHOST,
                lease_seconds: float = -1.0) -> Claim:
    """The next runnable task of the operation, leased to a worker that is gone."""
    now = time.time()
    claims = repository.claim(operation_id, owner=owner, want=1, now=now,
                              lease_until=now + lease_seconds)
    assert len(claims) == 1
    return claims[0]


def test_a_task_whose_postcondition_holds_is_adopted_without_running_again(
        make_engine: EngineFactory, repository: SqlRepository, ledger: Ledger) -> None:
    op, _ = make_engine(start=False).submit("test", [
        TaskSpec("a", "ledger"), TaskSpec("b", "ledger", depends_on=("a",))])
    claim = ghost_claim(repository, op.id)
    # The ghost recorded its side effect, made it, and died before writing the outcome.
    assert repository.record_side_effect(claim, [{"resource": "a",
                                                  "key": claim.idempotency_key}])
    ledger.create(claim.idempotency_key, "a", "a")
    engine = make_engine()
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED"
    assert done.task("a").state == "SUCCEEDED" and done.task("a").reason == ADOPTED
    assert ledger.calls("action", "a") == 0 and ledger.calls("postcondition", "a") == 1
    assert ledger.calls("action", "b") == 1


def test_a_task_whose_postcondition_fails_runs_again_with_the_same_key(
        make_engine: EngineFactory, repository: SqlRepository, ledger: Ledger) -> None:
    op, _ = make_engine(start=False).submit("test", [TaskSpec("a", "ledger")])
    claim = ghost_claim(repository, op.id)
    # The ghost recorded its side effect and died before making it.
    effect = {"resource": "a", "key": claim.idempotency_key}
    assert repository.record_side_effect(claim, [effect])
    done = make_engine().wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED"
    assert ledger.calls("action", "a") == 1
    assert ledger.calls("precondition", "a") == 0  # the action may have begun: not asked
    assert ledger.resources == {f"{op.id}:a": {"resource": "a", "task": "a", "creations": 1}}
    assert done.task("a").side_effects == (effect, effect) and done.task("a").attempt == 1


def test_the_tasks_of_a_dead_process_on_this_host_are_recovered_at_once(
        make_engine: EngineFactory, repository: SqlRepository, ledger: Ledger) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    owner = f"{platform.node()}:{dead.pid}:x"
    op, _ = make_engine(start=False).submit("test", [TaskSpec("a", "ledger")])
    ghost_claim(repository, op.id, owner=owner, lease_seconds=3600)  # a lease valid for long
    assert make_engine().wait(op.id, DONE, timeout=10).state == "COMPLETED"
    assert ledger.calls("action", "a") == 1


def test_a_task_left_rolling_back_is_rolled_back_and_the_forward_path_not_resumed(
        make_engine: EngineFactory, repository: SqlRepository, ledger: Ledger) -> None:
    runner = make_engine()
    op, _ = runner.submit("test", [TaskSpec("a", "ledger"),
                                   TaskSpec("b", "ledger", depends_on=("a",))])
    assert runner.wait(op.id, DONE, timeout=20).state == "COMPLETED"
    runner.stop()
    make_engine(start=False).rollback(op.id)
    claim = ghost_claim(repository, op.id)
    assert claim.name == "b" and claim.state is TaskState.ROLLING_BACK
    ledger.delete(claim.idempotency_key)  # the ghost removed it, and died
    undone = make_engine().wait(op.id, {"ROLLED_BACK", "FAILED_TEMP"}, timeout=20)
    assert undone.state == "ROLLED_BACK" and ledger.resources == {}
    assert ledger.calls("rollback", "b") == 1 and ledger.calls("rollback", "a") == 1
    assert ledger.calls("action", "a") == ledger.calls("action", "b") == 1


def test_a_task_of_a_cancelled_operation_found_running_is_cancelled(
        make_engine: EngineFactory, repository: SqlRepository, ledger: Ledger) -> None:
    ctl = make_engine(start=False)
    op, _ = ctl.submit("test", [TaskSpec("a", "ledger")])
    ghost_claim(repository, op.id)
    ctl.cancel(op.id)
    engine = make_engine()
    task = wait_until(lambda: (t := engine.get(op.id).task("a")).state == "CANCELLED" and t,
                      what="the task to be ended")
    assert task.error == f"the lease of {GHOST} lapsed while the operation was CANCELLED"
    assert engine.get(op.id).state == "CANCELLED" and ledger.calls("action", "a") == 0


def test_a_worker_that_lost_its_lease_changes_nothing(
        make_engine: EngineFactory, repository: SqlRepository, store: Store) -> None:
    op, _ = make_engine(start=False).submit("test", [TaskSpec("a", "ledger")])
    claim = ghost_claim(repository, op.id)
    engine = make_engine()
    done = engine.wait(op.id, DONE, timeout=20)  # taken over, run and finished
    assert done.state == "COMPLETED"
    seq = len(events_of(store, op.id))
    now = time.time()
    late = repository.finish(op.id, [Outcome(claim, TaskState.FAILED, error="late")],
                             owner=claim.owner, want=4, now=now, lease_until=now + 60)
    assert late.accepted == (False,) and late.claims == () and late.changed == ()
    assert not repository.record_side_effect(claim, [{"late": True}])
    assert engine.get(op.id) == done and len(events_of(store, op.id)) == seq


def test_two_engines_share_an_operation_and_run_each_task_once(
        make_engine: EngineFactory, ledger: Ledger, store: Store) -> None:
    one = make_engine(worker_id="one", catalog=ledger_catalog(ledger, "one"))
    two = make_engine(worker_id="two", catalog=ledger_catalog(ledger, "two"), own_store=True)
    roots = [TaskSpec(f"r{i}", "ledger", {"delay": 0.2}) for i in range(12)]
    join = TaskSpec("join", "ledger", depends_on=tuple(spec.name for spec in roots))
    tail = [TaskSpec(f"t{i}", "ledger", depends_on=("join",)) for i in range(6)]
    op, _ = one.submit("test", [*roots, join, *tail])
    assert two.wait(op.id, DONE, timeout=30).state == "COMPLETED"
    names = [spec.name for spec in (*roots, join, *tail)]
    assert [ledger.calls("action", name) for name in names] == [1] * len(names)
    assert {e["worker"] for e in ledger.log() if e["event"] == "start"} == {"one", "two"}
    assert [e["seq"] for e in events_of(store, op.id)] == \
        list(range(1, len(events_of(store, op.id)) + 1))
