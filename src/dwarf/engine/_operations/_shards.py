"""``shard_info``: a health check of every shard.

A shard's failure (or a shard that does not answer within ``SHARD_PROBE_TIMEOUT``) is reported
in its row, never raised, and the shards are probed concurrently so one slow shard does not
hide the others. While a shard's store is retrying a transient fault (a dropped connection, a
restarting server), its probe gets ``FAULT_PROBE_TIMEOUT`` only and the row reports that fault:
the store would otherwise keep the probe waiting for its whole retry window
(docs/internals/storage.md, "Database faults").
"""

from __future__ import annotations

import asyncio
import time

from dwarf._storage import Store, Tx
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._types import ShardSummary

__all__ = ["FAULT_PROBE_TIMEOUT", "SHARD_PROBE_TIMEOUT", "shard_info"]

SHARD_PROBE_TIMEOUT = 10.0
"""Seconds ``shard_info`` waits for one shard before reporting it as not answering."""
FAULT_PROBE_TIMEOUT = 1.0
"""Seconds it waits for a shard that is retrying a fault before reporting that fault."""


async def shard_info(rt: Runtime) -> list[ShardSummary]:
    """Every shard's ping latency, step and flow counts, or its error, in shard order."""
    return list(await asyncio.gather(*(_probe(shard) for shard in rt.shards)))


async def _probe(shard: Store) -> ShardSummary:
    latency_ms = 0.0

    async def read(db: Tx) -> tuple[int, int]:
        nonlocal latency_ms
        started = time.perf_counter()
        await db.ping()
        latency_ms = (time.perf_counter() - started) * 1000.0
        steps: int | None = await db.count_steps()
        flows: int | None = await db.count_flows()
        return steps or 0, flows or 0

    timeout = FAULT_PROBE_TIMEOUT if shard.fault else SHARD_PROBE_TIMEOUT
    try:
        async with asyncio.timeout(timeout):
            steps, flows = await shard.read(read)
    except TimeoutError:
        if shard.fault:
            error = f"shard {shard.index} ({shard.dialect}) is unavailable: {shard.fault}"
        else:
            error = f"shard {shard.index} did not answer within {timeout:g}s"
        return ShardSummary(shard.index, error, latency_ms, 0, 0)
    except Exception as exc:
        # Driver errors arrive as StorageError with the DSN's secrets scrubbed.
        error = str(exc) or type(exc).__name__
        return ShardSummary(shard.index, error, latency_ms, 0, 0)
    return ShardSummary(shard.index, "", latency_ms, steps, flows)
