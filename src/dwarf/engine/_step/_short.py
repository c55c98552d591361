"""The two commonest transitions, as one domain operation of the store each.

A step with exactly one successor outside a fan-out becomes ``Store.advance_to_successor``; a
fan-out-free flow's last step (no caller flow waiting on it) becomes ``Store.finish_flow``.
Every store writes the same rows; a dialect with a fast path does it in fewer round trips.
Anything else (fan-out, fan-in arrivals, subgraph callers, flows whose final state needs their
DAG) goes through the transition transaction in ``_transition``.

Either operation writes nothing when the lease was lost or the flow ended; the step is then
settled from the flow's status, as the transition transaction does. A successor due at once
may be inserted already claimed for this step's worker, which runs it next
(``Store.advance_claiming_successor``, docs/internals/dispatch.md#d13).
"""

from __future__ import annotations

from datetime import UTC, datetime

from dwarf._storage import Completion, Lease, NewStep
from dwarf.engine._runtime._telemetry import claimed_on_insert
from dwarf.engine._step._context import StepContext
from dwarf.engine._step._decision import Advance, AdvanceResult
from dwarf.engine._step._final_state import final_state_of_tail
from dwarf.engine._step._settle import settle_from_flow
from dwarf.engine._step._successors import millis, new_successor
from dwarf.workflow import FlowOutcome, Status
from dwarf.workflow._json import dumps_state, loads

__all__ = ["advance_short"]


async def advance_short(ctx: StepContext, decision: Advance) -> AdvanceResult | None:
    """Commit ``decision`` as one store operation; None when it needs the transaction."""
    route, row = decision.route, ctx.row
    if route.fan_out:
        return None
    if len(route.branches) == 1 and not ctx.graph.is_fan_in(route.branches[0].node):
        return await _to_successor(ctx, decision)
    if (
        not route.branches
        and row.lineage_id == 0
        and not ctx.graph.has_fan_out()
        and not ctx.flow.surgraph_step_id
    ):
        return await _finish(ctx, decision)
    return None


def _completion(ctx: StepContext, decision: Advance) -> Completion:
    row = ctx.row
    return Completion(
        row.step_id, row.lease_seq, dumps_state(decision.changes, "changes"), decision.goto
    )


async def _to_successor(ctx: StepContext, decision: Advance) -> AdvanceResult:
    branch = decision.route.branches[0]
    row = ctx.row
    if row.state_base and not branch.bindings:
        # A forEach branch's later step: its own overlay and these changes over the same
        # base, so no step of a branch stores the fan-out's array (docs/internals/state.md#c2).
        successor = new_successor(
            ctx,
            branch.node,
            {**loads(row.state), **decision.changes},
            row.lineage_id,
            row.fan_out_ordinal,
            delay_ms=millis(decision.sleep),
            base=row.state_base,
        )
    else:
        state = decision.successor_state
        if branch.bindings:
            state = {**state, **branch.bindings}
        successor = new_successor(
            ctx,
            branch.node,
            state,
            row.lineage_id,
            row.fan_out_ordinal,
            delay_ms=millis(decision.sleep),
            state_text=None if branch.bindings else _unchanged_input(ctx, decision),
        )
    lease = ctx.rt.successor_lease(ctx.store) if not successor.delay_ms else None
    if lease is not None:
        return await _to_claimed_successor(ctx, decision, successor, lease)
    successor_id = await ctx.store.advance_to_successor(_completion(ctx, decision), successor)
    if not successor_id:
        await _settle_unwritten(ctx)
        return AdvanceResult()
    return AdvanceResult(inserted=(successor_id,))


async def _to_claimed_successor(
    ctx: StepContext, decision: Advance, successor: NewStep, lease: Lease
) -> AdvanceResult:
    """Insert the successor claimed for this step's worker, which runs it next (dispatch D13).

    Protection counts it as selected from the moment it is known, as a refill's claim does.
    """
    claimed = await ctx.store.advance_claiming_successor(
        _completion(ctx, decision), successor, lease, ctx.flow
    )
    if not claimed:
        await _settle_unwritten(ctx)
        return AdvanceResult()
    if isinstance(claimed, int):
        return AdvanceResult(inserted=(claimed,))  # inserted pending: a refill claims it
    row = claimed.row
    ctx.rt.protection.commit(row.task_name, ctx.store.index, row.step_id, datetime.now(UTC))
    claimed_on_insert(ctx.rt, row)
    ctx.successor = claimed
    return AdvanceResult(inserted=(row.step_id,))


async def _finish(ctx: StepContext, decision: Advance) -> AdvanceResult:
    # Without fan-outs this step is the flow's only DAG tail: its own view is the final state.
    final = final_state_of_tail(decision.input_state, decision.changes, ctx.graph.reducers())
    done = _completion(ctx, decision)
    final_text = _unchanged_input(ctx, decision) or dumps_state(final, "final state")
    if not await ctx.store.finish_flow(done, ctx.flow.flow_id, final_text):
        await _settle_unwritten(ctx)
        return AdvanceResult()
    outcome = FlowOutcome(flow_key=ctx.flow_key, status=Status.COMPLETED, state=final)
    return AdvanceResult(stopped=outcome)


def _unchanged_input(ctx: StepContext, decision: Advance) -> str | None:
    """The claimed step's input as stored, when what follows it starts from that same state.

    With no changes the successor's input (and a last step's final state) is the step's own
    input minus top-level tombstones; when it has none, its stored text is that document, and
    encoding it again would cost O(state) per step for equal JSON. A forEach branch's stored
    text is only its bindings over its spawn's snapshot (``state_base``), never its whole input.
    """
    if decision.changes or ctx.row.state_base or None in decision.input_state.values():
        return None
    return ctx.row.state


async def _settle_unwritten(ctx: StepContext) -> None:
    """Nothing was written: if the flow ended, the step takes its status (lease-fenced)."""
    await ctx.store.transact(lambda db: settle_from_flow(ctx, db))
