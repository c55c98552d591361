"""SQLite's writes that insert a step already claimed (docs/internals/dispatch.md#d13).

An advance claiming its successor, and a create claiming the entry step of the flow it starts,
each inside its caller's transaction. They are the portable writes (``_hot_path``) with the
step's INSERT claiming it as ``ClaimSteps`` would (``InsertClaimedStep``, in
sql/queries/sqlite/fastpath.sql), and what a claim's read-back would have read is returned by
the writes themselves (RETURNING), so a claimed step costs no claim, no read-back and no refill.
Under py-spy the refill path (a scan, the claim and its two reads) was a sixth of a SQLite
flow's samples (docs/internals/storage.md, S5b).
"""

from __future__ import annotations

from dwarf._storage import _hot_path as hot_path
from dwarf._storage._claims import Advanced, Created, claimed_entry, claimed_successor
from dwarf._storage._gen import sqlite as lite
from dwarf._storage._gen.rows import FlowRow, InsertClaimedStepRow
from dwarf._storage._gen.tx import Tx
from dwarf._storage._records import ClaimedStep, Completion, Lease, NewFlow, NewStep
from dwarf._storage._sqlite_inline import InlineSqlite
from dwarf.errors import StorageError

__all__ = ["advance_claiming", "create_claiming"]


async def advance_claiming(
    conn: InlineSqlite, done: Completion, successor: NewStep, lease: Lease, flow: FlowRow
) -> ClaimedStep:
    """Insert ``successor`` claimed under ``lease``, complete ``done`` linked to it and touch
    the flow; the successor as a claim would read it, ``flow`` brought up to date.

    Raises ``NothingWritten`` when the completion or the flow's touch matched nothing (the
    lease was lost, or the flow is no longer live): the caller's transaction rolls back.
    """
    inserted = await _insert_claimed(conn, successor, lease)
    completed = await Tx(lite, conn).complete_step_linked(
        step_id=done.step_id,
        lease_seq=done.lease_seq,
        changes=done.changes,
        goto_next=done.goto_next,
        successor_id=inserted.step_id,
    )
    touched = completed and await lite.touch_flow_returning(
        conn, step_id=inserted.step_id, flow_id=successor.flow_id
    )
    if not touched:
        raise hot_path.NothingWritten
    base_lease_seq = 0
    if successor.state_base > 0:  # a forEach branch's snapshot (SelectClaimedSteps joins it)
        base_lease_seq = await lite.get_base_lease_seq(conn, step_id=successor.state_base) or 0
    advanced = Advanced(
        inserted.step_id,
        inserted.created_at,
        base_lease_seq,
        touched.status,
        touched.breakpoints,
        touched.updated_at,
    )
    return claimed_successor(done, successor, advanced, flow)


async def create_claiming(conn: InlineSqlite, new: NewFlow, lease: Lease) -> ClaimedStep:
    """Insert the flow ``new`` running and its entry step claimed under ``lease``; the entry as
    a claim would read it, with the flow row as written (read by its key: its timestamps are
    its own statement's, which SQLite may stamp a millisecond apart from the step's)."""
    db = Tx(lite, conn)
    flow_id = await hot_path.insert_flow_row(db, new, start=True)
    entry = NewStep(
        flow_id=flow_id,
        depth=new.caller_depth + 1,
        token=new.entry_token,
        task_name=new.entry,
        state=new.state,
        time_budget_ms=new.entry_time_budget_ms,
        lineage_id=0,
        ordinal=0,
        predecessor_id=0,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        delay_ms=0,
    )
    inserted = await _insert_claimed(conn, entry, lease)
    await db.adopt_flow_identity(flow_id=flow_id, step_id=inserted.step_id)
    flow = await db.get_flow_by_id(flow_id=flow_id)
    claimed = claimed_entry(new, Created(flow_id, inserted.step_id, inserted.created_at))
    return ClaimedStep(claimed.row, flow)


async def _insert_claimed(conn: InlineSqlite, step: NewStep, lease: Lease) -> InsertClaimedStepRow:
    """Insert ``step``, due now, claimed under ``lease``: its id and timestamp."""
    inserted = await lite.insert_claimed_step(
        conn,
        flow_id=step.flow_id,
        step_depth=step.depth,
        step_token=step.token,
        task_name=step.task_name,
        state=step.state,
        time_budget_ms=step.time_budget_ms,
        lineage_id=step.lineage_id,
        fan_out_ordinal=step.ordinal,
        predecessor_id=step.predecessor_id,
        priority=step.priority,
        fairness_key=step.fairness_key,
        fairness_weight=step.fairness_weight,
        state_base=step.state_base,
        lease_owner=lease.owner,
        lease_margin_ms=lease.margin_ms,
    )
    if inserted is None:  # an INSERT ... RETURNING returns its row, or raises
        raise StorageError("SQLite inserted a step but returned no row for it")
    return inserted
