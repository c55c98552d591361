"""Local wake-ups for ``await_flow``/``poll``: flow key -> its waiters.

A notification may carry the flow's new outcome (when the notifier already has it, e.g. the
worker that completed the flow), which saves the waiter a read. Otherwise a woken waiter
re-reads the flow. Waiters also re-read on a short interval, so a flow stopped by another
replica whose notification never arrived is still seen, at worst one interval late.
``close()`` wakes every waiter for shutdown.

Fresh starts: a flow this replica started moments ago, and has heard no news of since, cannot
have stopped here yet, so a wait on it may skip its first read (create, start, await is the
common pattern, and that read would be one round trip per flow). Only a stop on another replica
could be missed, and the waiter's re-read catches it one interval later. Any notification ends
a flow's freshness, and so does age.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict
from time import monotonic

from dwarf.workflow import FlowOutcome

__all__ = ["FRESH_FOR", "Waiter", "Waiters"]

FRESH_FOR = 1.0
"""Seconds a start stays fresh (see the module docstring)."""
MAX_FRESH = 65_536


class Waiter:
    """One caller waiting on one flow."""

    __slots__ = ("event", "outcome")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.outcome: FlowOutcome | None = None


class Waiters:
    """Registry of waiters by flow key."""

    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[Waiter]] = defaultdict(set)
        self._fresh: OrderedDict[str, float] = OrderedDict()
        self.closed = False

    def note_started(self, flow_key: str) -> None:
        """This replica just started ``flow_key``: a wait on it may skip its first read."""
        now = monotonic()
        self._fresh[flow_key] = now
        self._fresh.move_to_end(flow_key)
        while self._fresh:
            oldest, since = next(iter(self._fresh.items()))
            if now - since < FRESH_FOR and len(self._fresh) <= MAX_FRESH:
                break
            del self._fresh[oldest]

    def take_fresh(self, flow_key: str) -> bool:
        """True (once) if ``flow_key`` was started here moments ago with no news since."""
        since = self._fresh.pop(flow_key, None)
        return since is not None and monotonic() - since < FRESH_FOR

    def register(self, flow_key: str) -> Waiter:
        """A new waiter that ``notify(flow_key)`` wakes."""
        waiter = Waiter()
        self._waiters[flow_key].add(waiter)
        return waiter

    def unregister(self, flow_key: str, waiter: Waiter) -> None:
        """Forget ``waiter``."""
        waiters = self._waiters.get(flow_key)
        if waiters is not None:
            waiters.discard(waiter)
            if not waiters:
                del self._waiters[flow_key]

    def notify(self, flow_key: str, outcome: FlowOutcome | None = None) -> None:
        """Wake every waiter on ``flow_key``, handing over ``outcome`` when known."""
        self._fresh.pop(flow_key, None)
        for waiter in self._waiters.get(flow_key, ()):
            if outcome is not None:
                waiter.outcome = outcome
            waiter.event.set()

    def close(self) -> None:
        """Wake everyone: the engine is shutting down."""
        self.closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.event.set()
