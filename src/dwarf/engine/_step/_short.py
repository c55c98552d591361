"""The two commonest transitions, as one domain operation of the store each.

A step with exactly one successor outside a fan-out becomes ``Store.advance_to_successor``; a
fan-out-free flow's last step (no caller flow waiting on it) becomes ``Store.finish_flow``.
Every store writes the same rows; a dialect with a fast path does it in fewer round trips.
Anything else (fan-out, fan-in arrivals, subgraph callers, flows whose final state needs their
DAG) goes through the transition transaction in ``_transition``.

Either operation writes nothing when the lease was lost or the flow ended; the step is then
settled from the flow's status, as the transition transaction does.
"""

from __future__ import annotations

from dwarf._storage import Completion, GetFlowRow, SelectClaimedStepsRow, Store
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._decision import Advance, AdvanceResult
from dwarf.engine._step._final_state import final_state_of_tail
from dwarf.engine._step._settle import adopt_flow_status
from dwarf.engine._step._successors import millis, new_successor
from dwarf.workflow import FlowOutcome, Graph, Status
from dwarf.workflow._json import dumps

__all__ = ["advance_short"]


async def advance_short(
    rt: Runtime,
    store: Store,
    flow: GetFlowRow,
    graph: Graph,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult | None:
    """Commit ``decision`` as one store operation; None when it needs the transaction."""
    route = decision.route
    if route.fan_out:
        return None
    if len(route.branches) == 1 and not graph.is_fan_in(route.branches[0].node):
        return await _to_successor(rt, store, flow, row, decision)
    if (
        not route.branches
        and row.lineage_id == 0
        and not graph.has_fan_out()
        and not flow.surgraph_step_id
    ):
        return await _finish(store, flow, graph, row, decision)
    return None


def _completion(row: SelectClaimedStepsRow, decision: Advance) -> Completion:
    return Completion(row.step_id, row.lease_seq, dumps(decision.changes), decision.goto)


async def _to_successor(
    rt: Runtime,
    store: Store,
    flow: GetFlowRow,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult:
    branch = decision.route.branches[0]
    state = decision.successor_state
    if branch.bindings:
        state = {**state, **branch.bindings}
    successor = new_successor(
        rt,
        flow,
        row,
        branch.node,
        state,
        row.lineage_id,
        row.fan_out_ordinal,
        delay_ms=millis(decision.sleep),
    )
    successor_id = await store.advance_to_successor(_completion(row, decision), successor)
    if not successor_id:
        await _settle_unwritten(store, flow, row)
        return AdvanceResult()
    return AdvanceResult(inserted=(successor_id,))


async def _finish(
    store: Store,
    flow: GetFlowRow,
    graph: Graph,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult:
    # Without fan-outs this step is the flow's only DAG tail: its own view is the final state.
    final = final_state_of_tail(decision.input_state, decision.changes, graph.reducers())
    if not await store.finish_flow(_completion(row, decision), flow.flow_id, dumps(final)):
        await _settle_unwritten(store, flow, row)
        return AdvanceResult()
    key = format_key(store.index, flow.flow_id, flow.flow_token)
    return AdvanceResult(stopped=FlowOutcome(flow_key=key, status=Status.COMPLETED, state=final))


async def _settle_unwritten(store: Store, flow: GetFlowRow, row: SelectClaimedStepsRow) -> None:
    """Nothing was written: if the flow ended, the step takes its status (lease-fenced)."""
    await store.transact(lambda conn: adopt_flow_status(store, conn, flow.flow_id, row))
