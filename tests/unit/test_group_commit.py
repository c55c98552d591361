"""GroupCommit: a lone write goes at once through ``one``; writes made meanwhile go together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from dwarf._storage._group_commit import GroupCommit
from dwarf.errors import UnavailableError


class Writes:
    """Records how each item was written; the first lone write waits until released."""

    def __init__(self, *, many_fails: Exception | None = None) -> None:
        self.alone: list[int] = []
        self.together: list[list[int]] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self._many_fails = many_fails

    async def one(self, item: int) -> int:
        self.alone.append(item)
        self.started.set()
        await self.release.wait()
        if item < 0:
            raise ValueError("a bad item")
        return item * 10

    async def many(self, items: Sequence[int]) -> list[int]:
        self.together.append(list(items))
        if self._many_fails is not None:
            raise self._many_fails
        return [item * 100 for item in items]


async def submit_while_the_first_runs(writes: Writes, commit: GroupCommit[int, int]) -> list[int]:
    first = asyncio.create_task(commit.write(1))
    await writes.started.wait()
    queued = [asyncio.create_task(commit.write(item)) for item in (2, 3, 4)]
    await asyncio.sleep(0.01)
    writes.release.set()
    return await asyncio.gather(first, *queued)


async def test_a_lone_write_goes_alone_and_those_made_meanwhile_go_together() -> None:
    writes = Writes()
    commit = GroupCommit(writes.one, writes.many)

    assert await submit_while_the_first_runs(writes, commit) == [10, 200, 300, 400]
    assert writes.alone == [1]
    assert writes.together == [[2, 3, 4]]


async def test_a_batch_that_fails_as_a_whole_writes_each_item_alone() -> None:
    writes = Writes(many_fails=RuntimeError("deadlock on the batch"))
    commit = GroupCommit(writes.one, writes.many)

    assert await submit_while_the_first_runs(writes, commit) == [10, 20, 30, 40]
    assert writes.together == [[2, 3, 4]]
    assert sorted(writes.alone) == [1, 2, 3, 4]


async def test_an_unavailable_database_fails_every_item_of_the_batch() -> None:
    writes = Writes(many_fails=UnavailableError("shard 1 is unavailable"))
    commit = GroupCommit(writes.one, writes.many)
    first = asyncio.create_task(commit.write(1))
    await writes.started.wait()
    queued = [asyncio.create_task(commit.write(item)) for item in (2, 3)]
    await asyncio.sleep(0.01)
    writes.release.set()

    assert await first == 10
    for task in queued:
        with pytest.raises(UnavailableError):
            await task
    assert writes.alone == [1]  # nobody retried alone what the database could not take


async def test_a_lone_write_that_fails_is_not_tried_twice() -> None:
    writes = Writes()
    writes.release.set()
    commit = GroupCommit(writes.one, writes.many)

    with pytest.raises(ValueError, match="a bad item"):
        await commit.write(-1)
    assert writes.alone == [-1]


async def test_an_item_picked_to_go_alone_is_written_alone_beside_the_batch() -> None:
    writes = Writes()
    commit = GroupCommit(writes.one, writes.many, alone=lambda item: item == 3)

    assert await submit_while_the_first_runs(writes, commit) == [10, 200, 30, 400]
    assert writes.together == [[2, 4]]
    assert sorted(writes.alone) == [1, 3]


async def test_an_item_picked_to_go_alone_fails_alone() -> None:
    # Its neighbours' batch committed: writing them again alone would find them done and tell
    # their callers nothing was written.
    writes = Writes()
    commit = GroupCommit(writes.one, writes.many, alone=lambda item: item < 0)
    first = asyncio.create_task(commit.write(1))
    await writes.started.wait()
    queued = [asyncio.create_task(commit.write(item)) for item in (2, -3, 4)]
    await asyncio.sleep(0.01)
    writes.release.set()

    assert await first == 10
    assert await queued[0] == 200
    with pytest.raises(ValueError, match="a bad item"):
        await queued[1]
    assert await queued[2] == 400
    assert writes.together == [[2, 4]]
    assert sorted(writes.alone) == [-3, 1]


async def test_writes_made_in_the_same_turn_go_together_from_the_first() -> None:
    # No gather window: the turn in which the first write is made is the only wait.
    writes = Writes()
    commit = GroupCommit(writes.one, writes.many)

    assert await asyncio.gather(*(commit.write(item) for item in (1, 2, 3))) == [100, 200, 300]
    assert writes.together == [[1, 2, 3]]
    assert writes.alone == []


async def test_a_batch_stays_within_its_capacity_and_the_rest_go_next() -> None:
    # Weighed by value: 5 + 4 fit in 10 and 6 does not join them; 12 is over it, and goes alone
    # (a batch of one), as does the 1 left after it.
    writes = Writes()
    writes.release.set()
    commit = GroupCommit(writes.one, writes.many, weight=lambda item: item, capacity=10)

    items = (5, 4, 6, 3, 12, 1)
    assert await asyncio.gather(*(commit.write(item) for item in items)) == [
        500,
        400,
        600,
        300,
        120,
        10,
    ]
    assert writes.together == [[5, 4], [6, 3]]
    assert writes.alone == [12, 1]


async def test_a_batch_sent_outlives_its_cancelled_caller_and_the_next_batch_follows() -> None:
    writes = Writes()
    commit = GroupCommit(writes.one, writes.many)
    first = asyncio.create_task(commit.write(1))
    await writes.started.wait()
    queued = [asyncio.create_task(commit.write(item)) for item in (2, 3)]
    await asyncio.sleep(0.01)
    first.cancel()  # mid-batch: [1] is written all the same, and [2, 3] after it
    await asyncio.sleep(0.01)
    writes.release.set()

    assert await asyncio.gather(*queued) == [200, 300]
    assert first.cancelled()
    assert writes.alone == [1]
    assert writes.together == [[2, 3]]


async def test_a_write_cancelled_while_queued_is_never_sent() -> None:
    writes = Writes()
    commit = GroupCommit(writes.one, writes.many)
    first = asyncio.create_task(commit.write(1))
    await writes.started.wait()
    queued = [asyncio.create_task(commit.write(item)) for item in (2, 3, 4)]
    await asyncio.sleep(0.01)
    queued[1].cancel()
    await asyncio.sleep(0.01)
    writes.release.set()

    assert [await first, await queued[0], await queued[2]] == [10, 200, 400]
    assert writes.together == [[2, 4]]


async def test_a_batch_cut_off_by_the_loop_closing_is_unavailable_and_the_rest_go_alone() -> None:
    # The writer is cancelled only as its event loop closes: the batch under way may have
    # committed, so its callers are not sent to write it again; what was never sent is.
    writes = Writes()
    commit = GroupCommit(writes.one, writes.many)
    first = asyncio.create_task(commit.write(1))
    await writes.started.wait()
    queued = [asyncio.create_task(commit.write(item)) for item in (2, 3)]
    await asyncio.sleep(0.01)
    writer = commit._writer
    assert writer is not None
    writer.cancel()
    await asyncio.sleep(0.01)
    writes.release.set()

    with pytest.raises(UnavailableError):
        await first
    assert await asyncio.gather(*queued) == [20, 30]
    assert writes.together == []
    assert writes.alone == [1, 2, 3]
