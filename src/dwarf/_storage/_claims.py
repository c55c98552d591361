"""Shared by the portable claim and the dialects' fast paths: claimed rows paired with flows, and
the claimed rows of a successor an advance, or an entry step a create, inserted already claimed
(dispatch D13)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import NamedTuple, TypeVar

from dwarf._storage._gen.rows import ClaimedStepRow, FlowRow
from dwarf._storage._gen.tx import Tx
from dwarf._storage._records import ClaimedStep, Completion, NewFlow, NewStep
from dwarf.errors import UnavailableError
from dwarf.workflow import Status

__all__ = [
    "Advanced",
    "Created",
    "claimed_entry",
    "claimed_or_read_back",
    "claimed_successor",
    "with_flows",
    "written_or_found",
]

T = TypeVar("T")


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


class Created(NamedTuple):
    """The ids a create drew, and its rows' timestamp."""

    flow_id: int
    step_id: int
    created_at: datetime


def claimed_entry(new: NewFlow, created: Created) -> ClaimedStep:
    """The claimed entry step of a flow created started, with its flow, as a claim would read them.

    A new row's other columns take their defaults. JSON columns hold the text the caller sent,
    which the database keeps as a value: a read would give the same value in its own spelling.
    """
    at = created.created_at
    row = ClaimedStepRow(
        step_id=created.step_id,
        flow_id=created.flow_id,
        step_depth=new.caller_depth + 1,
        step_token=new.entry_token,
        task_name=new.entry,
        state=new.state,
        state_base=0,
        changes="{}",
        breakpoint_hit=False,
        attempt=0,
        lineage_id=0,
        fan_out_ordinal=0,
        predecessor_id=0,
        time_budget_ms=new.entry_time_budget_ms,
        interrupt_done=False,
        resume_data="{}",
        subgraph_done=False,
        subgraph_result="{}",
        subgraph_error="",
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        lease_seq=1,
        created_at=at,
        started_at=at,
        updated_at=at,
        base_lease_seq=0,
    )
    flow = FlowRow(
        flow_id=created.flow_id,
        flow_token=new.token,
        workflow_name=new.workflow_name,
        graph=new.graph,
        baggage=new.baggage,
        status=Status.RUNNING,
        step_id=created.step_id,
        surgraph_flow_id=new.parent_flow_id,
        surgraph_step_depth=new.caller_depth,
        surgraph_step_id=new.caller_step_id,
        root_flow_id=new.root_flow_id or created.flow_id,
        thread_id=new.thread[0] if new.thread else created.flow_id,
        thread_token=new.thread[1] if new.thread else new.token,
        forked_from_step=0,
        trace_parent=new.trace_parent,
        notify_hostname="",
        final_state="{}",
        breakpoints=new.breakpoints,
        error="",
        error_type="",
        cancel_reason="",
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        time_budget_ms=new.time_budget_ms,
        delete_on_completion=new.delete_on_completion,
        created_at=at,
        started_at=at,
        updated_at=at,
    )
    return ClaimedStep(row, flow)


async def written_or_found(
    write: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[ClaimedStep | None]]
) -> T | ClaimedStep:
    """What a write that claims the step it inserts returned; or, given up on as unavailable,
    that step, found by its token (``find``) (storage.md, S10).

    A reply lost after the commit leaves the step this replica's, and nobody else's until its
    lease expires, so it is found and run here. When ``find`` finds nothing, nothing was
    written: the unavailability stands.
    """
    try:
        return await write()
    except UnavailableError:
        found = await find()
        if found is None:
            raise
        return found


async def claimed_or_read_back(
    write: Callable[[], Awaitable[ClaimedStep | None]],
    read_back: Callable[[], Awaitable[ClaimedStep | None]],
) -> ClaimedStep | int:
    """A claiming advance's successor (``write``; None: nothing written), read back by its token
    instead (``read_back``) when the advance's reply was lost (``written_or_found``).

    Re-sent after a lost reply, an advance writes nothing: the successor it wrote the first
    time is read back too. 0 when nothing was written.
    """
    claimed = await written_or_found(write, read_back)
    if claimed is None:
        return await read_back() or 0
    return claimed
