"""Group commit: what concurrent callers write at the same moment goes in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Entry(Generic[T, R]):
    __slots__ = ("item", "done", "result", "error")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Writes the items of concurrent callers together, each caller waiting for its own.

    A caller that finds no write in progress writes every item queued so far, its own
    included, with ``write_all`` (one transaction: one lock, one commit for all); callers
    arriving meanwhile queue for the next batch, written by one of them. When
    ``write_all`` raises, each item of the batch is written alone with ``write_one``, so an
    item that cannot be written fails only its own caller. Under no load a batch is one
    item, written at once: nothing waits for company.
    """

    def __init__(self, write_all: Callable[[Sequence[T]], Sequence[R]],
                 write_one: Callable[[T], R], max_batch: int = 500) -> None:
        self._write_all, self._write_one, self._max = write_all, write_one, max_batch
        self._queue: list[_Entry[T, R]] = []
        self._writing = False
        self._changed = threading.Condition()

    def __call__(self, item: T) -> R:
        entry: _Entry[T, R] = _Entry(item)
        with self._changed:
            self._queue.append(entry)
            while self._writing and not entry.done:
                self._changed.wait()
            if not entry.done:
                self._writing = True
                batch, self._queue = self._queue[:self._max], self._queue[self._max:]
        if not entry.done:
            try:
                self._write(batch)
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]  # set with done, error unset

    def _write(self, batch: list[_Entry[T, R]]) -> None:
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
        for entry in batch:
            entry.done = True
