"""The task rows of the lifecycle repository as its transactions lease and finish them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from framework.engine import machine
from framework.engine.book import OperationBook, by_count
from framework.engine.model import OperationState as Op
from framework.engine.model import TaskState as Task
from framework.engine.model import clip
from framework.engine.ports import Claim, Declare, Outcome
from framework.store import lcm_sql as sql


def declared(declare: Declare | None, operation_id: str, rows: Sequence[Any],
             ) -> list[tuple[list[dict[str, Any]], bool]]:
    """The side effects of each task row once its lease records the one its type declares
    (``declare``), when it is not recorded already; and whether that added it."""
    effects = []
    for row in rows:
        recorded: list[dict[str, Any]] = sql.loads(row.side_effects)
        effect = None if declare is None else declare(
            operation_id, row.name, row.type, sql.loads(row.params), row.attempt)
        if effect is not None and dict(effect) not in recorded:
            effects.append(([*recorded, dict(effect)], True))
        else:
            effects.append((recorded, False))
    return effects


def claim_forward(conn: Connection, op: OperationBook, rows: Sequence[Any], owner: str,
                  lease_until: float, declare: Declare | None) -> list[Claim]:
    """Lease ``rows``, tasks of ``op`` that are PENDING, to run now, each with its declared
    side effect (:func:`declared`) recorded in the same statement."""
    effects = [recorded for recorded, _added in declared(declare, op.id, rows)]
    update_rows(conn, sql.LEASE_PREPARED[Op.PROCESSING],
                {"b_op": op.id, "b_owner": owner, "b_until": lease_until, "b_now": op.now},
                rows, [{"b_effects": sql.dumps(recorded)} for recorded in effects])
    return [claim_of(op.id, row, Task.RUNNING, row.version + 1, owner, effects=recorded)
            for row, recorded in zip(rows, effects, strict=True)]


def unblock(conn: Connection, op: OperationBook, owner: str, want: int, lease_until: float,
            declare: Declare | None) -> list[Claim]:
    """Decrement the dependents' ``deps_left``, leasing at once those that reach 0 when
    they all fit in ``want`` (the common case of a chain), with their declared side
    effects recorded; count the others as ready."""
    start = op.state is Op.PROCESSING and len(op.unblocked) <= want
    claims = []
    for n, indexes in by_count(op.unblocked).items():
        rows = conn.execute(sql.UNBLOCK, {
            "b_op": op.id, "b_n": n, "b_idx": indexes, "b_start": start, "b_owner": owner,
            "b_until": lease_until, "b_now": op.now}).all()
        started = [row for row in rows if row.deps_left == 0]
        op.ready += 0 if start else len(started)
        if not start:
            continue
        effects = declared(declare, op.id, started)
        added = [(row, recorded)
                 for row, (recorded, new) in zip(started, effects, strict=True) if new]
        update_rows(conn, sql.RECORD_PREPARED, {"b_op": op.id, "b_owner": owner},
                    [row for row, _ in added],
                    [{"b_effects": sql.dumps(recorded)} for _, recorded in added])
        for row, (recorded, _new) in zip(started, effects, strict=True):
            op.task_moved(row.name, Task.PENDING, Task.RUNNING, row.attempt)
            claims.append(claim_of(op.id, row, Task.RUNNING, row.version, owner,
                                   effects=recorded))
    return claims


def update_rows(conn: Connection, stmt: Any, values: Mapping[str, Any], rows: Sequence[Any],
                each: Sequence[Mapping[str, Any]] | None = None) -> None:
    """Run ``stmt``, an update of task ``rows`` that checks each one's version, with
    ``values`` and the row's own parameters from ``each``; RuntimeError if a row changed."""
    own = each if each is not None else [{}] * len(rows)
    if rows and stmt.many(conn, [{**values, **mine, "b_i": row.idx, "b_v": row.version}
                                 for row, mine in zip(rows, own, strict=True)]) != len(rows):
        raise RuntimeError("tasks changed while their operation was locked")


def write_outcome(conn: Connection, o: Outcome, now: float) -> bool:
    """Write ``o`` if its claim still holds the task (lease owner and version); whether it did."""
    machine.check_task(o.claim.state, o.state)
    return sql.FINISH_PREPARED.run(conn, {
        "b_op": o.claim.operation_id, "b_i": o.claim.index, "b_v": o.claim.version,
        "b_owner": o.claim.owner, "b_state": o.state, "b_error": clip(o.error),
        "b_reason": clip(o.reason), "b_abandoned": o.abandoned, "b_now": now,
        "b_result": None if o.result is None else sql.dumps(o.result),
        "b_back": o.claim.state is Task.ROLLING_BACK,
        "b_rolled_back": o.state is Task.ROLLED_BACK}) == 1


def claim_of(operation_id: str, row: Any, state: Task, version: int, owner: str,
             recovering: bool = False, effects: Sequence[Mapping[str, Any]] | None = None,
             ) -> Claim:
    """The claim of a task row just leased (``effects``: its side effects, when the lease
    changed them)."""
    recorded = tuple(sql.loads(row.side_effects) if effects is None else effects)
    return Claim(operation_id, row.idx, row.name, row.type, sql.loads(row.params), row.attempt,
                 tuple(sql.loads(row.depends_on)), tuple(sql.loads(row.dependents)), recorded,
                 row.timeout, bool(row.cancellable), state, version, owner, recovering)
