"""Group commit: what concurrent callers write at the same moment goes in one transaction."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class _Entry(Generic[T, R]):
    __slots__ = ("item", "done", "result", "error", "event", "future", "written")

    def __init__(self, item: T, future: asyncio.Future[R] | None = None,
                 written: Callable[[R], None] | None = None) -> None:
        self.item = item
        self.written = written
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None
        # a thread waits on its own event: finishing a batch wakes its callers, no one else
        self.event = threading.Event() if future is None else None
        self.future = future


class GroupCommit(Generic[T, R]):
    """Writes the items of concurrent callers together, each caller waiting for its own.

    A caller that finds no write in progress writes every item queued so far, its own
    included, with ``write_all`` (one transaction: one lock, one commit for all); what
    arrives meanwhile is written next, in one batch, by a writer thread of its own, so a
    busy moment is a few large transactions and no caller waits behind batches that are
    not its own. When ``write_all`` raises, each item of the batch is written alone with
    ``write_one``, so an item that cannot be written fails only its own caller. Under no
    load a batch is one item, written at once: nothing waits for company.

    :meth:`submit` is the same for a coroutine: the item is queued for the writer thread,
    and the event loop is woken once per batch. ``after`` is called on the writing
    thread after each batch, once its callers have been given their results.
    """

    def __init__(self, write_all: Callable[[Sequence[T]], Sequence[R]],
                 write_one: Callable[[T], R], max_batch: int = 500,
                 after: Callable[[], None] | None = None) -> None:
        self._write_all, self._write_one, self._max = write_all, write_one, max_batch
        self._after = after
        self._queue: list[_Entry[T, R]] = []
        self._writing = False  # a caller or the writer thread is writing, or will
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None
        self._writer_turn = False

    def __call__(self, item: T) -> R:
        entry: _Entry[T, R] = _Entry(item)
        with self._changed:
            self._queue.append(entry)
            lead = not self._writing
            if lead:
                self._writing = True
                batch = self._take()
        if lead:
            self._write(batch)
            self._finish()
        else:
            assert entry.event is not None  # noqa: S101 - a thread's entry has one
            entry.event.wait()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]  # set with done, error unset

    async def submit(self, item: T, written: Callable[[R], None] | None = None) -> R:
        """:meth:`__call__` for a coroutine, without blocking its event loop.

        ``written`` is called with the result on the writer thread, as soon as the item is
        written (not when it failed), before the coroutine resumes.
        """
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        with self._changed:
            self._queue.append(_Entry(item, future, written))
            if not self._writing:
                self._writing = True
                self._hand_over()
        return await future

    def _take(self) -> list[_Entry[T, R]]:
        batch, self._queue = self._queue[:self._max], self._queue[self._max:]
        return batch

    def _finish(self) -> None:
        """After a batch: the writer thread takes what came meanwhile, or nobody writes."""
        with self._changed:
            if self._queue:
                self._hand_over()
            else:
                self._writing = False

    def _hand_over(self) -> None:
        # holding the condition
        self._writer_turn = True
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_queued, daemon=True,
                                            name="nfvd-group-commit")
            self._writer.start()
        self._changed.notify()

    def _write_queued(self) -> None:
        while True:
            with self._changed:
                while not self._writer_turn:
                    self._changed.wait()
                self._writer_turn = False
                batch = self._take()
            self._write(batch)
            self._finish()

    def _write(self, batch: list[_Entry[T, R]]) -> None:
        try:
            self._write_batch(batch)
        finally:
            if self._after is not None:
                try:
                    self._after()
                except Exception:
                    log.exception("group commit: the work after a batch failed")

    def _write_batch(self, batch: list[_Entry[T, R]]) -> None:
        try:
            results = self._write_all([entry.item for entry in batch]) if len(batch) > 1 \
                else [self._write_one(batch[0].item)]
            for entry, result in zip(batch, results, strict=True):
                entry.result = result
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for entry in batch:
                    try:
                        entry.result = self._write_one(entry.item)
                    except BaseException as alone:
                        entry.error = alone
        loops: dict[asyncio.AbstractEventLoop, list[_Entry[T, R]]] = {}
        for entry in batch:
            entry.done = True
            if entry.written is not None and entry.error is None:
                try:
                    entry.written(entry.result)  # type: ignore[arg-type]
                except Exception:  # written all the same: the caller gets its result
                    log.exception("group commit: the callback of a written item failed")
            if entry.event is not None:
                entry.event.set()
            elif entry.future is not None:
                loops.setdefault(entry.future.get_loop(), []).append(entry)
        for loop, waiting in loops.items():
            try:
                loop.call_soon_threadsafe(_resolve, waiting)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass


def _resolve(entries: list[_Entry[T, R]]) -> None:
    """Give each waiting coroutine its result (on its event loop)."""
    for entry in entries:
        assert entry.future is not None  # noqa: S101 - only coroutines' entries come here
        if entry.future.done():  # cancelled: the caller went away
            continue
        if entry.error is not None:
            entry.future.set_exception(entry.error)
        else:
            entry.future.set_result(entry.result)  # type: ignore[arg-type]
