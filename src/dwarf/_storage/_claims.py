"""Shared by the portable claim and the dialects' fast paths: claimed rows paired with flows, and
the claimed row of a successor an advance inserted already claimed (dispatch D13)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from dwarf._storage._gen.rows import ClaimedStepRow, FlowRow
from dwarf._storage._gen.tx import Tx
from dwarf._storage._records import ClaimedStep, Completion, NewStep
from dwarf.errors import UnavailableError
from dwarf.workflow import Status

__all__ = ["Advanced", "claimed_or_read_back", "claimed_successor", "with_flows"]


async def with_flows(db: Tx, rows: Sequence[ClaimedStepRow]) -> list[ClaimedStep]:
    """Pair claimed ``rows`` with their flows, read in one statement for the whole batch."""
    if not rows:
        return []
    flows = await db.list_flows_of_batch(flow_ids=sorted({row.flow_id for row in rows}))
    by_id = {flow.flow_id: flow for flow in flows}
    return [ClaimedStep(row, by_id.get(row.flow_id)) for row in rows]


class Advanced(NamedTuple):
    """What an advance wrote: its successor, and (for a claimed one) the read-back columns."""

    successor_id: int
    created_at: datetime
    base_lease_seq: int
    flow_status: Status | None
    flow_breakpoints: str | None
    flow_updated_at: datetime | None


def claimed_successor(
    done: Completion, successor: NewStep, advanced: Advanced, flow: FlowRow
) -> ClaimedStep:
    """The successor a claiming advance inserted, as ``SelectClaimedSteps`` would read it.

    Everything but its id, its timestamps and its base's lease_seq is what the caller sent (a
    new step's other columns take their defaults); ``flow`` is the claimed step's flow row,
    brought up to date with what the statement read of it while writing it.
    """
    at = advanced.created_at
    row = ClaimedStepRow(
        step_id=advanced.successor_id,
        flow_id=successor.flow_id,
        step_depth=successor.depth,
        step_token=successor.token,
        task_name=successor.task_name,
        state=successor.state,
        state_base=successor.state_base,
        changes="{}",
        breakpoint_hit=False,
        attempt=0,
        lineage_id=successor.lineage_id,
        fan_out_ordinal=successor.ordinal,
        predecessor_id=done.step_id,
        time_budget_ms=successor.time_budget_ms,
        interrupt_done=False,
        resume_data="{}",
        subgraph_done=False,
        subgraph_result="{}",
        subgraph_error="",
        priority=successor.priority,
        fairness_key=successor.fairness_key,
        fairness_weight=successor.fairness_weight,
        lease_seq=1,
        created_at=at,
        started_at=at,
        updated_at=at,
        base_lease_seq=advanced.base_lease_seq,
    )
    fresh = flow._replace(
        status=advanced.flow_status or flow.status,
        step_id=advanced.successor_id,
        breakpoints=advanced.flow_breakpoints or flow.breakpoints,
        updated_at=advanced.flow_updated_at or flow.updated_at,
    )
    return ClaimedStep(row, fresh)


async def claimed_or_read_back(
    write: Callable[[], Awaitable[ClaimedStep | None]],
    read_back: Callable[[], Awaitable[ClaimedStep | None]],
) -> ClaimedStep | int:
    """A claiming advance's successor (``write``; None: nothing written), read back by its token
    instead (``read_back``) when the advance's reply was lost (storage.md, S10).

    A reply lost after the commit makes ``write`` raise (given up on) or, re-sent, write
    nothing; the successor is then this replica's, and nobody else's until its lease expires,
    so it is found and run here. 0 when nothing was written.
    """
    try:
        claimed = await write()
    except UnavailableError:
        found = await read_back()
        if found is None:
            raise
        return found
    if claimed is None:
        return await read_back() or 0
    return claimed
