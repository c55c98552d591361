"""The reaper: flows created with ``delete_on_completion`` are deleted once their outcome is out.

A flow that completes with the option keeps its row for ``REAP_GRACE`` after its completion
(measured on the database clock, from ``updated_at``), so ``await_flow``, ``poll``, ``snapshot``
and the stop callback all see its outcome; then a reaper deletes its tree (subgraph flows and
every step) and the key answers 404 (docs/internals/operations.md#o10). Failed and cancelled
flows are kept: an outcome someone must look at is never thrown away.

The reaper runs on dispatching replicas only (a ``workers=0`` operator engine never deletes),
every ``REAP_EVERY`` with jitter, in batches of ``REAP_BATCH`` roots per transaction and at most
``REAP_ROUNDS`` batches per shard per pass, so a backlog drains over several passes instead of
in one long burst. Its first pass on a shard scans every due flow; later passes look back only
``REAP_WINDOW`` past the grace, so a routine pass reads the flows completed since the last one,
not every completed flow the shard ever kept (a failed pass scans everything again next time).
Several replicas may reap the same shard: deleting an already deleted flow matches nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import timedelta

from dwarf._storage import Store
from dwarf.engine._operations._trees import delete_root_flows
from dwarf.engine._runtime._runtime import Runtime

__all__ = ["REAP_BATCH", "REAP_EVERY", "REAP_GRACE", "REAP_ROUNDS", "REAP_WINDOW", "Reaper"]

REAP_GRACE = timedelta(seconds=60)
"""How long a completed flow's outcome stays readable before its flow is deleted."""

REAP_EVERY = timedelta(seconds=60)
"""Average time between two passes of one replica's reaper (each pass jittered by +-20%)."""

REAP_WINDOW = timedelta(minutes=30)
"""How far past the grace a routine pass looks back (the first pass looks back forever)."""

REAP_BATCH = 1000
"""Root flows deleted per transaction."""

REAP_ROUNDS = 10
"""Batches per shard per pass, at most."""


def _ms(d: timedelta) -> int:
    return max(int(d.total_seconds() * 1000), 0)


class Reaper:
    """Deletes completed ``delete_on_completion`` flows of every shard, in the background."""

    def __init__(self, rt: Runtime) -> None:
        """A reaper for ``rt``'s shards; ``start`` runs it."""
        self._rt = rt
        self._task: asyncio.Task[None] | None = None
        self._scanned: set[int] = set()
        """Shards whose first (unbounded) pass succeeded."""

    @classmethod
    def started(cls, rt: Runtime) -> Reaper:
        """A reaper for ``rt``, running (the engine starts one on dispatching replicas only)."""
        reaper = cls(rt)
        reaper.start()
        return reaper

    def start(self) -> None:
        """Run the passes in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dwarf-reaper")

    async def stop(self) -> None:
        """Stop the passes (a batch in flight rolls back)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY.total_seconds() * random.uniform(0.8, 1.2))
            await asyncio.gather(*(self.reap(shard) for shard in self._rt.shards))

    async def reap(self, shard: Store) -> int:
        """One pass over ``shard``; returns how many flows it deleted. Never raises."""
        window = _ms(REAP_GRACE + REAP_WINDOW) if shard.index in self._scanned else 0
        deleted = 0
        try:
            for _ in range(REAP_ROUNDS):
                count, full = await reap_batch(shard, _ms(REAP_GRACE), window, REAP_BATCH)
                deleted += count
                if not full:
                    self._scanned.add(shard.index)
                    break
        except Exception as exc:
            self._scanned.discard(shard.index)
            self._rt.log.warning("Reaping completed flows on shard %d: %s", shard.index, exc)
        return deleted


async def reap_batch(shard: Store, grace_ms: int, window_ms: int, limit: int) -> tuple[int, bool]:
    """Delete up to ``limit`` due flow trees of ``shard``: (flows deleted, whether it was full)."""
    due = await shard.read(
        lambda db: db.select_reapable_flows(grace_ms=grace_ms, window_ms=window_ms, row_limit=limit)
    )
    if not due:
        return 0, False
    roots = [row.flow_id for row in due]
    return await shard.transact(lambda db: delete_root_flows(db, roots)), len(due) >= limit
