"""The transition: complete a step and create what follows it, atomically.

The two commonest transitions (one successor; a fan-out-free flow's last step) are one store
operation each (``_short``). Everything else is one transaction here (re-run whole on lock
contention): the fenced completion, the successor inserts, fan-in arrival counting
(``_cohort``), and the flow-row update or the flow's completion. Writing the completion and
the transitions together leaves no window in which a crash strands a completed step without
successors (a later-upstream fix). A non-final arrival writes no flow row, so siblings
finishing together do not queue on it (docs/internals/transitions.md, docs/internals/fan-in.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta

from dwarf._storage import Tx
from dwarf.engine._protection import park_if_tripped
from dwarf.engine._step._arrivals import Arrival, arrive_together, arrives_only, serialized
from dwarf.engine._step._cohort import CohortError, arrive
from dwarf.engine._step._context import StepContext
from dwarf.engine._step._decision import Advance, AdvanceResult
from dwarf.engine._step._final_state import compute_final_state, final_state_of_tail
from dwarf.engine._step._settle import MAX_ERROR, announce_stop, fail_upward, settle_from_flow
from dwarf.engine._step._short import advance_short
from dwarf.engine._step._subgraph import revive_caller
from dwarf.engine._step._successors import SuccessorInserter, millis
from dwarf.workflow import FlowOutcome, Status, merge_state
from dwarf.workflow._json import StateTooLargeError, dumps_state

__all__ = ["Advance", "AdvanceResult", "advance"]


class _FlowGone(Exception):
    """The flow became terminal under us: roll the transition back."""


class _Lost(Exception):
    """The fenced completion matched no row: roll the transition back."""


async def advance(ctx: StepContext, decision: Advance) -> AdvanceResult:
    """Commit ``decision`` for the claimed step and send the after-commit signals."""
    route, row, rt = decision.route, ctx.row, ctx.rt
    if not route.branches and row.lineage_id and not route.fan_out and not route.ended:
        return AdvanceResult(
            failure=f"task {row.task_name!r} has no successor inside its fan-out branch"
        )
    try:
        # The short paths write the completion alone; a routing note is one more statement.
        short = None if route.note else await advance_short(ctx, decision)
    except StateTooLargeError as exc:
        # A document the task's output built is too large to store: the step fails, once
        # (docs/internals/state.md#c10).
        return AdvanceResult(failure=str(exc))
    if short is not None:
        result = short
    else:
        try:
            result = await _commit(ctx, decision)
        except StateTooLargeError as exc:
            return AdvanceResult(failure=str(exc))
        except _Lost:
            return AdvanceResult()
        except _FlowGone:
            await ctx.store.transact(lambda db: settle_from_flow(ctx, db))
            return AdvanceResult()
        except CohortError as exc:
            return AdvanceResult(failure=str(exc))
    if result.stopped is not None:
        announce_stop(ctx, result.stopped)
        if result.revived:
            rt.doorbell(ctx.store, result.revived)
    elif result.inserted and ctx.successor is None:
        # A successor this worker claimed (dispatch D13) needs no doorbell: it runs next here.
        await park_if_tripped(rt, ctx.store, ctx.flow.flow_id)
        if decision.sleep and decision.sleep > timedelta(0):
            rt.wake_in(decision.sleep)
        else:
            rt.doorbell(ctx.store, result.inserted[0])
    return result


async def _commit(ctx: StepContext, decision: Advance) -> AdvanceResult:
    """The transition transaction; an arrival at a fan-in joins the arrivals of its cohort
    being committed on this replica, and commits alone only if that batch fails (_arrivals)."""
    if arrives_only(ctx, decision):
        arrival = serialized(ctx, decision)
        store = ctx.store

        async def together(batch: Sequence[Arrival]) -> list[AdvanceResult]:
            return await store.transact(lambda db: arrive_together(db, batch))

        with contextlib.suppress(Exception):
            batched: AdvanceResult = await ctx.rt.arrivals.submit(
                (store.index, ctx.row.lineage_id), arrival, together
            )
            return batched
    return await ctx.store.transact(lambda db: _transition(ctx, db, decision))


async def _transition(ctx: StepContext, db: Tx, decision: Advance) -> AdvanceResult:
    flow, graph, row = ctx.flow, ctx.graph, ctx.row
    reducers = graph.reducers()
    route = decision.route
    inserter = SuccessorInserter(ctx, db, millis(decision.sleep))
    changes_json = dumps_state(decision.changes, "changes")

    async def complete(successor_id: int = 0) -> None:
        # The fenced write: zero rows means the lease was lost or the step cancelled, and the
        # whole transaction (successors included) rolls back.
        if successor_id:
            done = await db.complete_step_linked(
                step_id=row.step_id,
                lease_seq=row.lease_seq,
                changes=changes_json,
                goto_next=decision.goto,
                successor_id=successor_id,
            )
        else:
            done = await db.complete_step(
                step_id=row.step_id,
                lease_seq=row.lease_seq,
                changes=changes_json,
                goto_next=decision.goto,
            )
        if not done:
            raise _Lost
        if route.note:
            await db.note_step(step_id=row.step_id, note=route.note[:MAX_ERROR])

    async def touch(step_id: int) -> None:
        if not await db.touch_flow(flow_id=flow.flow_id, step_id=step_id):
            raise _FlowGone

    if not route.branches:
        fan_in = graph.fan_in_of(row.task_name) if route.fan_out and not route.ended else None
        if fan_in is not None:
            # An empty cohort (forEach over nothing) fires its fan-in straight away, with the
            # source's own delta reduced into its state (later-upstream behaviour).
            state = merge_state(decision.input_state, decision.changes, reducers)
            step_id = await inserter.insert(fan_in, state, row.lineage_id, row.fan_out_ordinal)
            await complete(step_id)
            await db.set_cohort_size(step_id=row.step_id, cohort_size=0)
            await touch(step_id)
            return AdvanceResult(inserted=(step_id,))
        await complete()
        if row.lineage_id == 0 and not graph.has_fan_out():
            # Without fan-outs this step is the flow's only DAG tail: no need to read it back.
            final = final_state_of_tail(decision.input_state, decision.changes, reducers)
        else:
            final = await compute_final_state(db, flow.flow_id, reducers)
        if not await db.complete_flow(
            flow_id=flow.flow_id, final_state=dumps_state(final, "final state")
        ):
            raise _FlowGone
        revived = await revive_caller(db, flow, final, "")
        return AdvanceResult(
            stopped=FlowOutcome(flow_key=ctx.flow_key, status=Status.COMPLETED, state=final),
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
        if push and branch.bindings:
            # A forEach branch stores its bindings only, over this step's snapshot: the
            # array is stored once, not once per branch (docs/internals/state.md#c2).
            inserted.append(
                await inserter.insert(
                    branch.node, branch.bindings, spawn, ordinal, base=row.step_id
                )
            )
            continue
        inserted.append(
            await inserter.insert(
                branch.node,
                decision.successor_state,
                spawn,
                ordinal if push else row.fan_out_ordinal,
            )
        )
    await complete(inserted[0] if inserted else 0)
    if push:
        await db.set_cohort_size(step_id=row.step_id, cohort_size=len(route.branches))
    stopped: FlowOutcome | None = None
    revived = 0
    if arrivals:
        # The fan-in, if this arrival fires it, becomes this step's successor through
        # the cohort's exits being linked to it (this step is one of them).
        arrival = await arrive(ctx, db, spawn, arrivals, inserter)
        if arrival.failed_lineage is not None:
            failed = await fail_upward(
                ctx, db, arrival.failed_lineage, arrival.error, [arrival.failed_spawn]
            )
            if failed is not None:
                revived = failed.revived
                stopped = FlowOutcome(
                    flow_key=ctx.flow_key,
                    status=Status.FAILED,
                    state=failed.final_state,
                    error=failed.error,
                )
        elif arrival.fired:
            if not inserted:
                # A source whose only way on was straight into its own fan-in: link it, or it
                # would stay a DAG tail and the final state would start from it.
                await db.set_step_successor(step_id=row.step_id, successor_id=arrival.fired)
            inserted.append(arrival.fired)
    if stopped is None and (inserted or push):
        await touch(inserted[0] if len(inserted) == 1 else 0)
    return AdvanceResult(inserted=tuple(inserted), stopped=stopped, revived=revived)
