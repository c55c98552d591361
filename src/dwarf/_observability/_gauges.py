"""Gauges whose values need database reads, served to OpenTelemetry's synchronous callbacks.

An observable gauge's callback runs inside ``collect()``: on the exporter's own thread for a
periodic reader, on the event loop's thread when the host collects from a coroutine. The counts
behind ``dwarf_steps_pending`` need an ``await``, so (docs/internals/observability.md#m4):
- off the loop's thread the callback asks the loop for a fresh sample and waits (bounded);
- on the loop's thread it cannot wait, so it answers the last sample and schedules a refresh;
- a sample younger than ``max_age`` is reused, so the gauges of one collection read once.
The protection keys' state behind the ``dwarf_task_*`` gauges rides in the same sample: it lives
on the loop and is not safe to read from the exporter's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["GaugeSample", "GaugeSampler", "KeyGauge"]


@dataclass(frozen=True, slots=True)
class KeyGauge:
    """One protection key's state for the ``dwarf_task_*`` gauges."""

    key: str
    rate_limit: float | None
    running: int
    breaker_open: bool


@dataclass(frozen=True, slots=True)
class GaugeSample:
    """Due pending steps per priority band (summed across shards) and the oldest's age (s),
    and the protection keys' state (read on the loop, where protection lives)."""

    pending: Mapping[int, int]
    oldest_age_s: Mapping[int, float]
    keys: Sequence[KeyGauge] = ()


class GaugeSampler:
    """Serves a recent ``GaugeSample`` to synchronous callbacks; built on the loop's thread."""

    def __init__(
        self,
        read: Callable[[], Awaitable[GaugeSample]],
        queue_depth: Callable[[], int],
        log: logging.Logger,
        *,
        max_age: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self._read = read
        self.queue_depth = queue_depth
        """This replica's claimed-but-unstarted steps (read without I/O)."""
        self._log = log
        self._max_age = max_age
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._sample: GaugeSample | None = None
        self._taken = 0.0
        self._refreshing: asyncio.Task[None] | None = None
        self.closed = False

    def current(self) -> GaugeSample | None:
        """The latest sample (None before the first one, and after ``close``)."""
        if self.closed:
            return None
        if self._sample is not None and time.monotonic() - self._taken < self._max_age:
            return self._sample
        if threading.get_ident() == self._thread:
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = self._loop.create_task(self._refresh())
            return self._sample
        # A stopped loop or a slow database: answer the last sample.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._refresh(), self._loop).result(self._timeout)
        return None if self.closed else self._sample

    async def _refresh(self) -> None:
        try:
            sample = await self._read()
        except Exception:
            self._log.exception("Sampling gauges")
            return
        self._sample, self._taken = sample, time.monotonic()

    async def close(self) -> None:
        """Answer nothing from now on, and wait out a refresh in flight (before shards close)."""
        self.closed = True
        refreshing = self._refreshing
        if refreshing is not None and not refreshing.done():
            refreshing.cancel()
            await asyncio.gather(refreshing, return_exceptions=True)
