"""The refiller's trigger: any number of refill requests coalesce into one pending scan.

A burst of completions must not queue one band scan each (docs/internals/dispatch.md#d9).
asyncio, single-threaded: call it from tasks on one event loop, not from other threads.
"""

from __future__ import annotations

import asyncio

__all__ = ["RefillSignal"]


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
