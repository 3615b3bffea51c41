"""Who writes a task's outcome: the lone running task itself, else the scheduler for all."""

from __future__ import annotations

from typing import Any

import pytest

from engine.helpers import EngineFactory
from framework.engine import TaskSpec
from framework.store.lcm import SqlRepository

DONE = {"COMPLETED", "FAILED_TEMP"}


@pytest.fixture
def writes(repository: SqlRepository, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``"here"`` for each outcome written by its task's thread (``finish``), ``"scheduler"``
    for each batch the scheduler wrote (``finish_many``); the first ``finish`` fails when
    ``writes.append("fail")`` came first."""
    calls: list[str] = []
    finish_many = repository.finish_many

    def here(operation_id: str, outcomes: Any, **kwargs: Any) -> Any:
        if calls and calls[-1] == "fail":
            calls[-1] = "failed here"
            raise RuntimeError("injected: the store is away")
        calls.append("here")
        return finish_many({operation_id: outcomes}, **kwargs)[operation_id]

    def batch(outcomes: Any, **kwargs: Any) -> Any:
        calls.append("scheduler")
        return finish_many(outcomes, **kwargs)

    monkeypatch.setattr(repository, "finish", here)
    monkeypatch.setattr(repository, "finish_many", batch)
    return calls


def test_a_chain_is_finished_link_by_link_by_its_own_tasks(make_engine: EngineFactory,
                                                           writes: list[str]) -> None:
    engine = make_engine()
    chain = [TaskSpec("a", "ledger"), TaskSpec("b", "ledger", depends_on=("a",)),
             TaskSpec("c", "ledger", depends_on=("b",))]
    op, _ = engine.submit("test", chain)
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED"
    assert [task.state for task in done.tasks] == ["SUCCEEDED"] * 3
    assert writes == ["here"] * 3


def test_an_outcome_its_task_could_not_write_is_written_by_the_scheduler(
        make_engine: EngineFactory, writes: list[str]) -> None:
    engine = make_engine()
    writes.append("fail")
    op, _ = engine.submit("test", [TaskSpec("a", "ledger")])
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED" and done.task("a").state == "SUCCEEDED"
    assert writes[:2] == ["failed here", "scheduler"]


def test_tasks_running_together_have_their_outcomes_written_by_the_scheduler(
        make_engine: EngineFactory, writes: list[str]) -> None:
    engine = make_engine(workers=4)
    tasks = [TaskSpec(name, "ledger", {"delay": 0.2}) for name in "abcd"]
    op, _ = engine.submit("test", tasks)
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED"
    # the last one left running may write its own; the others were running together
    assert writes.count("scheduler") >= 1 and writes.count("here") <= 1
