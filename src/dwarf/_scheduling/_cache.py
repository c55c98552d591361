"""The candidate cache between the refiller and the workers, and the refiller's coalescing trigger.

The cache is a bounded list of ``(shard, step_id)`` *hints*: a worker pops one and then races for
the step with the claim CAS, so a stale or duplicated entry costs one lost CAS and nothing else.
The refiller replaces the contents wholesale with a batch of one priority band; the doorbell
(``offer``) lets a strictly more urgent arrival jump ahead without waiting for a refill
(docs/internals/dispatch.md#candidate-cache).

Decisions, and where this differs from the seed:

* **An empty cache admits the arrival** (the later-upstream rule) instead of only requesting a
  refill. Under the seed rule every hop of a sequential chain pays a full refill cycle (a band
  scan) before its successor can run on an idle replica; admitting it runs the successor at once.
  The cost is at most one step per idle moment run out of band order, which the seed's own
  priority fixture already tolerates ("the first flow may pioneer"). ``offer`` still asks for a
  refill, which replaces the cache with the properly planned band. The doorbell does not consult
  the valve: an engine that wants admitted arrivals gated should peek the task's valve before
  offering and commit it when the offer is admitted.
* **The floor is exact**: each entry carries its priority and the floor is the head's, i.e. the
  best priority present (``MAX_PRIORITY`` when empty). Entries are kept sorted best-first: a
  refill is one band, and a pioneer is admitted only when strictly better than the head. The seed
  kept the pioneer's priority as the floor after the pioneer was popped, overstating urgency and
  declining arrivals that were better than everything left.
* ``refill`` with an empty batch, or after ``close``, is a no-op (the old contents stay): an
  empty scan result also comes from a band the valve refused entirely.
* asyncio, single-threaded: ``pop`` is the only coroutine; everything else is synchronous and may
  be called from any task on the cache's event loop (not from other threads).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = ["MAX_PRIORITY", "CandidateCache", "Job", "RefillSignal"]

MAX_PRIORITY: Final = 2**63 - 1
"""The floor of an empty cache (Go's ``math.MaxInt``): no arrival is worse than it."""


class Job(NamedTuple):
    """A candidate hint: the step to try to claim, and the shard holding it."""

    shard: int
    step_id: int


class CandidateCache:
    """The bounded candidate cache: ``size = max(1, 2 * workers)``, ``low_water = size // 2``."""

    def __init__(self, workers: int) -> None:
        """Size the cache for ``workers`` workers (0 still yields a one-slot cache)."""
        self._size = max(1, 2 * workers)
        self._low_water = max(1, self._size // 2)
        self._items: deque[tuple[Job, int]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    @property
    def size(self) -> int:
        """Capacity: the most hints the cache holds, and the refill batch size."""
        return self._size

    @property
    def low_water(self) -> int:
        """A pop leaving this many or fewer hints asks for a refill, so draining overlaps it."""
        return self._low_water

    @property
    def floor(self) -> int:
        """The best (lowest) priority cached, or ``MAX_PRIORITY`` when empty."""
        return self._items[0][1] if self._items else MAX_PRIORITY

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def __len__(self) -> int:
        """Number of hints cached (the ``steps_queue_depth`` gauge)."""
        return len(self._items)

    def jobs(self) -> list[Job]:
        """The cached hints in pop order (a copy)."""
        return [job for job, _ in self._items]

    async def pop(self) -> tuple[Job, bool] | None:
        """Take the head hint, waiting while the cache is empty.

        Returns ``(job, need_refill)`` where ``need_refill`` says at most ``low_water`` hints are
        left, or ``None`` once the cache is closed and empty.
        """
        while not self._items and not self._closed:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # A wake-up handed to a cancelled popper must not be lost: pass it on.
                if waiter.done() and not waiter.cancelled():
                    self._wake(1)
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        if not self._items:
            return None
        job, _ = self._items.popleft()
        return job, len(self._items) <= self._low_water

    def refill(self, batch: Sequence[Job], band: int) -> None:
        """Replace the contents with ``batch`` (one priority band, in pop order) and wake poppers.

        No-op when the batch is empty or the cache is closed. A batch larger than ``size`` is a
        caller bug and raises ``ValueError``.
        """
        if self._closed or not batch:
            return
        if len(batch) > self._size:
            raise ValueError(f"refill batch of {len(batch)} exceeds cache size {self._size}")
        self._items = deque((job, band) for job in batch)
        self._wake(len(self._waiters))

    def offer(self, job: Job, priority: int) -> bool:
        """The doorbell: consider an arriving step; return whether to request a refill.

        ``True`` always means the hint was admitted: into an empty cache, or at the head when
        strictly more urgent than everything cached (the tail is trimmed to ``size``). An arrival
        at or below the floor's urgency, or on a closed cache, is declined (``False``).
        """
        if self._closed:
            return False
        if self._items and priority >= self.floor:
            return False
        self._items.appendleft((job, priority))
        while len(self._items) > self._size:
            self._items.pop()
        self._wake(1)
        return True

    def close(self) -> None:
        """Close for good: wake every popper; ``offer`` and ``refill`` become no-ops.

        Hints still cached can be popped; ``pop`` returns ``None`` once they are gone.
        """
        self._closed = True
        self._wake(len(self._waiters))

    def _wake(self, n: int) -> None:
        while n > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                n -= 1


class RefillSignal:
    """A single-slot trigger: any number of requests coalesce into one pending refill.

    ``request`` never blocks and may be called any time; ``wait`` returns once a request is
    pending and consumes it, so requests made while a refill runs cause exactly one more.
    """

    def __init__(self) -> None:
        """Start with no refill pending."""
        self._event = asyncio.Event()

    @property
    def pending(self) -> bool:
        """Whether a request is waiting to be consumed."""
        return self._event.is_set()

    def request(self) -> None:
        """Ask for a refill (idempotent until consumed)."""
        self._event.set()

    async def wait(self) -> None:
        """Wait for a pending request and consume it."""
        await self._event.wait()
        self._event.clear()
