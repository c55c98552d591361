"""Shared by the portable claim and a dialect's fast-path claim: claimed rows paired with flows."""

from __future__ import annotations

from collections.abc import Sequence

from dwarf._storage._gen.rows import ClaimedStepRow
from dwarf._storage._gen.tx import Tx
from dwarf._storage._records import ClaimedStep

__all__ = ["with_flows"]


async def with_flows(db: Tx, rows: Sequence[ClaimedStepRow]) -> list[ClaimedStep]:
    """Pair claimed ``rows`` with their flows, read in one statement for the whole batch."""
    if not rows:
        return []
    flows = await db.list_flows_of_batch(flow_ids=sorted({row.flow_id for row in rows}))
    by_id = {flow.flow_id: flow for flow in flows}
    return [ClaimedStep(row, by_id.get(row.flow_id)) for row in rows]
