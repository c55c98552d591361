"""Failing steps and flows, and telling the world a flow stopped.

A failed step outside any fan-out fails its flow at once. Inside a cohort it counts as an
arrival with a failure on the cohort's spawn step; only when the whole cohort has arrived does
the failure travel up (to the parent cohort, or to the flow), so siblings keep running until
then (docs/internals/fan-in.md#f9).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from dwarf._storage import GetFlowRow, SelectClaimedStepsRow, Store
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._final_state import fail_flow_in_tx, for_each_bindings
from dwarf.engine._step._subgraph import revive_caller
from dwarf.workflow import FlowOutcome, Graph, Status

MAX_ERROR = 16_384
"""Longest error text stored on a step or flow."""

__all__ = [
    "MAX_ERROR",
    "FlowFailure",
    "adopt_flow_status",
    "announce_stop",
    "fail_step",
    "fail_upward",
]


class _StepRef(Protocol):
    @property
    def step_id(self) -> int: ...
    @property
    def lease_seq(self) -> int: ...
    @property
    def lineage_id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class FlowFailure:
    """A failure that failed the flow: its final state, its error, the caller revived (or 0)."""

    final_state: dict[str, Any]
    error: str
    revived: int


async def fail_upward(
    shard: Store,
    conn: Any,
    flow: GetFlowRow,
    lineage: int,
    graph: Graph,
    error: str,
    failed_spawns: Iterable[str] = (),
) -> FlowFailure | None:
    """Record a failure arriving at cohort ``lineage`` (0 = the flow itself).

    Returns the flow's failure when this one failed the flow, else None (the cohort is still
    waiting for siblings, or another failure already failed the flow). A flow failed through a
    cohort reports its first failed step's error, and its final state drops the failed cohorts'
    forEach bindings (``failed_spawns``: tasks of cohorts already known to have failed). A
    failed subgraph child revives its caller, whose ``subgraph()`` raises ``SubgraphFailedError``.
    """
    q = shard.q
    spawns = list(failed_spawns)
    while lineage != 0:
        await q.add_cohort_arrivals(conn, step_id=lineage, arrivals=1, failures=1)
        cohort = await q.get_cohort(conn, step_id=lineage)
        if cohort is None or cohort.cohort_arrivals < cohort.cohort_size:
            return None
        spawns.append(cohort.task_name)
        lineage = cohort.lineage_id
        error = await q.first_failed_step_error(conn, flow_id=flow.flow_id) or "cohort failed"
    strip = [name for task in spawns for name in for_each_bindings(graph, task)]
    changed, final = await fail_flow_in_tx(
        shard, conn, flow.flow_id, error, graph.reducers(), strip
    )
    if not changed:
        return None
    revived = await revive_caller(shard, conn, flow, final, error)
    return FlowFailure(final, error, revived)


async def fail_step(
    rt: Runtime,
    shard: Store,
    flow: GetFlowRow,
    graph: Graph,
    step: _StepRef,
    error: str,
) -> None:
    """Fail the claimed ``step`` (fenced) and, where that resolves it, its cohort and flow."""
    if len(error) > MAX_ERROR:
        # Error texts can be huge (a whole response body); the smallest TEXT column holds 64 KB.
        error = error[: MAX_ERROR - 1] + "…"

    async def tx(conn: Any) -> FlowFailure | None:
        failed = await shard.q.fail_step(
            conn, error=error, step_id=step.step_id, lease_seq=step.lease_seq
        )
        if not failed:
            return None
        return await fail_upward(shard, conn, flow, step.lineage_id, graph, error)

    failure = await shard.transact(tx)
    if failure is not None:
        if failure.revived:
            rt.doorbell(shard, failure.revived)
        announce_stop(
            rt,
            shard,
            flow,
            FlowOutcome(
                flow_key=format_key(shard.index, flow.flow_id, flow.flow_token),
                status=Status.FAILED,
                state=failure.final_state,
                error=failure.error,
            ),
        )


async def adopt_flow_status(
    shard: Store, conn: Any, flow_id: int, row: SelectClaimedStepsRow
) -> None:
    """If the flow ended under a running step, the step takes the flow's status (lease-fenced)."""
    current = await shard.q.get_flow_by_id(conn, flow_id=flow_id)
    status = Status(current.status) if current is not None else Status.CANCELLED
    if status.is_terminal:
        await shard.q.set_step_status_from_flow(
            conn, step_id=row.step_id, lease_seq=row.lease_seq, status=status.value
        )


def announce_stop(rt: Runtime, shard: Store, flow: GetFlowRow, outcome: FlowOutcome) -> None:
    """After commit: wake waiters, tell peers, call the host's stop callback."""
    key = format_key(shard.index, flow.flow_id, flow.flow_token)
    rt.flow_stopped(key, outcome.status, outcome)
    rt.notify_host(flow.notify_hostname, outcome)
    if outcome.status is Status.COMPLETED and rt.config.peer_notifier is not None:
        # Wake idle peers: a completion may free capacity for work they can claim.
        rt.spawn(rt.config.peer_notifier.enqueue(0, 0), "peer enqueue")
