"""GroupCommit: callers' items written together, each caller answered alone, work after a batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
from fixtures.waiting import wait_for

from framework.store.batching import GroupCommit


class Writer:
    """Writes items (ints) in batches; the first batch waits until released, so that the
    items submitted meanwhile gather behind it. ``log`` is what happened, in order."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()  # the first batch is being written
        self.release = threading.Event()
        self.log: list[str] = []

    def write_all(self, items: Sequence[int]) -> list[int]:
        if any(item < 0 for item in items):
            raise ValueError("a negative item")
        return self.write(list(items))

    def write_one(self, item: int) -> int:
        if item < 0:
            raise ValueError(f"negative: {item}")
        return self.write([item])[0]

    def write(self, items: list[int]) -> list[int]:
        if not self.batches:
            self.entered.set()
            self.release.wait(5)
        self.batches.append(items)
        self.log.append(f"wrote {items}")
        return [item * 10 for item in items]


def test_items_submitted_during_a_write_go_together_and_after_follows_each_batch() -> None:
    writer = Writer()
    commit: GroupCommit[int, int] = GroupCommit(writer.write_all, writer.write_one,
                                                after=lambda: writer.log.append("after"))

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()

        def submit(n: int) -> asyncio.Task[int]:
            return loop.create_task(commit.submit(
                n, lambda result: writer.log.append(f"answered {result}")))

        first = submit(1)
        assert await asyncio.to_thread(writer.entered.wait, 5)  # written, and waiting
        rest = [submit(n) for n in (2, 3, 4)]
        await asyncio.sleep(0.05)  # queued behind it
        writer.release.set()
        return list(await asyncio.gather(first, *rest))

    assert asyncio.run(main()) == [10, 20, 30, 40]
    assert writer.batches == [[1], [2, 3, 4]]
    # after each batch, once its callers have their results: on the writer's thread, which
    # may still be at it when the last caller has its answer
    assert wait_for(lambda: writer.log.count("after") == 2), writer.log
    assert writer.log == ["wrote [1]", "answered 10", "after", "wrote [2, 3, 4]",
                          "answered 20", "answered 30", "answered 40", "after"]


def test_a_failing_item_fails_only_its_caller_and_after_still_runs() -> None:
    writer = Writer()
    calls: list[int] = []
    commit: GroupCommit[int, int] = GroupCommit(writer.write_all, writer.write_one,
                                                after=lambda: calls.append(1))

    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        first = loop.create_task(commit.submit(1))
        assert await asyncio.to_thread(writer.entered.wait, 5)  # written, and waiting
        rest = [loop.create_task(commit.submit(n)) for n in (2, -3, 4)]
        await asyncio.sleep(0.05)  # queued behind it
        writer.release.set()
        return list(await asyncio.gather(first, *rest, return_exceptions=True))

    results = asyncio.run(main())
    assert results[:2] == [10, 20] and results[3] == 40
    assert isinstance(results[2], ValueError) and "negative: -3" in str(results[2])
    # one per batch, the failed one included (the last may follow the last answer)
    assert wait_for(lambda: len(calls) == 2), calls


def test_a_failing_after_does_not_fail_the_callers(caplog: pytest.LogCaptureFixture) -> None:
    writer = Writer()
    writer.release.set()

    def after() -> None:
        raise RuntimeError("after failed")

    commit: GroupCommit[int, int] = GroupCommit(writer.write_all, writer.write_one,
                                                after=after)
    assert commit(5) == 50
    assert "the work after a batch failed" in caplog.text
