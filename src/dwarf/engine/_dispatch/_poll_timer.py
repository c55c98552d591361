"""The poll timer of one replica: the safety net for every lost signal (dispatch D8).

A poll, per shard in parallel, recovers expired leases and reads how many steps are due and when
the next delayed step and the next lease fall due; then it requests a refill. The next poll is in
5 min, at most 1 min while due steps exist, sooner when a step or a lease falls due. ``wake_in``
shortens the sleep (docs/internals/dispatch.md#d8).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from dwarf._storage import Store
from dwarf.engine._runtime._runtime import Runtime

__all__ = ["PollTimer"]

MAX_POLL = 300.0
"""Seconds between polls when nothing is due or leased soon."""
BACKLOG_POLL = 60.0
"""Seconds between polls at most while due steps exist."""


class PollTimer:
    """Polls the shards when their next step or lease falls due, and at least every 5 min."""

    def __init__(self, rt: Runtime, request_refill: Callable[[], None]) -> None:
        self._rt = rt
        self._request_refill = request_refill
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._next_poll = self._loop.time()
        # The earliest wake-up asked for since the last poll began: a wake_in that arrives while
        # a poll runs must survive that poll's own (older) view of the schedule.
        self._requested = float("inf")

    def wake_in(self, delay: timedelta) -> None:
        """Make sure the next poll runs no later than ``delay`` from now."""
        when = self._loop.time() + max(delay.total_seconds(), 0.0)
        self._requested = min(self._requested, when)
        if when < self._next_poll:
            self._next_poll = when
            self._wake.set()

    async def run(self, stopping: Callable[[], bool]) -> None:
        """Poll when due, until ``stopping()`` (or cancelled); the first poll runs at once."""
        while not stopping():
            timeout = self._next_poll - self._loop.time()
            if timeout > 0:
                # asyncio.timeout: 3.11's wait_for can swallow a cancellation (see the prober).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                self._wake.clear()
                if self._loop.time() < self._next_poll:
                    continue
            self._requested = float("inf")
            try:
                delay = await self._poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._rt.log.exception("Polling pending steps")
                delay = 1.0
            self._next_poll = min(self._loop.time() + delay, self._requested)
            self._request_refill()

    async def _poll_once(self) -> float:
        delays = await asyncio.gather(*(self._poll_shard(shard) for shard in self._rt.shards))
        return min(delays, default=MAX_POLL)

    async def _poll_shard(self, shard: Store) -> float:
        self._rt.metrics.steps_recovered(
            await shard.transact(lambda db: db.recover_expired_leases())
        )
        horizon = await shard.read(lambda db: db.poll_horizon())
        delay = MAX_POLL
        if horizon is None:
            return delay
        if horizon.due_count:
            delay = min(delay, BACKLOG_POLL)
        for ms in (horizon.next_due_ms, horizon.next_lease_ms):
            if ms is not None:
                delay = min(delay, max(ms, 0) / 1000.0)
        return delay
