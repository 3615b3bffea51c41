"""SqlRepository: the lifecycle engine's Repository on the Store, in SQLAlchemy Core."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy import Connection, select, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from framework.engine import machine
from framework.engine.book import OperationBook, by_count
from framework.engine.model import Direction, OperationState, OperationView, TaskState
from framework.engine.ports import Claim, Declare, Lease, NewOperation, Outcome, Progress
from framework.store import lcm_sql as sql
from framework.store import outbox_rows
from framework.store.batching import GroupCommit
from framework.store.database import Store
from framework.store.lcm_controls import mark_compensation, retry_tasks
from framework.store.lcm_tasks import (
    claim_forward,
    claim_of,
    unblock,
    update_rows,
    write_outcome,
)
from framework.store.notices import KeptRequests, NoticeContext, Notifier, Transition
from framework.store.tables import lcm_attachments
from framework.store.tables import lcm_operations as O  # noqa: N811 - short names read better
from framework.store.tables import lcm_tasks as T  # noqa: N811

Op = OperationState
Task = TaskState
R = TypeVar("R")
_RETRYABLE = {"40P01", "40001"}  # PostgreSQL deadlock, serialization failure


class SqlRepository:
    """Operations, tasks and their outbox events in the Store's database.

    Every state change locks its operation's row first (``FOR UPDATE`` on PostgreSQL; on
    SQLite every writing transaction holds the database's write lock), so the operation's
    event numbers have no gap, and the counters on that row tell a finishing task whether
    it completes the operation. A claim reads only the tasks it leases, from an index.
    """

    def __init__(self, store: Store, on_commit: Callable[[], None] | None = None,
                 notifiers: Mapping[str, Notifier] | None = None,
                 handoff: Callable[[outbox_rows.Written], bool] | None = None) -> None:
        """``on_commit`` is called after every committed write (the outbox relay's wake-up);
        ``notifiers`` by operation kind add their own messages as operations move. On
        SQLite with ``handoff``, a committed write's outbox rows are handed to it instead,
        and ``on_commit`` is called only when it did not take them (False); a write with no
        outbox row then calls neither."""
        self._store = store
        self._after = outbox_rows.AfterCommit(store.dialect, on_commit, handoff)
        self._notifiers = dict(notifiers or {})
        self._requests = KeptRequests()  # of the operations created here, for notifiers
        # concurrent submits share one transaction: one write lock, one commit; their
        # events are published once the callers have their answer
        self._creates = GroupCommit(self._create_all, self._create_one,
                                    after=self._after.deferred)
        # and so do the side effects that tasks running at the same time record
        self._records = GroupCommit(self._record_all,
                                    lambda params: self._record_all([params])[0])
        # PostgreSQL locks the rows it reads (claims skip rows another claimer holds).
        self._pg = store.dialect == "postgresql"

    def _write(self, work: Callable[[Connection], R], defer: bool = False) -> R:
        """``work`` in one transaction, run again after a deadlock (PostgreSQL aborts one);
        ``defer``: its outbox rows wait for :meth:`AfterCommit.deferred`."""
        attempt = 0
        while True:
            try:
                with self._store.engine.begin() as conn, self._after.journal(conn) as written:
                    result = work(conn)
            except DBAPIError as exc:
                attempt += 1
                if getattr(exc.orig, "sqlstate", None) not in _RETRYABLE or attempt == 5:
                    raise
                time.sleep(0.01 * attempt)
                continue
            self._after.committed(written, defer)
            return result

    def _lock(self, conn: Connection, operation_id: str, now: float,
              skip_locked: bool = False) -> OperationBook | None:
        lock = sql.LOCKS[skip_locked] if self._pg else sql.LOCK_SQLITE
        row = lock.first(conn, {"b_op": operation_id})
        return None if row is None else OperationBook(operation_id, now=now, **{
            **row._asdict(), "state": Op(row.state), "direction": Direction(row.direction)})

    def _notify(self, conn: Connection, op: OperationBook, outbox: list[dict[str, Any]]) -> None:
        """Queue in ``outbox`` the messages of the operation's notifier for its transitions,
        for the caller to insert. The request is the one kept when this process created the
        operation; otherwise the notifier reads it from the operation's row."""
        notifier = self._notifiers.get(op.kind)
        if notifier is not None:
            request = self._requests.get(op.id)
            for event in op.events:
                if event["entity"] == "operation":
                    transition = Transition(op.id, op.kind, event["from"], event["to"],
                                            event["error"], op.now)
                    notifier.operation_moved(transition,
                                             NoticeContext(conn, transition, request, outbox))

    def _flush(self, conn: Connection, op: OperationBook) -> None:
        """Write the operation's events and row, with its notifier's messages."""
        notices: list[dict[str, Any]] = []
        self._notify(conn, op, notices)
        sql.flush(conn, op, notices)

    def create_operation(self, new: NewOperation) -> tuple[str, bool]:
        if (existing := self._by_key(new.idempotency_key)) is not None:
            return existing, False
        return self._creates(new)

    async def create_operation_async(
            self, new: NewOperation,
            committed: Callable[[str, bool], None] | None = None) -> tuple[str, bool]:
        if new.idempotency_key is not None:  # looked up first, which blocks
            return await asyncio.to_thread(self.create_operation, new)
        return await self._creates.submit(
            new, None if committed is None else lambda result: committed(*result))

    def _create_all(self, news: Sequence[NewOperation]) -> list[tuple[str, bool]]:
        self._write(lambda conn: self._insert(conn, news), defer=True)
        return [(new.id, True) for new in news]

    def _create_one(self, new: NewOperation) -> tuple[str, bool]:
        try:
            self._write(lambda conn: self._insert(conn, [new]), defer=True)
        except IntegrityError:  # another process created it with this key just now
            if (existing := self._by_key(new.idempotency_key)) is None:
                raise
            return existing, False
        return new.id, True

    def _insert(self, conn: Connection, news: Sequence[NewOperation]) -> None:
        """Insert ``news``, each statement once for all of them: their rows, tasks,
        attachments, then the outbox rows of each in turn (notices, events)."""
        operations: list[dict[str, Any]] = []
        tasks: list[dict[str, Any]] = []
        attachments: list[dict[str, Any]] = []
        outbox: list[dict[str, Any]] = []
        books = []
        for new in news:
            book = OperationBook.created(new)
            books.append(book)
            started = new.start.indexes if new.start is not None else ()
            for index in started:  # leased as a claim would: RUNNING, version 1
                book.task_moved(new.tasks[index].name, Task.PENDING, Task.RUNNING, 1)
            book.ready -= len(started)
            operations.append({
                "id": new.id, "kind": new.kind, "idempotency_key": new.idempotency_key,
                "request": None if new.request is None else sql.dumps(new.request),
                "created_at": new.created_at, **book.row()})
            tasks += [sql.task_row(new, index, index in started)
                      for index in range(len(new.tasks))]
            attachments += [{"operation_id": new.id, "name": name, "content": content}
                            for name, content in new.attachments.items()]
        sql.INSERT_OPERATION.many(conn, operations)
        sql.INSERT_TASK.many(conn, tasks)
        sql.INSERT_ATTACHMENT.many(conn, attachments)
        for new, book in zip(news, books, strict=True):
            if new.kind in self._notifiers:
                self._requests.keep(new.id, new.request)
            self._notify(conn, book, outbox)
            outbox += sql.event_rows(book)
        outbox_rows.write(conn, outbox)

    def _by_key(self, key: str | None) -> str | None:
        if key is None:
            return None
        with self._store.connect(read_only=True) as conn:
            return conn.scalar(select(O.c.id).where(O.c.idempotency_key == key))

    def get_operation(self, operation_id: str) -> OperationView | None:
        return next(iter(self._views(O.c.id == operation_id, limit=1, offset=0)), None)

    def list_operations(self, state: OperationState | None, limit: int,
                        offset: int) -> list[OperationView]:
        return self._views(None if state is None else O.c.state == state, limit, offset)

    def _views(self, where: Any, limit: int, offset: int) -> list[OperationView]:
        stmt = select(O).order_by(O.c.created_at.desc(), O.c.id).limit(limit).offset(offset)
        with self._store.connect(read_only=True) as conn:
            ops = conn.execute(stmt if where is None else stmt.where(where)).all()
            rows = conn.execute(select(T).where(T.c.operation_id.in_([op.id for op in ops]))
                                .order_by(T.c.operation_id, T.c.idx)).all() if ops else []
        tasks = {key: list(group) for key, group in groupby(rows, lambda row: row.operation_id)}
        return [sql.operation_view(op, tasks.get(op.id, [])) for op in ops]

    def operation_states(self, operation_ids: Collection[str],
                         ) -> dict[str, tuple[OperationState, Direction]]:
        with self._store.connect(read_only=True) as conn:
            rows = conn.execute(select(O.c.id, O.c.state, O.c.direction)
                                .where(O.c.id.in_(list(operation_ids)))).all()
        return {row.id: (Op(row.state), Direction(row.direction)) for row in rows}

    def dependency_results(self, operation_id: str, indexes: Collection[int]) -> dict[str, Any]:
        with self._store.connect(read_only=True) as conn:
            rows = conn.execute(select(T.c.name, T.c.result).where(
                T.c.operation_id == operation_id, T.c.idx.in_(list(indexes)))).all()
        return {row.name: sql.loads(row.result) for row in rows}

    def attachment(self, operation_id: str, name: str) -> bytes | None:
        with self._store.connect(read_only=True) as conn:
            content = conn.scalar(select(lcm_attachments.c.content).where(
                lcm_attachments.c.operation_id == operation_id, lcm_attachments.c.name == name))
        return None if content is None else bytes(content)

    def leases(self) -> list[Lease]:
        with self._store.connect(read_only=True) as conn:
            return [Lease(*row) for row in sql.LEASES.rows(conn)]

    def apply_control(self, operation_id: str, control: str, expected: OperationState,
                      target: OperationState, now: float) -> bool:
        def work(conn: Connection) -> bool:
            op = self._lock(conn, operation_id, now)
            if op is None or op.state is not expected:
                return False
            if control == "retry":
                retry_tasks(conn, op)
            elif control == "rollback":
                mark_compensation(conn, op)
            op.move(target, op.error if target in (Op.FAILED, Op.CANCELLED) else None)
            op.settle()  # e.g. resumed with no task left, or nothing to compensate
            self._flush(conn, op)
            return True

        return self._write(work)

    def finish(self, operation_id: str, outcomes: Sequence[Outcome], *, owner: str, want: int,
               now: float, lease_until: float, declare: Declare | None = None) -> Progress:
        return self.finish_many({operation_id: outcomes}, owner=owner, want=want, now=now,
                                lease_until=lease_until, declare=declare)[operation_id]

    def finish_many(self, outcomes: Mapping[str, Sequence[Outcome]], *, owner: str, want: int,
                    now: float, lease_until: float, declare: Declare | None = None,
                    ) -> dict[str, Progress]:
        def work(conn: Connection) -> dict[str, Progress]:
            done: dict[str, Progress] = {}
            # Every transaction that locks several operations locks them in id order: two
            # processes finishing the same operations wait for each other, never deadlock.
            for operation_id in sorted(outcomes):
                done[operation_id] = self._finish(conn, operation_id, outcomes[operation_id],
                                                  owner, want - sum(len(p.claims) for p in
                                                                    done.values()),
                                                  now, lease_until, declare)
            return done

        return self._write(work)

    def _finish(self, conn: Connection, operation_id: str, outcomes: Sequence[Outcome],
                owner: str, want: int, now: float, lease_until: float,
                declare: Declare | None) -> Progress:
        op = self._lock(conn, operation_id, now)
        if op is None:
            return Progress((False,) * len(outcomes))
        oks = tuple(write_outcome(conn, outcome, now) for outcome in outcomes)
        for outcome in (o for o, ok in zip(outcomes, oks, strict=True) if ok):
            op.task_finished(outcome)
        for n, indexes in by_count(op.compensable).items():
            conn.execute(sql.UNWIND, {"b_op": operation_id, "b_n": n, "b_idx": indexes})
        claims = unblock(conn, op, owner, want, lease_until, declare)
        claims += self._claim(conn, op, owner, want - len(claims), lease_until, declare)
        self._flush(conn, op)
        return Progress(oks, tuple(claims), (op.id,) if op.changed else ())

    def runnable_operations(self, limit: int) -> list[str]:
        with self._store.connect(read_only=True) as conn:
            return [row.id for row in sql.RUNNABLE.rows(conn, {"b_limit": limit})]

    def claim(self, operation_id: str, *, owner: str, want: int, now: float,
              lease_until: float, declare: Declare | None = None) -> list[Claim]:
        return self.claim_many([operation_id], owner=owner, want=want, now=now,
                               lease_until=lease_until, declare=declare)

    def claim_many(self, operation_ids: Sequence[str], *, owner: str, want: int, now: float,
                   lease_until: float, declare: Declare | None = None) -> list[Claim]:
        def work(conn: Connection) -> list[Claim]:
            claims: list[Claim] = []
            for operation_id in operation_ids:
                if len(claims) >= want:
                    break
                # SKIP LOCKED: an operation another process is writing is left for later
                # (and a claim never waits, so claiming in any order cannot deadlock).
                op = self._lock(conn, operation_id, now, skip_locked=True)
                if op is not None:
                    claims += self._claim(conn, op, owner, want - len(claims), lease_until,
                                          declare)
                    self._flush(conn, op)
            return claims

        return self._write(work)

    def _claim(self, conn: Connection, op: OperationBook, owner: str, want: int,
               lease_until: float, declare: Declare | None = None) -> list[Claim]:
        forward = op.state is Op.PROCESSING
        if want <= 0 or op.state not in sql.READY_PREPARED or (forward and op.ready == 0):
            return []
        rows = sql.READY_PREPARED[op.state][self._pg].rows(conn, {"b_op": op.id,
                                                                    "b_limit": want})
        new = Task.RUNNING if forward else Task.ROLLING_BACK
        op.ready -= len(rows) if forward else 0
        for row in rows:
            op.task_moved(row.name, Task(row.state), new, row.attempt)
        # Version-checked, although the operation's lock already keeps other writers out.
        if forward:
            return claim_forward(conn, op, rows, owner, lease_until, declare)
        update_rows(conn, sql.LEASE_PREPARED[op.state], {"b_op": op.id, "b_owner": owner,
                                                         "b_until": lease_until}, rows)
        return [claim_of(op.id, row, new, row.version + 1, owner) for row in rows]

    def take_over(self, lease: Lease, *, owner: str, now: float, lease_until: float) -> Progress:
        def work(conn: Connection) -> Progress:
            op = self._lock(conn, lease.operation_id, now)
            row = conn.execute(select(*sql.CLAIMED).where(
                T.c.operation_id == lease.operation_id, T.c.idx == lease.index,
                T.c.lease_owner == lease.owner, T.c.version == lease.version)).first()
            if op is None or row is None:
                return Progress()  # finished, or taken over by another, meanwhile
            ends = machine.after_lapsed_lease(Task(row.state), op.state)
            if ends is None:
                update_rows(conn, sql.LEASE_PREPARED[None], {"b_op": op.id, "b_owner": owner,
                                                             "b_until": lease_until}, [row])
                return Progress(claims=(claim_of(op.id, row, Task(row.state), row.version + 1,
                                                 owner, recovering=True),))
            outcome = Outcome(claim_of(op.id, row, Task(row.state), row.version, lease.owner),
                              ends, error=f"the lease of {lease.owner} lapsed while the "
                              f"operation was {op.state}")
            write_outcome(conn, outcome, now)
            op.task_finished(outcome)  # nothing waits on a task of a stopped operation
            self._flush(conn, op)
            return Progress(changed=(op.id,) if op.changed else ())

        return self._write(work)

    def record_side_effect(self, claim: Claim, side_effects: Sequence[Mapping[str, Any]],
                           ) -> bool:
        return self._records({
            "b_op": claim.operation_id, "b_i": claim.index, "b_v": claim.version,
            "b_owner": claim.owner,
            "b_effects": sql.dumps([dict(effect) for effect in side_effects])})

    def _record_all(self, records: Sequence[Mapping[str, Any]]) -> list[bool]:
        return self._write(lambda conn: [sql.RECORD_PREPARED.run(conn, params) == 1
                                         for params in records])

    def renew_leases(self, owner: str, lease_until: float,
                     tasks: Collection[tuple[str, int]]) -> set[tuple[str, int]]:
        if not tasks:
            return set()
        stmt = update(T).where(T.c.lease_owner == owner,
                               tuple_(T.c.operation_id, T.c.idx).in_(list(tasks))) \
            .values(lease_expires=lease_until).returning(T.c.operation_id, T.c.idx)
        return self._write(lambda conn: {(row[0], row[1]) for row in conn.execute(stmt)})

