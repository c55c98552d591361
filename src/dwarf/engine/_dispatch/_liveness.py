"""Replica liveness: a heartbeat row per shard, and recovery of the steps of replicas that died.

Design (docs/internals/liveness.md, rules L1-L5):
- A dispatching replica keeps a row in ``dwarf_replicas`` on every shard, refreshed every
  ``HEARTBEAT`` second by one task per shard (a shard that is down must not delay the heartbeat
  of the others). The row is written before the first claim and deleted at clean shutdown.
- After each heartbeat the replica returns to ``pending`` every running step whose
  ``lease_owner`` has no row fresher than the replica timeout (``RecoverOrphanedSteps``): its
  owner died, so the step need not wait out its lease. The lease and ``lease_seq`` stay for a
  replica that is alive but whose task hangs; a paused replica whose steps were taken is fenced
  out by ``lease_seq`` when it wakes, and its next heartbeat registers it again.
- A replica recovers for others only once its own heartbeat on that shard has succeeded for a
  whole timeout: after a database outage every peer's row looks stale until the peers reach the
  database again, and recovering then would re-run live peers' steps.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from dwarf._storage import Store, Tx
from dwarf.engine._runtime._runtime import Runtime

__all__ = ["HEARTBEAT", "Liveness"]

HEARTBEAT = 1.0
"""Seconds between two heartbeats of a replica on a shard."""
PRUNE_AFTER = timedelta(hours=1)
"""A replica row silent this long is deleted (rows of killed replicas would otherwise pile up)."""


class Liveness:
    """The heartbeat and orphan recovery of one dispatching replica."""

    def __init__(self, rt: Runtime, timeout: timedelta) -> None:
        self._rt = rt
        self._stale_ms = int(timeout.total_seconds() * 1000)
        self._timeout = timeout.total_seconds()
        self._tasks: list[asyncio.Task[None]] = []
        self._prune_ms = int(PRUNE_AFTER.total_seconds() * 1000)

    async def register(self) -> None:
        """Write this replica's row on every shard (before it claims anything)."""
        await asyncio.gather(*(self._beat(shard) for shard in self._rt.shards))

    def start(self) -> None:
        """Start one heartbeat task per shard."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(shard), name=f"dwarf-heartbeat-{shard.index}")
            for shard in self._rt.shards
        ]

    async def stop(self) -> None:
        """Stop heartbeating and delete this replica's rows (after the dispatcher stopped)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        owner = self._rt.owner

        async def forget(shard: Store) -> None:
            with contextlib.suppress(Exception):
                await shard.autocommit(lambda db: db.delete_replica(replica_id=owner))

        await asyncio.gather(*(forget(shard) for shard in self._rt.shards))

    async def _beat(self, shard: Store) -> None:
        owner = self._rt.owner

        async def beat(db: Tx) -> None:
            if not await db.touch_replica(replica_id=owner):
                await db.insert_replica(replica_id=owner)

        await shard.autocommit(beat)

    async def _run(self, shard: Store) -> None:
        loop = asyncio.get_running_loop()
        healthy_since = loop.time()
        failing = False
        beats = 0
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._beat(shard)
                if failing:
                    failing = False
                    healthy_since = loop.time()
                    self._rt.log.warning("shard %s: heartbeat restored", shard.index)
                beats += 1
                if loop.time() - healthy_since >= self._timeout:
                    await self._recover(shard)
                if beats % 600 == 0:
                    await shard.autocommit(lambda db: db.prune_replicas(prune_ms=self._prune_ms))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    self._rt.log.warning("shard %s: heartbeat failed: %s", shard.index, exc)
                failing = True

    async def _recover(self, shard: Store) -> None:
        recovered = await shard.autocommit(
            lambda db: db.recover_orphaned_steps(stale_ms=self._stale_ms)
        )
        self._rt.metrics.steps_recovered(recovered)
        if recovered:
            self._rt.log.info(
                "shard %s: recovered %d step(s) of replicas that stopped heartbeating",
                shard.index,
                recovered,
            )
            self._rt.request_refill()
