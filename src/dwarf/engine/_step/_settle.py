"""Failing steps and flows, and telling the world a flow stopped.

A failed step outside any fan-out fails its flow at once. Inside a cohort it counts as an
arrival with a failure on the cohort's spawn step; only when the whole cohort has arrived does
the failure travel up (to the parent cohort, or to the flow), so siblings keep running until
then (``_cohort``; docs/internals/fan-in.md#f9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dwarf._storage import Tx
from dwarf.engine._step._cohort import count_failure
from dwarf.engine._step._context import StepContext
from dwarf.engine._step._events import flow_ended, step_event
from dwarf.engine._step._final_state import fail_flow_in_tx, for_each_bindings
from dwarf.engine._step._subgraph import revive_caller
from dwarf.workflow import FlowOutcome, Status

MAX_ERROR = 16_384
"""Longest error text stored on a step or flow."""

__all__ = [
    "MAX_ERROR",
    "FlowFailure",
    "announce_stop",
    "fail_step",
    "fail_upward",
    "settle_from_flow",
]


@dataclass(frozen=True, slots=True)
class FlowFailure:
    """A failure that failed the flow: its final state, its error, the caller revived (or 0)."""

    final_state: dict[str, Any]
    error: str
    revived: int
    error_type: str = ""


async def fail_upward(
    ctx: StepContext,
    db: Tx,
    lineage: int,
    error: str,
    failed_spawns: list[str],
    error_type: str = "",
) -> FlowFailure | None:
    """Record a failure arriving at cohort ``lineage`` (0 = the flow itself).

    Returns the flow's failure when this one failed the flow, else None (the cohort is still
    waiting for siblings, or another failure already failed the flow). The flow's final state
    drops the failed cohorts' forEach bindings (``failed_spawns``: tasks of cohorts already
    known to have failed). A failed subgraph child revives its caller, whose ``subgraph()``
    raises ``SubgraphFailedError``. ``error_type`` (the failed task's exception type) goes
    to the flow when this failure is the one the flow fails with.
    """
    flow, graph = ctx.flow, ctx.graph
    spawns = list(failed_spawns)
    reached = await count_failure(db, flow.flow_id, lineage, error, spawns)
    if reached is None:
        return None
    strip = [name for task in spawns for name in for_each_bindings(graph, task)]
    flow_type = error_type if reached == error else ""
    changed, final = await fail_flow_in_tx(
        db, flow.flow_id, reached, graph.reducers(), strip, flow_type
    )
    if not changed:
        return None
    revived = await revive_caller(db, flow, final, reached)
    return FlowFailure(final, reached, revived, flow_type)


async def fail_step(ctx: StepContext, error: str, exc: BaseException | None = None) -> None:
    """Fail the claimed step (fenced) and, where that resolves it, its cohort and flow.

    ``exc`` is the task's exception when a task failed (None for a failure the engine found).
    """
    step_event(ctx, "failed", exc, "" if exc is not None else error)
    if len(error) > MAX_ERROR:
        # Error texts can be huge (a whole response body); the smallest TEXT column holds 64 KB.
        error = error[: MAX_ERROR - 1] + "…"
    # An exception's message may hold a NUL, which a text column refuses
    # (docs/internals/state.md#c10).
    error = error.replace("\x00", "\ufffd")
    store, row = ctx.store, ctx.row
    error_type = type(exc).__name__ if exc is not None else ""

    async def tx(db: Tx) -> FlowFailure | None:
        failed = await db.fail_step(
            error=error, error_type=error_type, step_id=row.step_id, lease_seq=row.lease_seq
        )
        if not failed:
            return None
        return await fail_upward(ctx, db, row.lineage_id, error, [], error_type)

    failure = await store.transact(tx)
    if failure is not None:
        if failure.revived:
            ctx.rt.doorbell(store, failure.revived)
        announce_stop(
            ctx,
            FlowOutcome(
                flow_key=ctx.flow_key,
                status=Status.FAILED,
                state=failure.final_state,
                error=failure.error,
                error_type=failure.error_type,
            ),
        )


async def settle_from_flow(ctx: StepContext, db: Tx) -> None:
    """If the flow ended under the running step, the step takes its status (lease-fenced)."""
    _store, row = ctx.store, ctx.row
    current = await db.get_flow_by_id(flow_id=ctx.flow.flow_id)
    status = current.status if current is not None else Status.CANCELLED
    if status.is_terminal:
        await db.set_step_status_from_flow(
            step_id=row.step_id, lease_seq=row.lease_seq, status=status
        )


def announce_stop(ctx: StepContext, outcome: FlowOutcome) -> None:
    """After commit: wake waiters, tell peers, call the host's stop callback."""
    rt = ctx.rt
    flow_ended(ctx, outcome.status)
    rt.flow_stopped(ctx.flow_key, outcome.status, outcome)
    rt.notify_host(ctx.flow.notify_hostname, outcome)
    if outcome.status is Status.COMPLETED and rt.peer_notifier is not None:
        # Wake idle peers: a completion may free capacity for work they can claim.
        rt.spawn(rt.peer_notifier.enqueue(0, 0), "peer enqueue")
