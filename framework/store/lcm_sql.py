"""The SQL of the lifecycle repository, built once: building and hashing a Core statement
costs more than running it on SQLite."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Boolean, Connection, and_, case, select, text, update
from sqlalchemy import bindparam as _b

from framework.engine import events, machine
from framework.engine.book import OperationBook
from framework.engine.model import OperationState as Op
from framework.engine.model import TaskState as Task
from framework.store.tables import lcm_operations as O  # noqa: N811 - short names read better
from framework.store.tables import lcm_tasks as T  # noqa: N811
from framework.store.tables import outbox

# The statements of the hot paths are built once: building and hashing a Core statement
# costs more than running it on SQLite. Terms repeating the WHERE of a partial index are
# literal, not bound, so that the planners can always use the index.
IS_PENDING = text("lcm_tasks.state = 'PENDING'")
IS_LEASED = text("lcm_tasks.lease_owner IS NOT NULL")
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
        T.c.operation_id == OP, T.c.rdeps_left == 0, T.c.state.in_(sorted(machine.COMPENSABLE)),
    ).order_by(T.c.idx.desc()),
}
TASK = update(T).where(T.c.operation_id == OP, T.c.idx == _b("b_i"), T.c.version == _b("b_v"))
HELD = TASK.where(T.c.lease_owner == _b("b_owner"))
LEASING = {Op.PROCESSING: TASK.values(STARTED), None: TASK.values(LEASE),
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


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def flush(conn: Connection, op: OperationBook) -> None:
    """Write the operation's events and its row (nothing if nothing happened)."""
    if op.events:
        conn.execute(outbox.insert(), [
            {"topic": events.TOPIC, "key": op.id, "payload": dumps(event), "headers": None,
             "created_at": op.now} for event in op.events])
        conn.execute(FLUSH, {"b_op": op.id, **{f"b_{k}": v for k, v in op.row().items()}})
