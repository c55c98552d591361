"""The candidate cache (pop/refill/offer/close) and the coalescing refill trigger."""

from __future__ import annotations

import asyncio

import pytest

from dwarf._scheduling import MAX_PRIORITY, CandidateCache, Job, RefillSignal


def jobs(*step_ids: int, shard: int = 1) -> list[Job]:
    return [Job(shard, step_id) for step_id in step_ids]


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("workers", "size", "low_water"), [(0, 1, 1), (1, 2, 1), (8, 16, 8), (64, 128, 64)]
)
def test_cache_is_twice_the_workers_with_half_as_low_water(
    workers: int, size: int, low_water: int
) -> None:
    cache = CandidateCache(workers)
    assert (cache.size, cache.low_water, cache.floor, len(cache)) == (
        size,
        low_water,
        MAX_PRIORITY,
        0,
    )


async def test_refill_pops_in_batch_order_and_floor_resets_when_drained() -> None:
    cache = CandidateCache(4)
    cache.refill([Job(1, 1), Job(2, 2), Job(1, 3)], 5)
    assert (len(cache), cache.floor) == (3, 5)
    popped = []
    for _ in range(3):
        item = await cache.pop()
        assert item is not None
        popped.append(item[0])
    assert popped == [Job(1, 1), Job(2, 2), Job(1, 3)]
    assert cache.floor == MAX_PRIORITY


async def test_pop_asks_for_a_refill_once_at_or_below_low_water() -> None:
    cache = CandidateCache(4)  # size 8, low water 4
    cache.refill(jobs(1, 2, 3, 4, 5, 6, 7, 8), 5)
    needs = []
    for _ in range(5):
        item = await cache.pop()
        assert item is not None
        needs.append(item[1])
    assert needs == [False, False, False, True, True]  # 7, 6, 5, 4, 3 left


async def test_refill_replaces_the_contents_wholesale() -> None:
    cache = CandidateCache(4)
    cache.refill(jobs(1, 2, 3), 5)
    cache.refill(jobs(9), 7)
    assert (cache.jobs(), cache.floor) == (jobs(9), 7)


async def test_pop_waits_for_a_refill() -> None:
    cache = CandidateCache(2)
    popper = asyncio.create_task(cache.pop())
    await settle()
    assert not popper.done()
    cache.refill([Job(2, 99)], 7)
    assert await popper == (Job(2, 99), True)


async def test_refill_wakes_every_waiting_popper() -> None:
    cache = CandidateCache(2)
    poppers = [asyncio.create_task(cache.pop()) for _ in range(3)]
    await settle()
    cache.refill(jobs(1, 2, 3), 1)
    results = await asyncio.gather(*poppers)
    assert sorted(item[0].step_id for item in results if item is not None) == [1, 2, 3]


async def test_close_releases_a_waiting_popper_with_none() -> None:
    cache = CandidateCache(2)
    popper = asyncio.create_task(cache.pop())
    await settle()
    assert not popper.done()
    cache.close()
    assert await popper is None
    assert cache.closed


async def test_close_still_hands_out_cached_hints_then_none() -> None:
    cache = CandidateCache(2)
    cache.refill(jobs(1), 3)
    cache.close()
    assert await cache.pop() == (Job(1, 1), True)
    assert await cache.pop() is None


async def test_empty_cache_admits_the_arrival_and_asks_for_a_refill() -> None:
    cache = CandidateCache(4)
    assert cache.offer(Job(1, 7), 50)
    assert (cache.jobs(), cache.floor) == ([Job(1, 7)], 50)
    assert await cache.pop() == (Job(1, 7), True)


async def test_offer_wakes_a_waiting_popper() -> None:
    cache = CandidateCache(4)
    popper = asyncio.create_task(cache.pop())
    await settle()
    assert cache.offer(Job(3, 7), 5)
    assert await popper == (Job(3, 7), True)


def test_offer_at_or_below_the_floor_is_declined() -> None:
    cache = CandidateCache(4)
    cache.refill(jobs(1, 2), 5)
    assert not cache.offer(Job(1, 8), 7)
    assert not cache.offer(Job(1, 9), 5)
    assert (cache.jobs(), cache.floor) == (jobs(1, 2), 5)


async def test_strictly_more_urgent_offer_pioneers_at_the_head() -> None:
    cache = CandidateCache(4)
    cache.refill(jobs(1, 2), 5)
    assert cache.offer(Job(3, 99), 3)
    assert (len(cache), cache.floor) == (3, 3)
    assert await cache.pop() == (Job(3, 99), True)  # 2 left <= low water 4


def test_pioneer_trims_the_tail_to_the_size() -> None:
    cache = CandidateCache(1)  # size 2
    cache.refill(jobs(1, 2), 5)
    assert cache.offer(Job(1, 99), 1)
    assert cache.jobs() == [Job(1, 99), Job(1, 1)]


async def test_floor_returns_to_the_band_once_the_pioneer_is_popped() -> None:
    cache = CandidateCache(4)
    cache.refill(jobs(1, 2), 5)
    cache.offer(Job(1, 99), 1)
    await cache.pop()
    assert cache.floor == 5
    # An arrival better than everything left pioneers again.
    assert cache.offer(Job(1, 100), 3)
    assert cache.jobs()[0] == Job(1, 100)


def test_closed_cache_ignores_offers_and_refills() -> None:
    cache = CandidateCache(2)
    cache.close()
    assert not cache.offer(Job(1, 1), 0)
    cache.refill(jobs(1), 1)
    assert len(cache) == 0


def test_empty_refill_keeps_the_old_contents() -> None:
    cache = CandidateCache(2)
    cache.refill([], 5)
    assert (len(cache), cache.floor) == (0, MAX_PRIORITY)
    cache.refill(jobs(1, 2), 5)
    cache.refill([], 3)
    assert (cache.jobs(), cache.floor) == (jobs(1, 2), 5)


def test_refill_larger_than_the_cache_is_refused() -> None:
    cache = CandidateCache(1)
    with pytest.raises(ValueError, match="exceeds cache size 2"):
        cache.refill(jobs(1, 2, 3), 5)


async def test_a_wakeup_given_to_a_cancelled_popper_passes_to_the_next() -> None:
    cache = CandidateCache(2)
    first = asyncio.create_task(cache.pop())
    await settle()
    second = asyncio.create_task(cache.pop())
    await settle()
    cache.offer(Job(1, 5), 5)  # wakes `first` only
    first.cancel()
    await settle()
    assert first.cancelled()
    assert second.done()
    assert second.result() == (Job(1, 5), True)


async def test_refill_requests_coalesce_into_one() -> None:
    signal = RefillSignal()
    signal.request()
    signal.request()
    signal.request()
    await signal.wait()
    assert not signal.pending
    waiter = asyncio.create_task(signal.wait())
    await settle()
    assert not waiter.done()
    signal.request()
    await waiter
    assert not signal.pending
