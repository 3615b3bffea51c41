"""Threads that run task code, and the record of one run in progress."""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import queue
import threading
import time
import uuid
from collections.abc import Callable

from framework.engine.ports import Claim

log = logging.getLogger(__name__)


def new_owner_id() -> str:
    """A lease owner id for this process: ``host:pid:uuid``."""
    return f"{platform.node() or 'localhost'}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` names a process of this host that no longer exists.

    Owners of other hosts, or not in ``host:pid:...`` form, are never declared dead here:
    only their lease expiring frees their tasks.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != (platform.node() or "localhost") or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


@dataclasses.dataclass(eq=False)
class Run:
    """A claim being run by this process. Times are the Clock's.

    ``deadline`` ends the attempt (timeout); ``stop_by`` ends the grace period after the
    operation asked running tasks to stop. ``abandoned``: an outcome has been given for it
    while its code may still be running (its own late outcome will be refused).
    """

    claim: Claim
    token: threading.Event
    deadline: float | None = None
    stop_by: float | None = None
    abandoned: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return (self.claim.operation_id, self.claim.index)


class Pool:
    """Threads for task code, grown on demand and reused.

    Unlike a fixed pool, a thread stuck in an abandoned action (after a timeout or a
    cancel) never takes capacity from the tasks that follow: a new thread is started
    whenever none is idle. The engine bounds how many tasks run, not this pool.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: list[threading.Thread] = []

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
            self._threads = [thread for thread in self._threads if thread.is_alive()]
        self._jobs.put(job)
        if start:
            # Daemon: a task that never returns must not keep the process alive.
            thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}",
                                      daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except BaseException:  # a job must never kill its thread silently
                log.exception("task thread %s: unexpected error", threading.current_thread().name)
            with self._lock:
                self._idle += 1

    def shutdown(self, timeout: float) -> None:
        """Stop the idle threads (waiting up to ``timeout``); busy ones end when their job does."""
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
