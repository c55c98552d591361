"""Single-statement transitions, for dialects that have them (``Shard.fast``: PostgreSQL).

The two commonest transitions are one step to exactly one successor, and a flow's last step.
Each is one statement in autocommit (a chain of data-modifying CTEs) instead of a transaction
of four or five: the fenced completion, the successor insert and the flow-row write still
commit together or not at all. Anything else (fan-out, fan-in arrivals, subgraph callers, flows
whose final state needs their DAG) goes through the portable transaction in ``_advance``.

What differs from the transaction: a statement cannot roll itself back after seeing a row count,
so each write is conditioned on the one before (completion -> flow row -> successor). The
completion also requires the flow to be live, so "lease lost" and "flow ended" both write
nothing; the caller then settles the step from the flow's status, as the transaction would.
"""

from __future__ import annotations

from dwarf._storage._gen.queries import FastPaths
from dwarf._storage._gen.rows import GetFlowRow, SelectClaimedStepsRow
from dwarf._storage._store import Shard
from dwarf.engine._advance_types import Advance, AdvanceResult
from dwarf.engine._finalize import final_state_of_tail
from dwarf.engine._keys import format_key, new_token
from dwarf.engine._runtime import Runtime
from dwarf.engine._settle import adopt_flow_status
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
    """Commit ``decision`` in one statement; None when it needs the portable transaction."""
    fast = shard.fast
    if fast is None:
        return None
    route = decision.route
    if route.fan_out:
        return None
    if len(route.branches) == 1 and not graph.is_fan_in(route.branches[0].node):
        return await _to_successor(rt, shard, fast, flow, row, decision)
    if (
        not route.branches
        and row.lineage_id == 0
        and not graph.has_fan_out()
        and not flow.surgraph_step_id
    ):
        return await _finish(rt, shard, fast, flow, graph, row, decision)
    return None


async def _to_successor(
    rt: Runtime,
    shard: Shard,
    fast: FastPaths,
    flow: GetFlowRow,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult:
    branch = decision.route.branches[0]
    state = decision.successor_state
    if branch.bindings:
        state = {**state, **branch.bindings}
    budget_ms = flow.time_budget_ms or int(rt.config.time_budget.total_seconds() * 1000)
    delay_ms = 0
    if decision.sleep is not None and decision.sleep.total_seconds() > 0:
        delay_ms = int(decision.sleep.total_seconds() * 1000)
    changes, goto = dumps(decision.changes), decision.goto
    state_text, token = dumps(strip_tombstones(state)), new_token()
    result = await shard.single(
        lambda conn: fast.advance_to_successor(
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
    if result is None or not result.completed:
        await _settle_unwritten(shard, flow, row)
        return AdvanceResult()
    if not result.touched:
        # The flow ended between the statement's snapshot and its write of the flow row: the
        # completion stands (the task did finish), nothing follows it.
        return AdvanceResult()
    return AdvanceResult(inserted=(result.successor_id,))


async def _finish(
    rt: Runtime,
    shard: Shard,
    fast: FastPaths,
    flow: GetFlowRow,
    graph: Graph,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult:
    # Without fan-outs this step is the flow's only DAG tail: its own view is the final state.
    final = final_state_of_tail(decision.input_state, decision.changes, graph.reducers())
    changes, goto, final_text = dumps(decision.changes), decision.goto, dumps(final)
    result = await shard.single(
        lambda conn: fast.finish_with_step(
            conn,
            changes=changes,
            goto_next=goto,
            step_id=row.step_id,
            lease_seq=row.lease_seq,
            flow_id=flow.flow_id,
            final_state=final_text,
        )
    )
    if result is None or not result.completed:
        await _settle_unwritten(shard, flow, row)
        return AdvanceResult()
    if not result.finished:
        return AdvanceResult()
    key = format_key(shard.index, flow.flow_id, flow.flow_token)
    return AdvanceResult(stopped=FlowOutcome(flow_key=key, status=Status.COMPLETED, state=final))


async def _settle_unwritten(shard: Shard, flow: GetFlowRow, row: SelectClaimedStepsRow) -> None:
    """Nothing was written: if the flow ended, the step takes its status (lease-fenced)."""
    await shard.transact(lambda conn: adopt_flow_status(shard, conn, flow.flow_id, row))
