"""Waiting for flows: ``snapshot``, ``await_flow`` and ``poll``.

A waiter is woken by the local stop signal (with the outcome when this replica stopped the
flow) and re-reads the flow every ``WAIT_RECHECK`` seconds, so a stop on another replica is
never missed for long.
"""

from __future__ import annotations

import asyncio
import contextlib

from dwarf._storage import Tx
from dwarf.engine._operations._inputs import get_flow
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._outcomes import outcome_in_tx
from dwarf.errors import DwarfError, UnavailableError
from dwarf.workflow import FlowOutcome

__all__ = ["WAIT_RECHECK", "await_flow", "poll", "snapshot"]


WAIT_RECHECK = 0.5
"""Waiters re-read the flow this often, so a stop on another replica is never missed for long."""


async def snapshot(rt: Runtime, flow_key: str) -> FlowOutcome:
    """The flow's current outcome (404 if unknown)."""
    shard, key = rt.parse(flow_key, "flow")

    async def read(db: Tx) -> FlowOutcome:
        return await outcome_in_tx(shard, db, await get_flow(shard, key, db))

    return await shard.read(read)


async def await_flow(
    rt: Runtime, flow_key: str, timeout: float | None, *, just_started: bool = False
) -> FlowOutcome:
    """Wait until the flow stops (terminal or interrupted); ``TimeoutError`` after ``timeout``.

    ``just_started``: the caller started the flow without yielding since, so it cannot have
    stopped yet on this replica; the first read is skipped (another replica finishing it first
    is still seen by the periodic re-check).
    """
    return await _wait(rt, flow_key, timeout, raise_on_timeout=True, skip_first=just_started)


async def poll(rt: Runtime, flow_key: str, timeout: float) -> FlowOutcome:
    """Like ``await_flow``, but a timeout returns the current outcome instead of raising."""
    return await _wait(rt, flow_key, timeout, raise_on_timeout=False)


async def _wait(
    rt: Runtime,
    flow_key: str,
    timeout: float | None,
    *,
    raise_on_timeout: bool,
    skip_first: bool = False,
) -> FlowOutcome:
    shard, key = rt.parse(flow_key, "flow")
    canonical = format_key(shard.index, key.id, key.token)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + max(timeout, 0.0)
    waiter = rt.waiters.register(canonical)
    skip_first = skip_first or rt.waiters.take_fresh(canonical)
    try:
        while True:
            if rt.waiters.closed:
                raise UnavailableError("the engine shut down while awaiting the flow")
            if skip_first:
                skip_first = False
                await _until_set(waiter.event, _first_wait(loop, deadline))
                continue
            handed = waiter.outcome
            try:
                outcome = handed if handed is not None else await snapshot(rt, canonical)
            except DwarfError:
                if rt.waiters.closed:  # the shards closed under the read: a shutdown, not a bug
                    raise UnavailableError("the engine shut down while awaiting the flow") from None
                raise
            waiter.outcome = None
            if outcome.stopped:
                return outcome
            if rt.waiters.closed:
                raise UnavailableError("the engine shut down while awaiting the flow")
            wait = WAIT_RECHECK
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    if raise_on_timeout:
                        raise TimeoutError(f"flow {canonical} did not stop within {timeout}s")
                    return outcome
                wait = min(wait, remaining)
            await _until_set(waiter.event, wait)
    finally:
        rt.waiters.unregister(canonical, waiter)


async def _until_set(event: asyncio.Event, seconds: float) -> None:
    """Wait up to ``seconds`` for ``event``, then clear it.

    ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11 ``wait_for`` wraps the wait in
    a task of its own, a cost every awaited flow paid.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    event.clear()


def _first_wait(loop: asyncio.AbstractEventLoop, deadline: float | None) -> float:
    if deadline is None:
        return WAIT_RECHECK
    return max(min(WAIT_RECHECK, deadline - loop.time()), 0.0)
