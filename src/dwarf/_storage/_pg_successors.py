"""PostgreSQL's step-to-one-successor statements, alone and as a batch, pending or claimed.

One ``AdvanceToSuccessor`` statement (``AdvanceToSuccessors`` for a batch of the advances of
the moment, docs/internals/storage.md, S12) completes a claimed step, touches its flow and
inserts its successor. With a ``Lease`` the successor is inserted already claimed under it, and
the statement returns what the claim's read-back would have read (docs/internals/dispatch.md,
D13): ``_claims.claimed_successor`` builds the claimed row from that and from what the caller
sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from dwarf._storage._batch_items import AdvanceItem
from dwarf._storage._claims import Advanced
from dwarf._storage._gen import postgresql as pg
from dwarf._storage._gen.rows import (
    AdvanceToSuccessorRow,
    AdvanceToSuccessorsRow,
)

__all__ = ["advance_many", "advance_one"]

Connection = AsyncConnection[Any]


async def advance_one(conn: Connection, item: AdvanceItem) -> Advanced | None:
    """Write one advance; None when nothing was written (lease lost, or the flow ended)."""
    done, successor, lease = item
    row = await pg.advance_to_successor(
        conn,
        changes=done.changes,
        goto_next=done.goto_next,
        step_id=done.step_id,
        lease_seq=done.lease_seq,
        flow_id=successor.flow_id,
        step_depth=successor.depth,
        step_token=successor.token,
        task_name=successor.task_name,
        state=successor.state,
        state_base=successor.state_base,
        lease_owner=lease.owner if lease else "",
        time_budget_ms=successor.time_budget_ms,
        lineage_id=successor.lineage_id,
        fan_out_ordinal=successor.ordinal,
        priority=successor.priority,
        fairness_key=successor.fairness_key,
        fairness_weight=successor.fairness_weight,
        delay_ms=successor.delay_ms,
        lease_margin_ms=lease.margin_ms if lease else 0,
    )
    return _advanced(row) if row is not None else None


async def advance_many(conn: Connection, items: Sequence[AdvanceItem]) -> list[Advanced | None]:
    """Write a batch of advances in one statement; per item, in order, as ``advance_one``."""
    dones = [done for done, _, _ in items]
    nexts = [successor for _, successor, _ in items]
    leases = [lease for _, _, lease in items]
    rows = await pg.advance_to_successors(
        conn,
        step_ids=[done.step_id for done in dones],
        lease_seqs=[done.lease_seq for done in dones],
        flow_ids=[step.flow_id for step in nexts],
        step_changes=[done.changes for done in dones],
        gotos=[done.goto_next for done in dones],
        step_depths=[step.depth for step in nexts],
        step_tokens=[step.token for step in nexts],
        task_names=[step.task_name for step in nexts],
        states=[step.state for step in nexts],
        state_bases=[step.state_base for step in nexts],
        time_budgets_ms=[step.time_budget_ms for step in nexts],
        lineage_ids=[step.lineage_id for step in nexts],
        fan_out_ordinals=[step.ordinal for step in nexts],
        priorities=[step.priority for step in nexts],
        fairness_keys=[step.fairness_key for step in nexts],
        fairness_weights=[step.fairness_weight for step in nexts],
        delays_ms=[step.delay_ms for step in nexts],
        lease_owners=[lease.owner if lease else "" for lease in leases],
        lease_margins_ms=[lease.margin_ms if lease else 0 for lease in leases],
    )
    return [_advanced(row) for row in rows]


def _advanced(row: AdvanceToSuccessorRow | AdvanceToSuccessorsRow) -> Advanced | None:
    # touched = 0 with completed = 1: the flow ended between the statement's snapshot and its
    # write of the flow row. The completion stands (the task did finish); nothing follows it.
    if not (row.completed and row.touched):
        return None
    return Advanced(
        row.successor_id,
        row.created_at,
        row.base_lease_seq,
        row.flow_status,
        row.flow_breakpoints,
        row.flow_updated_at,
    )
