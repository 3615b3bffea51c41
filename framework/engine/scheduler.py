"""The scheduler of one engine: claims tasks, runs them on threads, writes their outcomes."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from framework.engine import machine, runner
from framework.engine.model import OperationState, TaskState
from framework.engine.ports import Claim, Clock, Outcome, Repository
from framework.engine.task import TaskCatalog, TaskContext
from framework.engine.workers import Pool, Run, owner_is_dead

log = logging.getLogger(__name__)


class Scheduler:
    """One thread that makes the database writes of the workers of an engine.

    It sleeps on a condition that is notified when a task ends or the engine commits a
    change (submit, control), and wakes anyway every ``poll_interval`` to look for work
    from other processes, recover lapsed leases and see controls given elsewhere. Each
    pass writes the outcomes waiting (one transaction for all, which also claims the
    tasks they unblocked), then fills free slots; the task code runs on a :class:`Pool`.
    Every ``lease_seconds / 3`` it renews the leases of its runs. The only task running
    writes its own outcome, on its thread, and starts the tasks it unblocked: an engine
    with one task at a time (a chain, a lone request) does not wake this thread for it.
    """

    def __init__(self, repository: Repository, catalog: TaskCatalog, clock: Clock, *,
                 owner: str, workers: int, lease_seconds: float, poll_interval: float,
                 cancel_grace: float, on_change: Callable[[Collection[str]], None]) -> None:
        self._repo, self._catalog, self._clock = repository, catalog, clock
        self._owner, self._workers = owner, workers
        self._lease, self._poll, self._grace = lease_seconds, poll_interval, cancel_grace
        self._on_change = on_change
        self._cond = threading.Condition()
        self._outcomes: list[tuple[Run, Outcome]] = []
        self._runs: dict[tuple[str, int], Run] = {}  # runs holding one of the slots
        self._reserved = 0  # slots promised to tasks being leased by a submit
        self._started = False
        self._scan = True
        self._stopping = False
        self._stop_deadline = 0.0
        self._stale: set[str] = set()
        self._pool = Pool("nfvd-task")
        self._thread = threading.Thread(target=self._loop, name="nfvd-scheduler", daemon=True)
        self._halt = threading.Event()

    def start(self) -> None:
        self._started = True
        self._thread.start()

    def reserve(self, wanted: int) -> int:
        """Promise up to ``wanted`` free slots to tasks a submit leases as it creates them;
        how many. :meth:`adopt` takes them back, used or not."""
        with self._cond:
            if not self._started or self._stopping:
                return 0
            granted = max(0, min(wanted, self._workers - len(self._runs) - self._reserved))
            self._reserved += granted
            return granted

    def adopt(self, claims: Collection[Claim], reserved: int) -> None:
        """Run ``claims`` (leased by a submit, at most ``reserved``) and free the rest of
        the slots :meth:`reserve` promised."""
        with self._cond:
            self._reserved -= reserved
        self._dispatch(claims, self._clock.now())

    def stop(self, timeout: float) -> None:
        """Claim nothing more, let running tasks finish for up to ``timeout``, then return.

        Tasks still running then keep their leases until they lapse; another engine
        recovers them.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopping, self._stop_deadline = True, deadline
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout + 1.0)
        self._pool.shutdown(max(0.1, deadline - time.monotonic()))

    def wake(self) -> None:
        """Something was committed in this process: look for work now."""
        with self._cond:
            self._scan = True
            self._cond.notify_all()

    def operation_stopped(self, operation_id: str, state: OperationState) -> None:
        """The operation is now in ``state``: tell its running tasks to stop if they must."""
        now = self._clock.now()
        with self._cond:
            for run in self._runs.values():
                if run.claim.operation_id == operation_id and \
                        machine.stops_running_tasks(state, run.claim.state):
                    self._ask_stop(run, now)
            self._cond.notify_all()

    # -- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        next_poll = next_beat = self._clock.now()
        while True:
            with self._cond:
                self._sleep(min(next_poll, next_beat))
                outcomes, self._outcomes = self._outcomes, []
                stopping = self._stopping
            now = self._clock.now()
            try:
                poll = now >= next_poll
                if poll:
                    next_poll = now + self._poll
                    self.wake()
                if now >= next_beat:
                    next_beat = now + self._lease / 3
                    self._heartbeat(now)
                if poll and self._runs:
                    self._observe(now)
                outcomes += self._overdue(now)
                self._advance(outcomes, now, stopping)
                if poll and not stopping:
                    self._recover(now)
            except Exception:
                log.exception("engine %s: scheduler pass failed; retrying", self._owner)
                with self._cond:
                    self._outcomes[:0] = outcomes  # written by no transaction: try again
                self._halt.wait(self._poll)
            if stopping and (not self._runs or time.monotonic() >= self._stop_deadline):
                return

    def _sleep(self, until: float) -> None:
        """Wait (holding the condition) until there is something to do or ``until``."""
        now = self._clock.now()
        timers = [t for run in self._runs.values() if not run.abandoned
                  for t in (run.deadline, run.stop_by) if t is not None]
        wait = min([until, *timers]) - now
        claiming = not self._stopping and self._scan and \
            len(self._runs) + self._reserved < self._workers
        if self._outcomes or claiming or wait <= 0 or (self._stopping and not self._runs):
            return
        self._cond.wait(min(wait, self._poll))

    def _advance(self, outcomes: list[tuple[Run, Outcome]], now: float, stopping: bool) -> None:
        with self._cond:
            held = [run for run, _ in outcomes if self._runs.get(run.key) is run]
            free = 0 if stopping else \
                self._workers - len(self._runs) - self._reserved + len(held)
            # Cleared before the scan, so that a wake() during it is not lost.
            scan = self._scan and free > 0
            self._scan = self._scan and not scan
        if not outcomes and not scan:
            return
        # One transaction for every outcome waiting, and the tasks they unblocked; one for the
        # claims of other operations: a commit is shared by as many operations as possible.
        groups: dict[str, list[tuple[Run, Outcome]]] = {}
        for run, outcome in outcomes:
            groups.setdefault(run.claim.operation_id, []).append((run, outcome))
        claims: list[Claim] = []
        changed: list[str] = []
        lease: dict[str, Any] = {"owner": self._owner, "now": now,
                                 "lease_until": now + self._lease,
                                 "declare": self._catalog.declared}
        finished = self._repo.finish_many(
            {operation_id: [outcome for _, outcome in group]
             for operation_id, group in groups.items()}, want=free, **lease) if groups else {}
        for operation_id, group in groups.items():
            progress = finished[operation_id]
            for (run, outcome), ok in zip(group, progress.accepted, strict=True):
                if not ok:
                    self._discarded(run, outcome)
            claims += progress.claims
            changed += progress.changed
        if scan and len(claims) < free:
            runnable = self._repo.runnable_operations(free - len(claims))
            if runnable:
                claims += self._repo.claim_many(runnable, want=free - len(claims), **lease)
        with self._cond:
            for run in held:
                self._runs.pop(run.key, None)
            if free > 0 and len(claims) >= free:
                self._scan = True  # there may be more
        self._dispatch(claims, now)
        if changed:
            self._on_change(changed)

    def _dispatch(self, claims: Collection[Claim], now: float) -> None:
        for claim in claims:
            run = Run(claim, threading.Event())
            if claim.timeout is not None and claim.state is TaskState.RUNNING:
                run.deadline = now + claim.timeout
            with self._cond:
                self._runs[run.key] = run
            self._pool.submit(functools.partial(self._execute, run))

    def _execute(self, run: Run) -> None:
        claim = run.claim
        ctx = TaskContext(
            operation_id=claim.operation_id, task=claim.name, params=claim.params,
            attempt=claim.attempt, side_effects=claim.side_effects, cancel_token=run.token,
            save_side_effects=functools.partial(self._repo.record_side_effect, claim),
            load_results=functools.partial(self._repo.dependency_results, claim.operation_id,
                                           claim.depends_on),
            load_attachment=functools.partial(self._repo.attachment, claim.operation_id))
        try:
            outcome = runner.run(claim, self._catalog, ctx)
        except BaseException as exc:  # SystemExit and the like, raised by task code
            failed = TaskState.FAILED if claim.state is TaskState.RUNNING \
                else TaskState.ROLLBACK_FAILED
            outcome = Outcome(claim, failed, error=f"task code raised {type(exc).__name__}")
        with self._cond:
            # The only task running writes its own outcome: one wake-up of the scheduler less.
            # Otherwise (or when writing fails) the scheduler writes it with the others, in
            # one transaction for all.
            # (A run writing its own outcome stays in _runs until it is written, so no other
            # run can be the only one meanwhile.)
            here = not (self._outcomes or self._stopping or run.abandoned) \
                and len(self._runs) == 1 and self._runs.get(run.key) is run
            if here:
                # the slots free now, besides the run's own, for the tasks it unblocks
                extra = max(0, self._workers - len(self._runs) - self._reserved)
                self._reserved += extra
            else:
                self._outcomes.append((run, outcome))
                self._cond.notify_all()
        if here:
            self._finish_here(run, outcome, extra)

    def _finish_here(self, run: Run, outcome: Outcome, extra: int) -> None:
        """Write ``outcome`` on the task's own thread and run the tasks it unblocked."""
        now = self._clock.now()
        progress = None
        try:
            progress = self._repo.finish(run.claim.operation_id, [outcome], owner=self._owner,
                                         want=1 + extra, now=now,
                                         lease_until=now + self._lease,
                                         declare=self._catalog.declared)
        except Exception:
            log.warning("engine %s: writing the outcome of task %s of operation %s failed; "
                        "the scheduler retries", self._owner, run.claim.name,
                        run.claim.operation_id, exc_info=True)
        with self._cond:
            self._reserved -= extra
            if progress is None:
                self._outcomes.append((run, outcome))
            else:
                self._runs.pop(run.key, None)
                if len(progress.claims) >= 1 + extra:
                    self._scan = True  # there may be more
            self._cond.notify_all()
        if progress is None:
            return
        if not progress.accepted[0]:
            self._discarded(run, outcome)
        self._dispatch(progress.claims, now)
        if progress.changed:
            self._on_change(progress.changed)

    def _discarded(self, run: Run, outcome: Outcome) -> None:
        log.info("engine %s: outcome %s of task %s of operation %s discarded (no longer its "
                 "lease holder)", self._owner, outcome.state, run.claim.name,
                 run.claim.operation_id)

    # -- time-outs, controls from elsewhere, leases, recovery ---------------------------------

    def _ask_stop(self, run: Run, now: float) -> None:
        run.token.set()
        if run.stop_by is None:
            run.stop_by = now + self._grace

    def _overdue(self, now: float) -> list[tuple[Run, Outcome]]:
        """Abandon the runs past their timeout or their grace period."""
        overdue: list[tuple[Run, Outcome]] = []
        with self._cond:
            for run in self._runs.values():
                if run.abandoned:
                    continue
                if run.deadline is not None and now >= run.deadline:
                    error = f"timed out after {run.claim.timeout:g}s"
                    outcome = Outcome(run.claim, TaskState.FAILED, error=error, abandoned=True)
                elif run.stop_by is not None and now >= run.stop_by:
                    outcome = Outcome(run.claim, TaskState.CANCELLED, abandoned=True,
                                      reason=f"still running {self._grace:g}s after being "
                                      "asked to stop; abandoned")
                else:
                    continue
                run.abandoned = True
                run.token.set()
                overdue.append((run, outcome))
        return overdue

    def _observe(self, now: float) -> None:
        """Stop the runs whose operation was cancelled (or rolled back) by another process."""
        with self._cond:
            runs = list(self._runs.values())
        states = self._repo.operation_states({run.claim.operation_id for run in runs})
        with self._cond:
            for run in runs:
                state = states.get(run.claim.operation_id)
                if state is None or machine.stops_running_tasks(state[0], run.claim.state):
                    self._ask_stop(run, now)

    def _heartbeat(self, now: float) -> None:
        with self._cond:
            keys = [key for key, run in self._runs.items() if not run.abandoned]
        held = self._repo.renew_leases(self._owner, now + self._lease, keys)
        with self._cond:
            for key in set(keys) - held:
                run = self._runs.pop(key, None)
                if run is not None:
                    log.warning("engine %s: lost the lease of task %s of operation %s",
                                self._owner, run.claim.name, run.claim.operation_id)
                    run.token.set()
        self._stale = {lease.owner for lease in self._repo.leases() if owner_is_dead(lease.owner)}

    def _recover(self, now: float) -> None:
        free = self._workers - len(self._runs) - self._reserved
        if free <= 0:
            return
        # Leases of our own runs that lapsed (a stalled heartbeat) are renewed, not recovered.
        lapsed = [lease for lease in self._repo.leases()
                  if (lease.expires < now or lease.owner in self._stale) and not (
                      lease.owner == self._owner and (lease.operation_id, lease.index)
                      in self._runs)]
        for lease in lapsed[:free]:
            progress = self._repo.take_over(lease, owner=self._owner, now=now,
                                            lease_until=now + self._lease)
            for claim in progress.claims:
                log.info("engine %s: recovering task %s of operation %s from %s", self._owner,
                         claim.name, claim.operation_id, lease.owner)
            self._dispatch(progress.claims, now)
            if progress.changed:
                self._on_change(progress.changed)
