"""The probe timer: wakes when a breaker's probe is due and makes one step visible per shard.

Separate from the poll timer on purpose: the poll recomputes its deadline on every poll, and a
probe schedule folded into it would be clobbered by that reset. The timer never wakes sooner than
100 ms apart (the first probe's delay), however many trips arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from dwarf._scheduling import BREAKER_INITIAL_PROBE_DELAY
from dwarf.engine._protection._parking import ensure_probe
from dwarf.engine._runtime._runtime import Runtime

__all__ = ["Prober"]

_IDLE = 300.0


class Prober:
    """Keeps every open breaker's probe schedule on this replica."""

    def __init__(self, rt: Runtime) -> None:
        """A prober for ``rt``; ``start`` runs it."""
        self._rt = rt
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the timer and let trips wake it."""
        self._rt.wake_prober = self._wake.set
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dwarf-prober")

    async def stop(self) -> None:
        """Stop the timer."""
        if self._task is not None:
            self._task.cancel()
            # gather, not a suppressed await: a cancellation of stop's own caller still ends it.
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        floor = BREAKER_INITIAL_PROBE_DELAY.total_seconds()
        while True:
            soonest = self._rt.protection.next_probe_at()
            now = datetime.now(UTC)
            delay = _IDLE if soonest is None else max((soonest - now).total_seconds(), floor)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that lands as the event is set, and stop() would then wait out the delay.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            due = self._rt.protection.due_probes(datetime.now(UTC))
            if not due:
                continue
            try:
                await asyncio.gather(
                    *(ensure_probe(self._rt, key, self._rt.shard(index)) for key, index in due)
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                self._rt.log.exception("Making breaker probes visible")
            # Whatever happened, do not spin: the next round waits at least the floor.
            await asyncio.sleep(floor)
