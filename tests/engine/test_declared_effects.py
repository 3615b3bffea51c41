"""Declared side effects: recorded with the lease that starts a task (its creation's, a claim's,
or the one that unblocks it), or, when that could not say, just before its action."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from engine.helpers import EngineFactory
from framework.engine import ActionFailed, TaskCatalog, TaskContext, TaskSpec, TaskType
from framework.store.lcm import SqlRepository

DONE = {"COMPLETED", "FAILED_TEMP"}


class Declaring(TaskType):
    """Declares ``{"made": <key>}``; its action keeps what it saw recorded when it began,
    fails when ``params.fail``, and the rollback keeps what it was given to remove."""

    def __init__(self) -> None:
        self.seen: dict[str, list[dict[str, Any]]] = {}
        self.rolled_back: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def declared_side_effect(self, ctx: TaskContext) -> Mapping[str, Any] | None:
        if ctx.params.get("declare_raises"):
            raise ValueError("cannot say")
        return {"made": ctx.idempotency_key}

    def action(self, ctx: TaskContext) -> Mapping[str, Any]:
        with self._lock:
            self.seen[ctx.task] = ctx.side_effects
        if ctx.params.get("fail"):
            raise ActionFailed("injected")
        return {"ok": ctx.task}

    def rollback(self, ctx: TaskContext) -> None:
        with self._lock:
            self.rolled_back[ctx.task] = ctx.side_effects


@pytest.fixture
def declaring() -> Declaring:
    return Declaring()


@pytest.fixture
def records(repository: SqlRepository, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the tasks whose side effects were written by a call of their own."""
    calls: list[str] = []
    original = repository.record_side_effect

    def counted(claim: Any, effects: Any) -> bool:
        calls.append(claim.name)
        return original(claim, effects)

    monkeypatch.setattr(repository, "record_side_effect", counted)
    return calls


def test_a_task_started_by_its_creation_has_its_effect_recorded_with_the_lease(
        make_engine: EngineFactory, declaring: Declaring, records: list[str]) -> None:
    engine = make_engine(catalog=TaskCatalog({"declaring": declaring}))
    op, _ = engine.submit("test", [TaskSpec("a", "declaring")])
    assert op.task("a").state == "RUNNING"
    assert op.task("a").side_effects == ({"made": f"{op.id}:a"},)
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED"
    assert declaring.seen["a"] == [{"made": f"{op.id}:a"}]
    assert done.task("a").side_effects == ({"made": f"{op.id}:a"},)
    assert records == []  # no write of its own


def test_a_task_unblocked_later_has_its_effect_recorded_with_the_lease_that_starts_it(
        make_engine: EngineFactory, declaring: Declaring, records: list[str]) -> None:
    engine = make_engine(catalog=TaskCatalog({"declaring": declaring}))
    op, _ = engine.submit("test", [TaskSpec("a", "declaring"),
                                   TaskSpec("b", "declaring", depends_on=("a",))])
    assert op.task("b").side_effects == ()
    done = engine.wait(op.id, DONE, timeout=20)
    assert done.state == "COMPLETED"
    assert declaring.seen["b"] == [{"made": f"{op.id}:b"}]
    assert done.task("b").side_effects == ({"made": f"{op.id}:b"},)
    assert records == []  # a's outcome leased b with it, in one transaction


def test_an_operation_submitted_while_every_worker_is_busy_declares_at_the_claim(
        make_engine: EngineFactory, declaring: Declaring, records: list[str]) -> None:
    engine = make_engine(start=False, catalog=TaskCatalog({"declaring": declaring}))
    op, _ = engine.submit("test", [TaskSpec("a", "declaring")])  # no worker: not leased
    assert op.task("a").state == "PENDING" and op.task("a").side_effects == ()
    engine.start()
    done = engine.wait(op.id, DONE, timeout=20)
    assert declaring.seen["a"] == [{"made": f"{op.id}:a"}]
    assert done.task("a").side_effects == ({"made": f"{op.id}:a"},)
    assert records == []  # the scheduler's claim recorded it with the lease


def test_a_retried_task_keeps_its_declared_effect_once(
        make_engine: EngineFactory, declaring: Declaring, records: list[str]) -> None:
    engine = make_engine(catalog=TaskCatalog({"declaring": declaring}))
    op, _ = engine.submit("test", [TaskSpec("a", "declaring", {"fail": True})])
    assert engine.wait(op.id, DONE, timeout=20).state == "FAILED_TEMP"
    engine.retry(op.id)  # attempt 2, claimed by the scheduler
    again = engine.wait(op.id, {"FAILED_TEMP"}, timeout=20)
    assert again.task("a").attempt == 2
    assert declaring.seen["a"] == [{"made": f"{op.id}:a"}]
    assert again.task("a").side_effects == ({"made": f"{op.id}:a"},)
    assert records == []


def test_the_rollback_of_a_failed_task_is_given_its_declared_effect(
        make_engine: EngineFactory, declaring: Declaring) -> None:
    engine = make_engine(catalog=TaskCatalog({"declaring": declaring}))
    op, _ = engine.submit("test", [TaskSpec("a", "declaring", {"fail": True})])
    failed = engine.wait(op.id, DONE, timeout=20)
    assert failed.state == "FAILED_TEMP"
    assert failed.task("a").error == "action raised ActionFailed: injected"
    engine.rollback(op.id)
    rolled = engine.wait(op.id, {"ROLLED_BACK", "FAILED_TEMP"}, timeout=20)
    assert rolled.state == "ROLLED_BACK"
    assert declaring.rolled_back["a"] == [{"made": f"{op.id}:a"}]


def test_a_type_that_cannot_declare_fails_its_task_naming_why(
        make_engine: EngineFactory, declaring: Declaring) -> None:
    engine = make_engine(catalog=TaskCatalog({"declaring": declaring}))
    op, _ = engine.submit("test", [TaskSpec("a", "declaring", {"declare_raises": True})])
    assert op.task("a").side_effects == ()
    failed = engine.wait(op.id, DONE, timeout=20)
    assert failed.task("a").state == "FAILED"
    assert failed.task("a").error == "action raised ValueError: cannot say"
    assert "a" not in declaring.seen
