"""The SQL of the lifecycle repository, built once: building and hashing a Core statement
costs more than running it on SQLite."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Connection, and_, case, select, text, union_all, update
from sqlalchemy import bindparam as _b

from framework.engine import events, machine
from framework.engine.book import OperationBook
from framework.engine.model import Direction, OperationView, TaskView
from framework.engine.model import OperationState as Op
from framework.engine.model import TaskState as Task
from framework.engine.ports import NewOperation
from framework.store import outbox_rows
from framework.store.prepared import Prepared
from framework.store.tables import lcm_attachments
from framework.store.tables import lcm_operations as O  # noqa: N811 - short names read better
from framework.store.tables import lcm_tasks as T  # noqa: N811

# The statements of the hot paths are built once: building and hashing a Core statement
# costs more than running it on SQLite. Terms repeating the WHERE of a partial index are
# literal, not bound, so that the planners can always use the index.
IS_PENDING = text("lcm_tasks.state = 'PENDING'")
IS_LEASED = text("lcm_tasks.lease_owner IS NOT NULL")
# Literal too: a list bound to IN is expanded when run, which no prepared statement can be.
IS_COMPENSABLE = text("lcm_tasks.state IN ({})".format(
    ", ".join(f"'{state}'" for state in sorted(machine.COMPENSABLE))))
OP: Any = _b("b_op")
LOCK = select(O.c.state, O.c.direction, O.c.seq, O.c.version, O.c.error, O.c.tasks_left,
               O.c.rollback_left, O.c.ready, O.c.kind).where(O.c.id == OP)
FLUSH = update(O).where(O.c.id == OP).values({name: _b(f"b_{name}") for name in (
    "state", "direction", "seq", "error", "tasks_left", "ready", "rollback_left", "updated_at",
    "version")})
CLAIMED = (T.c.idx, T.c.name, T.c.type, T.c.params, T.c.attempt, T.c.depends_on,
            T.c.dependents, T.c.side_effects, T.c.timeout, T.c.cancellable, T.c.version,
            T.c.state)
LEASE = {"lease_owner": _b("b_owner"), "lease_expires": _b("b_until"),
          "version": T.c.version + 1, "abandoned": False}
STARTED = {**LEASE, "state": Task.RUNNING, "started_at": _b("b_now"), "finished_at": None}
READY = {  # the tasks of an operation to claim now, in each of the states that run some
    Op.PROCESSING: select(*CLAIMED).where(T.c.operation_id == OP, IS_PENDING,
                                           T.c.deps_left == 0).order_by(T.c.idx),
    Op.ROLLING_BACK: select(*CLAIMED).where(
        T.c.operation_id == OP, T.c.rdeps_left == 0, IS_COMPENSABLE,
    ).order_by(T.c.idx.desc()),
}
TASK = update(T).where(T.c.operation_id == OP, T.c.idx == _b("b_i"), T.c.version == _b("b_v"))
HELD = TASK.where(T.c.lease_owner == _b("b_owner"))
# a forward claim records the side effect the task's type declares with the lease
LEASING = {Op.PROCESSING: TASK.values({**STARTED, "side_effects": _b("b_effects")}),
           None: TASK.values(LEASE),
           Op.ROLLING_BACK: TASK.values({**LEASE, "state": Task.ROLLING_BACK})}
RECORD = HELD.values(side_effects=_b("b_effects"))
FINISH = HELD.values(
    state=_b("b_state"), error=_b("b_error"), reason=_b("b_reason"),
    abandoned=_b("b_abandoned"), finished_at=_b("b_now"), lease_owner=None, lease_expires=None,
    version=T.c.version + 1,
    # A rollback keeps the forward result; a task rolled back is no longer to compensate.
    result=case((_b("b_back", type_=Boolean), T.c.result), else_=_b("b_result")),
    rdeps_left=case((_b("b_rolled_back", type_=Boolean), None), else_=T.c.rdeps_left))
DEPENDENTS = update(T).where(T.c.operation_id == OP, T.c.idx.in_(_b("b_idx", expanding=True)))
UNWIND = DEPENDENTS.where(T.c.rdeps_left.is_not(None)) \
    .values(rdeps_left=T.c.rdeps_left - _b("b_n"))
# With b_start, the dependents it unblocks are leased at once (SET sees the old values).
_starts = and_(T.c.deps_left == _b("b_n"), IS_PENDING, _b("b_start", type_=Boolean))
UNBLOCK = DEPENDENTS.values(
    {T.c.deps_left: T.c.deps_left - _b("b_n"),
     **{T.c[name]: case((_starts, value), else_=T.c[name]) for name, value in STARTED.items()}},
).returning(*CLAIMED, T.c.deps_left)


#: The rows an operation's creation inserts, and what every state change writes.
INSERT_OPERATION = Prepared(O.insert(), [
    "id", "kind", "request", "idempotency_key", "created_at", "state", "direction", "seq",
    "error", "tasks_left", "ready", "rollback_left", "updated_at", "version"])
INSERT_TASK = Prepared(T.insert(), [
    "operation_id", "idx", "name", "type", "params", "depends_on", "dependents", "timeout",
    "cancellable", "state", "deps_left", "rdeps_left", "attempt", "version", "side_effects",
    "abandoned", "lease_owner", "lease_expires", "started_at"])
INSERT_ATTACHMENT = Prepared(lcm_attachments.insert(), ["operation_id", "name", "content"])
WRITE_OPERATION = Prepared(FLUSH)
LOCKS = {skip: Prepared(LOCK.with_for_update(skip_locked=skip)) for skip in (False, True)}
LOCK_SQLITE = Prepared(LOCK)  # every writing transaction of SQLite holds the write lock
READY_PREPARED = {state: {pg: Prepared((stmt.with_for_update(skip_locked=True) if pg else stmt)
                                       .limit(_b("b_limit"))) for pg in (False, True)}
                  for state, stmt in READY.items()}
LEASE_PREPARED = {state: Prepared(stmt) for state, stmt in LEASING.items()}
FINISH_PREPARED = Prepared(FINISH)
RECORD_PREPARED = Prepared(RECORD)
LEASES = Prepared(select(T.c.operation_id, T.c.idx, T.c.lease_owner, T.c.lease_expires,
                         T.c.version).where(IS_LEASED))
# One probe per operation processing (its counter) or rolling back (an index).
_compensable = select(T.c.idx).where(
    T.c.operation_id == O.c.id, T.c.rdeps_left == 0, IS_COMPENSABLE).exists()
# Each half takes the oldest ``b_limit`` of its state along the (state, created_at) index
# before they are merged: ordering the union itself would read and sort every operation
# waiting to run, a cost that grows with the backlog on every scan of the scheduler.
_runnable = union_all(*(
    select(half.c.id, half.c.created_at) for half in (
        select(O.c.id, O.c.created_at).where(where).order_by(O.c.created_at)
        .limit(_b("b_limit")).subquery()
        for where in ((O.c.state == Op.PROCESSING) & (O.c.ready > 0),
                      (O.c.state == Op.ROLLING_BACK) & _compensable))
)).subquery()
RUNNABLE = Prepared(select(_runnable.c.id).order_by(_runnable.c.created_at)
                    .limit(_b("b_limit")))


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> str:
    """Compact JSON, as ``json.dumps(value, separators=(",", ":"), allow_nan=False)``."""
    return _ENCODER.encode(value)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def event_rows(op: OperationBook) -> list[dict[str, Any]]:
    """The outbox rows of the operation's events."""
    return [{"topic": events.TOPIC, "key": op.id, "payload": dumps(event), "headers": None,
             "created_at": op.now} for event in op.events]


def flush(conn: Connection, op: OperationBook,
          notices: Sequence[dict[str, Any]] = ()) -> None:
    """Write the operation's events and its row (nothing if nothing happened), after
    ``notices``, outbox rows of the same transaction, in one insert."""
    if op.events or notices:
        outbox_rows.write(conn, [*notices, *event_rows(op)])
    if op.events:
        WRITE_OPERATION.run(conn, {"b_op": op.id,
                                   **{f"b_{k}": v for k, v in op.row().items()}})


def task_row(new: NewOperation, index: int, started: bool) -> dict[str, Any]:
    """The row of a new task: PENDING, or RUNNING under the lease of ``new.start``."""
    task = new.tasks[index]
    row = {"operation_id": new.id, "idx": index, "name": task.name, "type": task.type,
           "params": dumps(task.params), "depends_on": dumps(task.depends_on),
           "dependents": dumps(task.dependents), "timeout": task.timeout,
           "cancellable": task.cancellable, "state": Task.PENDING,
           "deps_left": len(task.depends_on), "rdeps_left": None, "attempt": 1, "version": 0,
           "side_effects": "[]", "abandoned": False, "lease_owner": None,
           "lease_expires": None, "started_at": None}
    if started and new.start is not None:
        row.update(state=Task.RUNNING, version=1, lease_owner=new.start.owner,
                   lease_expires=new.start.until, started_at=new.created_at,
                   side_effects=dumps([dict(e) for e in new.start.side_effects(index)]))
    return row


def operation_view(op: Any, rows: Sequence[Any]) -> OperationView:
    """The view of an operation's row and the rows of its tasks (in their order)."""
    names = [row.name for row in rows]
    tasks = tuple(TaskView(
        row.name, row.type, Task(row.state), row.attempt,
        tuple(names[i] for i in loads(row.depends_on)), loads(row.params), row.started_at,
        row.finished_at, row.error, loads(row.result), tuple(loads(row.side_effects)),
        bool(row.abandoned), row.reason) for row in rows)
    return OperationView(op.id, op.kind, Op(op.state), Direction(op.direction),
                         loads(op.request), op.error, op.created_at, op.updated_at, tasks)
