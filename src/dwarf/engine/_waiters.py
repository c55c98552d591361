"""Local wake-ups for ``await_flow``/``poll``: flow key -> its waiters.

A notification may carry the flow's new outcome (when the notifier already has it, e.g. the
worker that completed the flow), which saves the waiter a read. Otherwise a woken waiter
re-reads the flow. Waiters also re-read on a short interval, so a flow stopped by another
replica whose notification never arrived is still seen, at worst one interval late.
``close()`` wakes every waiter for shutdown.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from dwarf.workflow import FlowOutcome

__all__ = ["Waiter", "Waiters"]


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
        self.closed = False

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
