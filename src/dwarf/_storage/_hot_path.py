"""The portable hot-path writes, inside a caller's transaction: a step to its one successor, and
a flow's last step with the flow.

Each either writes everything or raises ``NothingWritten`` for its caller to roll its
transaction back: the lease was lost, or the flow is no longer live. A dialect's fast path
writes the same rows in fewer statements (``Store`` subclasses); these are what SQLite and
SQL Server run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dwarf._storage._gen.tx import Tx
from dwarf._storage._records import Completion, FlowIds, NewFlow, NewStep
from dwarf.workflow import Status

if TYPE_CHECKING:
    from dwarf._storage._store import Store

__all__ = [
    "Advance",
    "Finish",
    "NothingWritten",
    "advance",
    "finish",
    "insert_flow",
    "insert_flow_row",
]


Advance = tuple[Completion, NewStep]
"""A claimed step's completion and the one successor it links to."""
Finish = tuple[Completion, int, str]
"""A flow's last step's completion, the flow's id and its final state (JSON)."""


class NothingWritten(Exception):
    """The fenced write matched nothing: roll this item back."""


async def advance(store: Store, db: Tx, item: Advance) -> int:
    """Insert the successor, complete the step linked to it and touch the flow; its id."""
    done, successor = item
    successor_id = await store.insert_step(db, successor)
    completed = await db.complete_step_linked(
        step_id=done.step_id,
        lease_seq=done.lease_seq,
        changes=done.changes,
        goto_next=done.goto_next,
        successor_id=successor_id,
    )
    if not completed or not await db.touch_flow(flow_id=successor.flow_id, step_id=successor_id):
        raise NothingWritten
    return successor_id


async def finish(db: Tx, item: Finish) -> bool:
    """Complete the step, then the flow with its final state."""
    done, flow_id, final_state = item
    completed = await db.complete_step(
        step_id=done.step_id,
        lease_seq=done.lease_seq,
        changes=done.changes,
        goto_next=done.goto_next,
    )
    if not completed or not await db.complete_flow(flow_id=flow_id, final_state=final_state):
        raise NothingWritten
    return True


async def insert_flow(db: Tx, new: NewFlow, *, start: bool) -> FlowIds:
    """Insert a new flow, its entry step, and make the flow its own thread and root."""
    flow_id = await insert_flow_row(db, new, start=start)
    step_id = await db.insert_step(
        flow_id=flow_id,
        step_depth=new.caller_depth + 1,
        step_token=new.entry_token,
        task_name=new.entry,
        state=new.state,
        state_base=0,
        changes="{}",
        status=Status.PENDING if start else Status.CREATED,
        time_budget_ms=new.entry_time_budget_ms,
        lineage_id=0,
        fan_out_ordinal=0,
        predecessor_id=0,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        parked=0,
        delay_ms=new.delay_ms,
    )
    await db.adopt_flow_identity(flow_id=flow_id, step_id=step_id)
    return FlowIds(flow_id, step_id)


async def insert_flow_row(db: Tx, new: NewFlow, *, start: bool) -> int:
    """Insert a new flow's row (running with ``start``, else created); its id.

    Its entry step comes next, and ``AdoptFlowIdentity`` after it (``insert_flow``).
    """
    return await db.insert_flow(
        flow_token=new.token,
        workflow_name=new.workflow_name,
        graph=new.graph,
        baggage=new.baggage,
        status=Status.RUNNING if start else Status.CREATED,
        surgraph_flow_id=new.parent_flow_id,
        surgraph_step_depth=new.caller_depth,
        surgraph_step_id=new.caller_step_id,
        root_flow_id=new.root_flow_id,
        thread_id=new.thread[0] if new.thread else 0,
        thread_token=new.thread[1] if new.thread else "",
        forked_from_step=0,
        trace_parent=new.trace_parent,
        breakpoints=new.breakpoints,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        time_budget_ms=new.time_budget_ms,
        delete_on_completion=new.delete_on_completion,
    )
