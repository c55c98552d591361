"""What a replica holds of the steps leased to it, and handing a claimed step back.

A step is handed back (to pending, fenced on its ``lease_seq``) when its replica will not run
it: at shutdown, or when a database outage stopped its worker (docs/internals/dispatch.md,
D10). ``holds`` tells the steps a replica holds, or will once a write under way returns, for the
read-back of a whole-band claim whose reply was lost (D12, D13).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dwarf._scheduling import Protection
from dwarf._storage import ClaimedStepRow, LeasedStepRow, Store
from dwarf.errors import UnavailableError

__all__ = ["hand_back", "hand_back_patiently", "holds"]


def holds(protection: Protection, entries: set[str], shard: int, row: LeasedStepRow) -> bool:
    """Whether a replica holds a step leased to it, or will once a write under way returns.

    It holds what protection counts as selected. A successor its advance claimed (D13) is
    selected when that advance returns, and its predecessor stays selected until then; an
    entry step its create claimed is known by its token (``entries``) until that create returns.
    """
    return (
        protection.selected(shard, row.step_id)
        or protection.selected(shard, row.predecessor_id)
        or row.step_token in entries
    )


async def hand_back(shard: Store, row: ClaimedStepRow) -> None:
    """Return a claimed step to pending (fenced), so it runs again without waiting out its lease."""
    await shard.transact(
        lambda db: db.reset_contended_step(step_id=row.step_id, lease_seq=row.lease_seq)
    )


async def hand_back_patiently(
    shard: Store, row: ClaimedStepRow, stopping: Callable[[], bool]
) -> None:
    """Hand a step back, through a database outage if need be (until shutdown).

    The worker's own write failed, most likely for the same outage; its replica still
    heartbeats, so nobody else would take the step before its lease expired. The hand-back is
    fenced, so trying again is harmless (docs/internals/storage.md, "Database faults").
    """
    while True:
        try:
            await hand_back(shard, row)
            return
        except UnavailableError:
            if stopping():
                return
        except Exception:
            return  # not a fault of the database: the lease covers it
        await asyncio.sleep(1.0)
