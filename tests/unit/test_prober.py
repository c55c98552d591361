"""The breaker-probe timer stops at once, even when a trip wakes it as the engine shuts down.

On Python 3.11, ``asyncio.wait_for`` returned the inner result when its caller was cancelled in
the loop turn the event was set, swallowing the cancellation: the timer then slept its idle
interval (five minutes) and the engine's shutdown with it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from dwarf.engine._protection import Prober


class _NoBreakers:
    def next_probe_at(self) -> datetime | None:
        return None

    def due_probes(self, now: datetime) -> list[tuple[str, int]]:
        return []


async def test_stop_right_after_a_wake_ends_the_timer() -> None:
    # Only what the timer reads of the runtime: no breaker is open.
    rt: Any = SimpleNamespace(protection=_NoBreakers(), wake_prober=None)
    prober = Prober(rt)
    prober.start()
    await asyncio.sleep(0)  # the timer waits on its wake event
    rt.wake_prober()
    # One turn: the event's waiter has finished, its waker has not run yet.
    await asyncio.sleep(0)
    stopping = asyncio.ensure_future(prober.stop())
    done, _ = await asyncio.wait({stopping}, timeout=10)
    assert stopping in done, "the timer slept through its cancellation"
