"""PostgreSQL's create of a flow with its entry step, alone and as a batch, started or not.

One ``CreateFlowWithEntry`` statement (``CreateFlowsWithEntries`` for the creates of the moment,
docs/internals/storage.md, S12) inserts a flow and its entry step. A started flow's entry may be
inserted already claimed under a ``Lease`` (docs/internals/dispatch.md, D13):
``_claims.claimed_entry`` then builds the claimed row and its flow from what the caller sent,
the ids and the rows' timestamp, as a claim's read-back would have read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from dwarf._storage._batch_items import CreateItem
from dwarf._storage._claims import Created
from dwarf._storage._gen import postgresql as pg

__all__ = ["create_many", "create_one"]

Connection = AsyncConnection[Any]


async def create_one(conn: Connection, item: CreateItem) -> Created:
    """Insert one flow with its entry step."""
    new, start, lease = item
    row = await pg.create_flow_with_entry(
        conn,
        flow_token=new.token,
        workflow_name=new.workflow_name,
        graph=new.graph,
        baggage=new.baggage,
        started=start,
        surgraph_flow_id=new.parent_flow_id,
        surgraph_step_depth=new.caller_depth,
        surgraph_step_id=new.caller_step_id,
        root_flow_id=new.root_flow_id,
        thread_id=new.thread[0] if new.thread else 0,
        thread_token=new.thread[1] if new.thread else "",
        breakpoints=new.breakpoints,
        trace_parent=new.trace_parent,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        time_budget_ms=new.time_budget_ms,
        entry_time_budget_ms=new.entry_time_budget_ms,
        delete_on_completion=new.delete_on_completion,
        step_depth=new.caller_depth + 1,
        step_token=new.entry_token,
        task_name=new.entry,
        state=new.state,
        lease_owner=lease.owner if lease else "",
        delay_ms=new.delay_ms,
        lease_margin_ms=lease.margin_ms if lease else 0,
    )
    assert row is not None  # the statement always returns its ids
    return Created(row.flow_id, row.step_id, row.created_at)


async def create_many(conn: Connection, items: Sequence[CreateItem]) -> list[Created]:
    """Insert a batch of flows with their entry steps in one statement; in input order."""
    flows = [new for new, _, _ in items]
    leases = [lease for _, _, lease in items]
    rows = await pg.create_flows_with_entries(
        conn,
        flow_tokens=[new.token for new in flows],
        workflow_names=[new.workflow_name for new in flows],
        graphs=[new.graph for new in flows],
        baggages=[new.baggage for new in flows],
        started_flags=[int(start) for _, start, _ in items],
        surgraph_flow_ids=[new.parent_flow_id for new in flows],
        surgraph_step_depths=[new.caller_depth for new in flows],
        surgraph_step_ids=[new.caller_step_id for new in flows],
        root_flow_ids=[new.root_flow_id for new in flows],
        thread_ids=[new.thread[0] if new.thread else 0 for new in flows],
        thread_tokens=[new.thread[1] if new.thread else "" for new in flows],
        breakpoint_sets=[new.breakpoints for new in flows],
        trace_parents=[new.trace_parent for new in flows],
        priorities=[new.priority for new in flows],
        fairness_keys=[new.fairness_key for new in flows],
        fairness_weights=[new.fairness_weight for new in flows],
        time_budgets_ms=[new.time_budget_ms for new in flows],
        entry_time_budgets_ms=[new.entry_time_budget_ms for new in flows],
        deletes_on_completion=[int(new.delete_on_completion) for new in flows],
        step_depths=[new.caller_depth + 1 for new in flows],
        step_tokens=[new.entry_token for new in flows],
        task_names=[new.entry for new in flows],
        states=[new.state for new in flows],
        delays_ms=[new.delay_ms for new in flows],
        lease_owners=[lease.owner if lease else "" for lease in leases],
        lease_margins_ms=[lease.margin_ms if lease else 0 for lease in leases],
    )
    return [Created(row.flow_id, row.step_id, row.created_at) for row in rows]
