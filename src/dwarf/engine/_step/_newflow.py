"""Inserting a flow with its entry step: one helper for create, continue and subgraph spawn.

Every new flow is inserted ``created`` with its entry step ``created`` in the caller's
transaction, then made its own thread and root (unless it joins a thread or has a parent), and
optionally started in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dwarf._storage._store import Shard
from dwarf.engine._runtime._keys import new_token

__all__ = ["NewFlow", "insert_flow_rows"]


@dataclass(frozen=True, slots=True)
class NewFlow:
    """The values of a new flow row and its entry step (JSON fields as text)."""

    token: str
    workflow_name: str
    graph: str
    entry: str
    state: str
    baggage: str
    priority: int
    fairness_key: str
    fairness_weight: float
    time_budget_ms: int
    delay_ms: int = 0
    delete_on_completion: bool = False
    thread: tuple[int, str] | None = None
    breakpoints: str = "{}"
    parent_flow_id: int = 0
    caller_step_id: int = 0
    caller_depth: int = 0
    root_flow_id: int = 0


async def insert_flow_rows(
    shard: Shard, conn: Any, new: NewFlow, *, start: bool
) -> tuple[int, int]:
    """Insert the flow and its entry step (inside ``conn``'s transaction); start it if asked.

    Where the shard has the fast paths this is one statement, so a caller with nothing else to
    write may run it with ``Shard.autocommit`` instead of a transaction.

    Returns ``(flow_id, entry_step_id)``.
    """
    if shard.pg_fast is not None:
        row = await shard.pg_fast.create_flow_with_entry(
            conn,
            flow_token=new.token,
            workflow_name=new.workflow_name,
            graph=new.graph,
            baggage=new.baggage,
            started=1 if start else 0,
            surgraph_flow_id=new.parent_flow_id,
            surgraph_step_depth=new.caller_depth,
            surgraph_step_id=new.caller_step_id,
            root_flow_id=new.root_flow_id,
            thread_id=new.thread[0] if new.thread else 0,
            thread_token=new.thread[1] if new.thread else "",
            breakpoints=new.breakpoints,
            priority=new.priority,
            fairness_key=new.fairness_key,
            fairness_weight=new.fairness_weight,
            time_budget_ms=new.time_budget_ms,
            delete_on_completion=1 if new.delete_on_completion else 0,
            step_depth=new.caller_depth + 1,
            step_token=new_token(),
            task_name=new.entry,
            state=new.state,
            delay_ms=new.delay_ms,
        )
        assert row is not None  # the statement always returns its ids
        return row.flow_id, row.step_id
    q = shard.q
    flow_id = await q.insert_flow(
        conn,
        flow_token=new.token,
        workflow_name=new.workflow_name,
        graph=new.graph,
        baggage=new.baggage,
        # Started in the same transaction: running from the start.
        status="running" if start else "created",
        surgraph_flow_id=new.parent_flow_id,
        surgraph_step_depth=new.caller_depth,
        surgraph_step_id=new.caller_step_id,
        root_flow_id=new.root_flow_id,
        thread_id=new.thread[0] if new.thread else 0,
        thread_token=new.thread[1] if new.thread else "",
        forked_from_step=0,
        trace_parent="",
        breakpoints=new.breakpoints,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        time_budget_ms=new.time_budget_ms,
        delete_on_completion=1 if new.delete_on_completion else 0,
    )
    step_id = await q.insert_step(
        conn,
        flow_id=flow_id,
        step_depth=new.caller_depth + 1,
        step_token=new_token(),
        task_name=new.entry,
        state=new.state,
        changes="{}",
        # Started in the same transaction: the entry step is pending from the start.
        status="pending" if start else "created",
        time_budget_ms=new.time_budget_ms,
        lineage_id=0,
        fan_out_ordinal=0,
        predecessor_id=0,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        parked=0,
        delay_ms=new.delay_ms,
    )
    await q.adopt_flow_identity(conn, flow_id=flow_id, step_id=step_id)
    return flow_id, step_id
