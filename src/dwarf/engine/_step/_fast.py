"""Short transitions, for dialects with fast paths (``Shard.pg_fast``, ``Shard.mysql_fast``).

The two commonest transitions are a step with exactly one successor outside a fan-out, and a
fan-out-free flow's last step. Anything else (fan-out, fan-in arrivals, subgraph callers, flows
whose final state needs their DAG) goes through the portable transaction in ``_advance``.

- PostgreSQL: each is ONE statement in autocommit (data-modifying CTEs). A statement cannot
  roll itself back after seeing a row count, so each write is conditioned on the one before
  (completion -> flow row -> successor), and the completion requires the flow to be live.
- MySQL/MariaDB: the completion and the flow-row write are one multi-table UPDATE (both rows
  match and change, or neither). The last step is that statement alone, in autocommit; a
  step-to-successor transition is the successor's INSERT plus that UPDATE in a transaction,
  rolled back when the UPDATE matched nothing.

Either way, "lease lost" and "flow ended" write nothing, and the step is then settled from the
flow's status, as the portable transaction does.
"""

from __future__ import annotations

from typing import Any

from dwarf._storage._gen.rows import GetFlowRow, SelectClaimedStepsRow
from dwarf._storage._store import Shard
from dwarf.engine._runtime._keys import format_key, new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._decision import Advance, AdvanceResult
from dwarf.engine._step._final_state import final_state_of_tail
from dwarf.engine._step._settle import adopt_flow_status
from dwarf.engine._step._successors import SuccessorInserter, millis, step_budget_ms
from dwarf.workflow import FlowOutcome, Graph, Status, strip_tombstones
from dwarf.workflow._json import dumps

__all__ = ["advance_fast"]


async def advance_fast(
    rt: Runtime,
    shard: Shard,
    flow: GetFlowRow,
    graph: Graph,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult | None:
    """Commit ``decision`` on a fast path; None when it needs the portable transaction."""
    if shard.pg_fast is None and shard.mysql_fast is None:
        return None
    route = decision.route
    if route.fan_out:
        return None
    if len(route.branches) == 1 and not graph.is_fan_in(route.branches[0].node):
        return await _to_successor(rt, shard, flow, row, decision)
    if (
        not route.branches
        and row.lineage_id == 0
        and not graph.has_fan_out()
        and not flow.surgraph_step_id
    ):
        return await _finish(shard, flow, graph, row, decision)
    return None


class _NothingWritten(Exception):
    """The fenced write matched nothing: roll the transaction back."""


async def _to_successor(
    rt: Runtime,
    shard: Shard,
    flow: GetFlowRow,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult:
    branch = decision.route.branches[0]
    state = decision.successor_state
    if branch.bindings:
        state = {**state, **branch.bindings}
    changes, goto, delay_ms = dumps(decision.changes), decision.goto, millis(decision.sleep)
    pg, my = shard.pg_fast, shard.mysql_fast
    successor_id = 0
    if pg is not None:
        state_text = dumps(strip_tombstones(state))
        token, budget_ms = new_token(), step_budget_ms(rt, flow)
        result = await shard.autocommit(
            lambda conn: pg.advance_to_successor(
                conn,
                changes=changes,
                goto_next=goto,
                step_id=row.step_id,
                lease_seq=row.lease_seq,
                flow_id=flow.flow_id,
                step_depth=row.step_depth + 1,
                step_token=token,
                task_name=branch.node,
                state=state_text,
                time_budget_ms=budget_ms,
                lineage_id=row.lineage_id,
                fan_out_ordinal=row.fan_out_ordinal,
                priority=flow.priority,
                fairness_key=flow.fairness_key,
                fairness_weight=flow.fairness_weight,
                delay_ms=delay_ms,
            )
        )
        # touched = 0 with completed = 1: the flow ended between the statement's snapshot and
        # its write of the flow row. The completion stands (the task did finish); nothing
        # follows it.
        if result is not None and result.completed and result.touched:
            successor_id = result.successor_id
    elif my is not None:

        async def insert_and_complete(conn: Any) -> int:
            inserter = SuccessorInserter(rt, shard, conn, flow, row, delay_ms)
            inserted = await inserter.insert(
                branch.node, state, row.lineage_id, row.fan_out_ordinal
            )
            written = await my.complete_step_linked_and_touch(
                conn,
                changes=changes,
                goto_next=goto,
                successor_id=inserted,
                step_id=row.step_id,
                lease_seq=row.lease_seq,
            )
            if not written:
                raise _NothingWritten
            return inserted

        try:
            successor_id = await shard.transact(insert_and_complete)
        except _NothingWritten:
            successor_id = 0
    if not successor_id:
        await _settle_unwritten(shard, flow, row)
        return AdvanceResult()
    return AdvanceResult(inserted=(successor_id,))


async def _finish(
    shard: Shard,
    flow: GetFlowRow,
    graph: Graph,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult:
    # Without fan-outs this step is the flow's only DAG tail: its own view is the final state.
    final = final_state_of_tail(decision.input_state, decision.changes, graph.reducers())
    changes, goto, final_text = dumps(decision.changes), decision.goto, dumps(final)
    pg, my = shard.pg_fast, shard.mysql_fast
    finished = False
    if pg is not None:
        result = await shard.autocommit(
            lambda conn: pg.finish_with_step(
                conn,
                changes=changes,
                goto_next=goto,
                step_id=row.step_id,
                lease_seq=row.lease_seq,
                flow_id=flow.flow_id,
                final_state=final_text,
            )
        )
        # finished = 0 with completed = 1: the flow ended under the statement (see above).
        finished = result is not None and bool(result.completed and result.finished)
    elif my is not None:
        written = await shard.autocommit(
            lambda conn: my.complete_step_and_flow(
                conn,
                changes=changes,
                goto_next=goto,
                final_state=final_text,
                step_id=row.step_id,
                lease_seq=row.lease_seq,
            )
        )
        finished = written > 0
    if not finished:
        await _settle_unwritten(shard, flow, row)
        return AdvanceResult()
    key = format_key(shard.index, flow.flow_id, flow.flow_token)
    return AdvanceResult(stopped=FlowOutcome(flow_key=key, status=Status.COMPLETED, state=final))


async def _settle_unwritten(shard: Shard, flow: GetFlowRow, row: SelectClaimedStepsRow) -> None:
    """Nothing was written: if the flow ended, the step takes its status (lease-fenced)."""
    await shard.transact(lambda conn: adopt_flow_status(shard, conn, flow.flow_id, row))
