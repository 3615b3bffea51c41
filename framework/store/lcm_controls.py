"""What the operator's retry and rollback change in an operation's tasks, in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy import bindparam as _b

from framework.engine import dag
from framework.engine.book import OperationBook
from framework.engine.model import Direction
from framework.engine.model import TaskState as Task
from framework.store import lcm_sql as sql
from framework.store.tables import lcm_tasks as T  # noqa: N811 - short names read better


def retry_tasks(conn: Connection, op: OperationBook) -> None:
    """FAILED tasks back to PENDING, or ROLLBACK_FAILED ones to claim again; attempt + 1."""
    failed = Task.ROLLBACK_FAILED if op.direction is Direction.ROLLBACK else Task.FAILED
    this = (T.c.operation_id == op.id, T.c.state == failed)
    values: dict[str, Any] = {"attempt": T.c.attempt + 1, "version": T.c.version + 1}
    if failed is Task.FAILED:
        for name, attempt in conn.execute(select(T.c.name, T.c.attempt).where(*this)):
            op.task_moved(name, Task.FAILED, Task.PENDING, attempt + 1)
            op.ready += 1  # it had no dependency left when it ran
        values.update(state=Task.PENDING, result=None, error=None, reason=None,
                      abandoned=False, started_at=None, finished_at=None)
    conn.execute(update(T).where(*this).values(**values))


def mark_compensation(conn: Connection, op: OperationBook) -> None:
    """Set ``rdeps_left`` of the tasks to compensate (NULL for the others)."""
    rows = conn.execute(select(T.c.state, T.c.side_effects, T.c.dependents)
                        .where(T.c.operation_id == op.id).order_by(T.c.idx)).all()
    counts = dag.compensation_counts([(Task(row.state), row.side_effects != "[]",
                                       sql.loads(row.dependents)) for row in rows])
    conn.execute(update(T).where(T.c.operation_id == op.id, T.c.rdeps_left.is_not(None))
                 .values(rdeps_left=None))
    if counts:
        conn.execute(update(T).where(T.c.operation_id == op.id, T.c.idx == _b("b_i"))
                     .values(rdeps_left=_b("b_n")),
                     [{"b_i": index, "b_n": count} for index, count in counts.items()])
    op.direction, op.rollback_left = Direction.ROLLBACK, len(counts)
