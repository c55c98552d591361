"""The refiller's trigger: refill requests coalesce into one pending scan."""

from __future__ import annotations

import asyncio

from dwarf._scheduling import RefillSignal


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(5):
        await asyncio.sleep(0)


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
