"""The breaker's parking in SQL (docs/internals/protection.md#parking).

``parked = 2`` is the breaker backlog: pending, invisible to selection, kept with its state,
priority and place, and visible to cancel, delete, purge and restart like any pending step.
Every function here is idempotent, so a repeat (a second failing probe, a peer's gossip arriving
after a local trip) only re-asserts what is already true.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from dwarf._storage import ClaimedStepRow, Store, Tx
from dwarf.engine._runtime._runtime import Runtime

__all__ = ["bulk_park", "ensure_probe", "park_if_tripped", "reconstitute", "unpark"]


async def bulk_park(rt: Runtime, key: str, failing: tuple[Store, ClaimedStepRow] | None) -> None:
    """Park the pending steps of every task of ``key`` on every shard, the failing step too.

    The failing step (fenced by its claim) goes back to pending, parked: it is not lost and will
    run again once a probe succeeds on its shard. No probe is made visible here: the prober does
    that when the first probe is due.
    """
    tasks = rt.protection.tasks_of(key)

    async def on(shard: Store) -> None:
        async def tx(db: Tx) -> None:
            if failing is not None and failing[0] is shard:
                row = failing[1]
                await db.park_step_for_breaker(step_id=row.step_id, lease_seq=row.lease_seq)
            for task in tasks:
                await db.park_pending_steps_of_task(task_name=task)

        await shard.transact(tx)

    await asyncio.gather(*(on(shard) for shard in rt.shards))
    rt.wake_prober()


async def park_if_tripped(rt: Runtime, shard: Store, flow_id: int) -> None:
    """Park a flow's new pending steps whose task's breaker is open on ``shard``.

    Called after a start or a transition inserted steps, before the doorbell rings. Costs nothing
    while every breaker is closed.
    """
    tasks = rt.protection.tripped_tasks(shard.index)
    if not tasks:
        return

    async def tx(db: Tx) -> None:
        for task in sorted(tasks):
            await db.park_pending_steps_of_flow_task(flow_id=flow_id, task_name=task)

    await shard.transact(tx)


async def ensure_probe(rt: Runtime, key: str, shard: Store) -> None:
    """A probe of ``key`` is due on ``shard``: make sure one step of its tasks is visible.

    A visible pending (or running) step already serves; else the oldest parked step is unparked;
    with nothing of the key's tasks left on the shard the breaker closes there (nothing to guard:
    the next new step is its own probe).
    """
    tasks = rt.protection.tasks_of(key)

    async def tx(db: Tx) -> bool:
        parked: list[tuple[int, int]] = []
        for task in tasks:
            candidate = await db.select_probe_candidate(task_name=task)
            if candidate is None:
                continue
            if candidate.parked != 2:
                return True
            parked.append((candidate.step_id, candidate.parked))
        if not parked:
            return False
        await db.unpark_step(step_id=min(parked)[0])
        return True

    if await shard.transact(tx):
        rt.request_refill()
    else:
        rt.protection.close(key, shard.index)


async def unpark(rt: Runtime, shard: Store, key: str) -> None:
    """``key``'s breaker closed on ``shard``: release its tasks' backlog there."""
    tasks = rt.protection.tasks_of(key)

    async def tx(db: Tx) -> None:
        for task in tasks:
            await db.unpark_steps_of_task(task_name=task)

    await shard.transact(tx)
    rt.request_refill()
    rt.wake_prober()


async def reconstitute(rt: Runtime) -> None:
    """Re-open breakers at startup from the rows parked on each shard: no writes, no gossip.

    Unparking everything at once instead would flood a downstream that may still be down from
    every replica; re-opened breakers probe on the usual schedule.
    """
    now = datetime.now(UTC)

    async def on(shard: Store) -> None:
        rows = await shard.read(lambda db: db.select_parked_tasks())
        rt.protection.reconstitute(shard.index, (row.task_name for row in rows), now)

    await asyncio.gather(*(on(shard) for shard in rt.shards))
    rt.wake_prober()
