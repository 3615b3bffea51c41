"""Which operations the scheduler scans for work: the oldest first, whatever the backlog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import update

from engine.helpers import FAST, EngineFactory
from engine.ledger import Ledger, ledger_catalog
from framework.engine import Engine, TaskSpec
from framework.store import Store, open_store
from framework.store import lcm_sql as sql
from framework.store.lcm import SqlRepository
from framework.store.tables import lcm_operations, lcm_tasks


def _queue(engine: Engine, count: int) -> list[str]:
    """``count`` one-task operations, oldest first, that no worker has taken."""
    return [engine.submit("test", [TaskSpec("a", "ledger")])[0].id for _ in range(count)]


def _set(store: Store, operation_id: str, *, task: dict[str, Any] | None = None,
         **operation: Any) -> None:
    with store.engine.begin() as conn:
        if operation:
            conn.execute(update(lcm_operations).where(lcm_operations.c.id == operation_id)
                         .values(**operation))
        if task is not None:
            conn.execute(update(lcm_tasks).where(lcm_tasks.c.operation_id == operation_id)
                         .values(**task))


def test_runnable_operations_are_the_oldest_of_either_kind_first(
        make_engine: EngineFactory, repository: SqlRepository, store: Store) -> None:
    a, rolling, stuck, busy, e = _queue(make_engine(start=False), 5)
    assert repository.runnable_operations(10) == [a, rolling, stuck, busy, e]
    # rolling back with a task to compensate (done, and none after it left to compensate);
    # rolling back with none yet; processing with no task ready
    _set(store, rolling, state="ROLLING_BACK", task={"state": "SUCCEEDED", "rdeps_left": 0})
    _set(store, stuck, state="ROLLING_BACK")
    _set(store, busy, ready=0)
    assert repository.runnable_operations(10) == [a, rolling, e]
    assert repository.runnable_operations(2) == [a, rolling]
    _set(store, a, ready=0)
    assert repository.runnable_operations(1) == [rolling]


def _steps(store: Store, limit: int) -> int:
    """SQLite's virtual machine instructions (in hundreds) to find ``limit`` runnable
    operations: a count of the work done, the same on every run, unlike a time."""
    steps = 0

    def counted() -> int:
        nonlocal steps
        steps += 1
        return 0

    with store.connect(read_only=True) as conn:
        raw: Any = conn.connection.dbapi_connection
        raw.set_progress_handler(counted, 100)
        try:
            assert len(sql.RUNNABLE.rows(conn, {"b_limit": limit})) == limit
        finally:
            raw.set_progress_handler(None, 0)
    return steps


def test_finding_work_does_not_grow_with_the_backlog(tmp_path: Path, ledger: Ledger) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'backlog.db'}")
    try:
        engine = Engine(SqlRepository(store), ledger_catalog(ledger), **FAST)
        _queue(engine, 20)
        small = _steps(store, 4)
        _queue(engine, 2000)
        # ordering the whole union read every waiting operation: some 34,000 instructions
        # here, against some 300 for the oldest four along the index, whatever the backlog
        assert _steps(store, 4) <= small + 2
    finally:
        store.close()
