"""Arrivals at one fan-in, committed together: one transaction for the branches that finish
while another arrival of their cohort is being committed on this replica.

Every arrival takes the spawn step's row lock until it commits (fan-in.md#f3), so a cohort's
arrivals commit one after another, each paying a commit (an fsync) while holding the lock: a
10,000-branch fan-out spent most of its time queued there. Branches of one cohort that finish
while an arrival is in flight instead go in the next transaction together: each step's fenced
completion, then one increment of the counters by all of them and one read, which fires the
fan-in exactly once as before (the last step of the batch is its predecessor). A lost lease
drops that step from the batch, as its own transaction would have written nothing. Anything
else that goes wrong rolls the batch back and each step commits alone, the usual way.
"""

from __future__ import annotations

from collections.abc import Sequence

from dwarf._storage import Tx
from dwarf.engine._step._cohort import arrive
from dwarf.engine._step._context import StepContext
from dwarf.engine._step._decision import Advance, AdvanceResult
from dwarf.engine._step._settle import fail_upward
from dwarf.engine._step._successors import SuccessorInserter, millis
from dwarf.workflow import FlowOutcome, Status
from dwarf.workflow._json import dumps_state

__all__ = ["Arrival", "FlowGoneError", "arrive_together", "arrives_only", "serialized"]

Arrival = tuple[StepContext, Advance, str]
"""A finished step, what it decided, and its changes serialized."""


class FlowGoneError(Exception):
    """The flow ended under the batch: each step settles alone."""


def arrives_only(ctx: StepContext, decision: Advance) -> bool:
    """Whether the step's whole transition is an arrival at its cohort's fan-in."""
    route, graph, row = decision.route, ctx.graph, ctx.row
    return bool(
        route.branches
        and not route.fan_out
        and not route.note
        and row.lineage_id
        and graph.fan_in_of(row.task_name) is None
        and all(graph.is_fan_in(branch.node) for branch in route.branches)
    )


async def arrive_together(db: Tx, batch: Sequence[Arrival]) -> list[AdvanceResult]:
    """Commit ``batch`` (arrivals at one cohort's fan-in) in the transaction on ``db``."""
    results = [AdvanceResult() for _ in batch]
    completed: list[int] = []
    for index, (ctx, decision, changes) in enumerate(batch):
        if await db.complete_step(
            step_id=ctx.row.step_id,
            lease_seq=ctx.row.lease_seq,
            changes=changes,
            goto_next=decision.goto,
        ):
            completed.append(index)
    if not completed:
        return results
    last = completed[-1]
    ctx, decision, _ = batch[last]
    fan_ins = [branch.node for branch in decision.route.branches]
    count = sum(len(batch[index][1].route.branches) for index in completed)
    inserter = SuccessorInserter(ctx, db, millis(decision.sleep))
    arrival = await arrive(ctx, db, ctx.row.lineage_id, fan_ins, inserter, count=count)
    if arrival.failed_lineage is not None:
        failed = await fail_upward(
            ctx, db, arrival.failed_lineage, arrival.error, [arrival.failed_spawn]
        )
        if failed is not None:
            results[last] = AdvanceResult(
                stopped=FlowOutcome(
                    flow_key=ctx.flow_key,
                    status=Status.FAILED,
                    state=failed.final_state,
                    error=failed.error,
                ),
                revived=failed.revived,
            )
    elif arrival.fired:
        await db.set_step_successor(step_id=ctx.row.step_id, successor_id=arrival.fired)
        if not await db.touch_flow(flow_id=ctx.flow.flow_id, step_id=arrival.fired):
            raise FlowGoneError
        results[last] = AdvanceResult(inserted=(arrival.fired,))
    return results


def serialized(ctx: StepContext, decision: Advance) -> Arrival:
    """The arrival with its changes serialized (raises ``StateTooLargeError`` first)."""
    return ctx, decision, dumps_state(decision.changes, "changes")
