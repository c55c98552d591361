"""KeyedBatcher: group commit by key (what lets a cohort's arrivals share a transaction)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from dwarf._storage import BatchAbandonedError, KeyedBatcher


class Runner:
    """Records each batch it runs; holds every batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def run(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.started.set()
        await self.release.wait()
        return [item * 10 for item in items]


async def test_work_queued_while_a_batch_runs_goes_in_one_next_batch_in_order() -> None:
    batcher: KeyedBatcher[int, int] = KeyedBatcher()
    runner = Runner()
    first = asyncio.create_task(batcher.submit("k", 1, runner.run))
    await runner.started.wait()
    queued = [asyncio.create_task(batcher.submit("k", item, runner.run)) for item in (2, 3, 4)]
    other_key = asyncio.create_task(batcher.submit("other", 5, runner.run))
    await asyncio.sleep(0.01)
    runner.release.set()

    assert await asyncio.gather(first, *queued, other_key) == [10, 20, 30, 40, 50]
    # The first ran alone at once; another key never waited for it.
    assert runner.batches == [[1], [5], [2, 3, 4]]


async def test_a_failed_batch_fails_every_submitter_of_it() -> None:
    batcher: KeyedBatcher[int, int] = KeyedBatcher()
    runner = Runner()

    async def failing(items: Sequence[int]) -> list[int]:
        raise ValueError(f"cannot commit {list(items)}")

    first = asyncio.create_task(batcher.submit("k", 1, runner.run))
    await runner.started.wait()
    queued = [asyncio.create_task(batcher.submit("k", item, failing)) for item in (2, 3)]
    await asyncio.sleep(0.01)
    runner.release.set()

    assert await first == 10
    for task in queued:
        with pytest.raises(ValueError, match=r"cannot commit \[2, 3\]"):
            await task
    assert await batcher.submit("k", 4, runner.run) == 40  # the key is usable again


async def test_a_cancelled_runner_leaves_the_rest_of_its_batch_to_work_alone() -> None:
    batcher: KeyedBatcher[int, int] = KeyedBatcher()
    runner = Runner()
    first = asyncio.create_task(batcher.submit("k", 1, runner.run))
    await runner.started.wait()
    second = asyncio.create_task(batcher.submit("k", 2, runner.run))
    third = asyncio.create_task(batcher.submit("k", 3, runner.run))
    await asyncio.sleep(0.01)
    first.cancel()  # the first batch's runner: the next batch has not started yet
    await asyncio.sleep(0.01)
    assert runner.batches == [[1], [2, 3]]
    second.cancel()  # the runner of [2, 3], mid-batch

    with pytest.raises(BatchAbandonedError):
        await third
    assert first.cancelled()
    assert second.cancelled()


async def test_a_submitter_cancelled_while_queued_never_runs_and_the_rest_do() -> None:
    batcher: KeyedBatcher[int, int] = KeyedBatcher()
    runner = Runner()
    first = asyncio.create_task(batcher.submit("k", 1, runner.run))
    await runner.started.wait()
    queued = [asyncio.create_task(batcher.submit("k", item, runner.run)) for item in (2, 3, 4)]
    await asyncio.sleep(0.01)
    queued[1].cancel()
    await asyncio.sleep(0.01)
    runner.release.set()

    assert await first == 10
    assert [await queued[0], await queued[2]] == [20, 40]
    assert queued[1].cancelled()
    assert runner.batches == [[1], [2, 4]]


async def test_a_submitter_cancelled_as_its_turn_comes_passes_the_turn_on() -> None:
    batcher: KeyedBatcher[int, int] = KeyedBatcher()
    runner = Runner()
    tasks: list[asyncio.Task[int]] = []

    async def first_batch(items: Sequence[int]) -> list[int]:
        await runner.run(items)
        # Runs before the second wakes to the turn this batch's end hands it.
        asyncio.get_running_loop().call_soon(tasks[0].cancel)
        return [item * 10 for item in items]

    first = asyncio.create_task(batcher.submit("k", 1, first_batch))
    await runner.started.wait()
    tasks += [asyncio.create_task(batcher.submit("k", item, runner.run)) for item in (2, 3)]
    await asyncio.sleep(0.01)
    runner.release.set()

    assert await first == 10
    assert await asyncio.wait_for(tasks[1], 1) == 30
    assert tasks[0].cancelled()
    assert runner.batches == [[1], [3]]
    assert await batcher.submit("k", 4, runner.run) == 40  # the key is usable again
