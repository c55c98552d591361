"""The transition transaction: complete a step and create what follows it, atomically.

One transaction (re-run whole on lock contention) per finished step: the fenced completion,
the successor inserts, fan-in arrival counting, and the flow-row update or the flow's
completion. Writing the completion and the transitions together leaves no window in which a
crash strands a completed step without successors (a later-upstream fix).

Fan-out and fan-in (docs/internals/fan-in.md): a fan-out source's successors form a cohort whose
counters live on the source ("spawn") step; branches carry ``lineage_id = spawn`` and their
ordinal. A step routed into a fan-in node inserts nothing: it counts an arrival on its
cohort's spawn, and the transaction that sees ``arrivals == size`` (increment and read on the
same row, so exactly one does) merges the members' changes with the graph's reducers in
ordinal order and inserts the fan-in step once. A non-final arrival writes no flow row, so
siblings finishing together do not queue on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from dwarf._storage import GetFlowRow, SelectClaimedStepsRow, Store
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._decision import Advance, AdvanceResult
from dwarf.engine._step._final_state import (
    compute_final_state,
    final_state_of_tail,
    for_each_bindings,
)
from dwarf.engine._step._settle import adopt_flow_status, announce_stop, fail_upward
from dwarf.engine._step._short import advance_short
from dwarf.engine._step._subgraph import revive_caller
from dwarf.engine._step._successors import SuccessorInserter, millis
from dwarf.workflow import (
    FlowOutcome,
    Graph,
    Reducer,
    Status,
    fold_changes,
    merge_state,
)
from dwarf.workflow._json import dumps, loads

__all__ = ["Advance", "AdvanceResult", "advance"]


class _FlowGone(Exception):
    """The flow became terminal under us: roll the transition back."""


class _Lost(Exception):
    """The fenced completion matched no row: roll the transition back."""


async def advance(
    rt: Runtime,
    shard: Store,
    flow: GetFlowRow,
    graph: Graph,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult:
    """Commit ``decision`` for the claimed ``row`` and send the after-commit signals."""
    route = decision.route
    if not route.branches and row.lineage_id and not route.fan_out and not route.ended:
        return AdvanceResult(
            failure=f"task {row.task_name!r} has no successor inside its fan-out branch"
        )
    fast = await advance_short(rt, shard, flow, graph, row, decision)
    if fast is not None:
        result = fast
    else:
        try:
            result = await shard.transact(
                lambda conn: _transition(rt, shard, conn, flow, graph, row, decision)
            )
        except _Lost:
            return AdvanceResult()
        except _FlowGone:
            await shard.transact(lambda conn: adopt_flow_status(shard, conn, flow.flow_id, row))
            return AdvanceResult()
        except _ArrivalError as exc:
            return AdvanceResult(failure=str(exc))
    if result.stopped is not None:
        announce_stop(rt, shard, flow, result.stopped)
        if result.revived:
            rt.doorbell(shard, result.revived)
    elif result.inserted:
        if decision.sleep and decision.sleep > timedelta(0):
            rt.wake_in(decision.sleep)
        else:
            rt.doorbell(shard, result.inserted[0])
    return result


async def _transition(
    rt: Runtime,
    shard: Store,
    conn: Any,
    flow: GetFlowRow,
    graph: Graph,
    row: SelectClaimedStepsRow,
    decision: Advance,
) -> AdvanceResult:
    q = shard.q
    reducers = graph.reducers()
    route = decision.route
    inserter = SuccessorInserter(rt, shard, conn, flow, row, millis(decision.sleep))
    changes_json = dumps(decision.changes)

    async def complete(successor_id: int = 0) -> None:
        # The fenced write: zero rows means the lease was lost or the step cancelled, and the
        # whole transaction (successors included) rolls back.
        if successor_id:
            done = await q.complete_step_linked(
                conn,
                step_id=row.step_id,
                lease_seq=row.lease_seq,
                changes=changes_json,
                goto_next=decision.goto,
                successor_id=successor_id,
            )
        else:
            done = await q.complete_step(
                conn,
                step_id=row.step_id,
                lease_seq=row.lease_seq,
                changes=changes_json,
                goto_next=decision.goto,
            )
        if not done:
            raise _Lost

    if not route.branches:
        fan_in = graph.fan_in_of(row.task_name) if route.fan_out and not route.ended else None
        if fan_in is not None:
            # An empty cohort (forEach over nothing) fires its fan-in straight away, with the
            # source's own delta reduced into its state (later-upstream behaviour).
            state = merge_state(decision.input_state, decision.changes, reducers)
            step_id = await inserter.insert(fan_in, state, row.lineage_id, row.fan_out_ordinal)
            await complete(step_id)
            await q.set_cohort_size(conn, step_id=row.step_id, cohort_size=0)
            await _touch(shard, conn, flow.flow_id, step_id)
            return AdvanceResult(inserted=(step_id,))
        await complete()
        if row.lineage_id == 0 and not graph.has_fan_out():
            # Without fan-outs this step is the flow's only DAG tail: no need to read it back.
            final = final_state_of_tail(decision.input_state, decision.changes, reducers)
        else:
            final = await compute_final_state(shard, conn, flow.flow_id, reducers)
        if not await q.complete_flow(conn, flow_id=flow.flow_id, final_state=dumps(final)):
            raise _FlowGone
        revived = await revive_caller(shard, conn, flow, final, "")
        key = format_key(shard.index, flow.flow_id, flow.flow_token)
        return AdvanceResult(
            stopped=FlowOutcome(flow_key=key, status=Status.COMPLETED, state=final),
            revived=revived,
        )

    push = route.fan_out
    spawn = row.step_id if push else row.lineage_id
    # A fan-out source sent (by goto) straight into its own fan-in fans nothing out: the fan-in
    # fires at once, as for an empty cohort.
    own_fan_in = None if push else graph.fan_in_of(row.task_name)
    inserted: list[int] = []
    arrivals: list[str] = []
    for ordinal, branch in enumerate(route.branches):
        if branch.node == own_fan_in:
            state = merge_state(decision.input_state, decision.changes, reducers)
            inserted.append(
                await inserter.insert(branch.node, state, row.lineage_id, row.fan_out_ordinal)
            )
            continue
        if graph.is_fan_in(branch.node):
            arrivals.append(branch.node)
            continue
        state = decision.successor_state
        if branch.bindings:
            state = {**state, **branch.bindings}
        inserted.append(
            await inserter.insert(
                branch.node, state, spawn, ordinal if push else row.fan_out_ordinal
            )
        )
    await complete(inserted[0] if inserted else 0)
    if push:
        await q.set_cohort_size(conn, step_id=row.step_id, cohort_size=len(route.branches))
    stopped: FlowOutcome | None = None
    if arrivals:
        # The fan-in, if this arrival fires it, becomes this step's successor through
        # SetCohortExitSuccessors (this step is one of the cohort's exits).
        fired, stopped = await _arrive(
            shard, conn, flow, graph, row, spawn, arrivals, inserter, reducers
        )
        if fired is not None:
            if not inserted:
                # A source whose only way on was straight into its own fan-in: link it, or it
                # would stay a DAG tail and the final state would start from it.
                await q.set_step_successor(conn, step_id=row.step_id, successor_id=fired)
            inserted.append(fired)
    if stopped is None and (inserted or push):
        current = inserted[0] if len(inserted) == 1 else 0
        await _touch(shard, conn, flow.flow_id, current)
    return AdvanceResult(inserted=tuple(inserted), stopped=stopped)


async def _arrive(
    shard: Store,
    conn: Any,
    flow: GetFlowRow,
    graph: Graph,
    row: SelectClaimedStepsRow,
    spawn: int,
    fan_ins: list[str],
    inserter: SuccessorInserter,
    reducers: Mapping[str, Reducer],
) -> tuple[int | None, FlowOutcome | None]:
    """Count this step's arrival at its cohort's fan-in; fire it if this completes the cohort."""
    q = shard.q
    if spawn == 0:
        raise _ArrivalError(
            f"task {row.task_name!r} reached fan-in {fan_ins[0]!r} outside a fan-out"
        )
    await q.add_cohort_arrivals(conn, step_id=spawn, arrivals=len(fan_ins), failures=0)
    cohort = await q.get_cohort(conn, step_id=spawn)
    if cohort is None or cohort.cohort_size <= 0 or cohort.cohort_arrivals < cohort.cohort_size:
        return None, None
    if cohort.cohort_failures:
        error = await q.first_failed_step_error(conn, flow_id=flow.flow_id) or "cohort failed"
        failed = await fail_upward(
            shard, conn, flow, cohort.lineage_id, graph, error, [cohort.task_name]
        )
        if failed is None:
            return None, None
        key = format_key(shard.index, flow.flow_id, flow.flow_token)
        return None, FlowOutcome(
            flow_key=key, status=Status.FAILED, state=failed.final_state, error=failed.error
        )
    fan_in = fan_ins[0]
    base = merge_state(loads(cohort.state), loads(cohort.changes), reducers)
    try:
        merged = fold_changes(base, await _cohort_deltas(shard, conn, spawn), reducers)
    except (TypeError, ValueError) as exc:
        raise _ArrivalError(f"fan-in {fan_in!r} cannot merge its branches: {exc}") from None
    for key_name in for_each_bindings(graph, cohort.task_name):
        merged.pop(key_name, None)
    depth = (await q.max_cohort_depth(conn, lineage_id=spawn) or row.step_depth) + 1
    # The fan-in continues the spawn's own branch (if the spawn sat in an outer cohort).
    ordinal = await q.get_step_ordinal(conn, step_id=spawn) or 0
    step_id = await inserter.insert(fan_in, merged, cohort.lineage_id, ordinal, depth=depth)
    feeders = [edge.from_ for edge in graph.transitions() if graph.resolve(edge.to) == fan_in]
    await q.set_cohort_exit_successors(
        conn, lineage_id=spawn, successor_id=step_id, task_names=sorted(set(feeders))
    )
    return step_id, None


async def _cohort_deltas(shard: Store, conn: Any, spawn: int) -> list[dict[str, Any]]:
    """Every completed member's delta in branch input order, nested cohorts inlined.

    A member that spawned an inner cohort is followed by that cohort's deltas (recursively), so
    what an inner branch wrote reaches the outer fan-in even though only the inner fan-in step
    carries it in its input state. Order: ordinal, then step id (never completion order).
    """
    deltas: list[dict[str, Any]] = []
    for member in await shard.q.list_cohort_members(conn, lineage_id=spawn):
        deltas.append(loads(member.changes))
        if member.cohort_size > 0:
            deltas.extend(await _cohort_deltas(shard, conn, member.step_id))
    return deltas


class _ArrivalError(Exception):
    """The arrival cannot be recorded (no cohort, or the branches cannot be merged)."""


async def _touch(shard: Store, conn: Any, flow_id: int, step_id: int) -> None:
    if not await shard.q.touch_flow(conn, flow_id=flow_id, step_id=step_id):
        raise _FlowGone
