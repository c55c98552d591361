"""Local wake-ups for ``await_flow``/``poll``: flow key -> the events of its waiters.

Notifications are hints: a woken waiter re-reads the flow. Waiters also re-read on a short
interval, so a flow stopped by another replica (whose notification never arrived) is still
seen, at worst one interval late. ``close()`` wakes every waiter for shutdown.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

__all__ = ["Waiters"]


class Waiters:
    """Registry of waiters by flow key."""

    def __init__(self) -> None:
        self._events: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self.closed = False

    def register(self, flow_key: str) -> asyncio.Event:
        """A new event that ``notify(flow_key)`` sets."""
        event = asyncio.Event()
        self._events[flow_key].add(event)
        return event

    def unregister(self, flow_key: str, event: asyncio.Event) -> None:
        """Forget ``event``."""
        events = self._events.get(flow_key)
        if events is not None:
            events.discard(event)
            if not events:
                del self._events[flow_key]

    def notify(self, flow_key: str) -> None:
        """Wake every waiter on ``flow_key``."""
        for event in self._events.get(flow_key, ()):
            event.set()

    def close(self) -> None:
        """Wake everyone: the engine is shutting down."""
        self.closed = True
        for events in self._events.values():
            for event in events:
                event.set()
