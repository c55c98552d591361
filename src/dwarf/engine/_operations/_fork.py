"""Fork: a new running flow that re-runs from a copy of one step; the origin is never touched.

The origin's steps that the chosen step did not cause (everything but the step and its DAG
descendants) are copied into a new root flow in one transaction, with new ids and tokens and
their predecessor, successor and lineage links remapped; the chosen step is inserted fresh and
pending, its input state overlaid by the overrides (a null override deletes the key). Copies
keep their payloads and their timestamps (re-stamped from the database clock by age).

Rules that keep the copy runnable (they follow the later-upstream Fork):
- A kept step that had not settled (a straggler still created, pending or running when the
  origin stopped) is copied as ``cancelled``: copied live it would run again in the fork, or
  never arrive at its fan-in.
- A kept ``interrupted`` step is a 409: it could never be resumed in a running fork and would
  hold its cohort open forever.
- Cohort counters of kept spawn steps are recounted by branches (``_rewind_dag``), the chosen
  step's branch not arrived, so the fork's fan-ins fire exactly when they should.

The fork is its own thread (``continue_thread`` never bases a turn on a fork), inherits the
origin's graph, baggage, priority, fairness and time budget, records ``forked_from_step``,
starts with no breakpoints and no stop-callback host, and is never deleted on completion.

A step inside a subgraph forks the whole chain above it, as the Go engine does: each flow from
the root down to the step's own flow is copied the same way, where an ancestor's "chosen" step is
the caller leading down, copied re-parked (running, waiting on its child) with what it caused
dropped; each copied child hangs under its copied caller, and the fork key is the new root's. The
step re-runs inside the fresh copy of the chain, and its result climbs back up through the
copied callers (docs/internals/operations.md#o7).

Limit: subgraph children of kept caller steps off that chain are not copied: the fork runs
correctly (those callers already hold their child's result) but its history does not show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dwarf._storage import FlowRow, StepCopyRow, Tx
from dwarf.engine._operations._inputs import json_object, not_found, stored
from dwarf.engine._operations._rewind_dag import overlay, sweep
from dwarf.engine._runtime._keys import format_key, key_not_found, new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._runtime._telemetry import flow_transition
from dwarf.engine._step._cohort import LIVE_STATUSES, Node, count_branches
from dwarf.engine._step._step_input import step_input
from dwarf.errors import ConflictError
from dwarf.workflow import Status
from dwarf.workflow._json import dumps_state

__all__ = ["fork"]

_FORKABLE = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED})


@dataclass(frozen=True, slots=True)
class _Parent:
    """Where a copied child flow hangs: the new parent flow and its re-parked caller step."""

    flow_id: int
    caller_id: int
    root_flow_id: int


async def fork(rt: Runtime, step_key: str, overrides: Mapping[str, Any] | None) -> str:
    """Copy the flow of ``step_key`` up to that step into a new running flow; return its key."""
    shard, key = rt.parse(step_key, "step")
    changes = json_object(overrides, "overrides")
    token = new_token()
    workflow = trace_parent = ""

    async def tx(db: Tx) -> tuple[int, int]:
        nonlocal workflow, trace_parent
        step = await db.get_step(step_id=key.id, step_token=key.token)
        if step is None:
            raise await not_found(db, key)
        origin = await db.get_flow_by_id(flow_id=step.flow_id)
        if origin is None:
            raise key_not_found(key)
        # levels[0] is the step's own flow, then each surgraph up to the root, with the step
        # each level re-runs from (the step itself, then the caller leading down to it).
        levels: list[tuple[FlowRow, int]] = [(origin, step.step_id)]
        while levels[-1][0].surgraph_flow_id:
            below = levels[-1][0]
            above = await db.get_flow_by_id(flow_id=below.surgraph_flow_id)
            if above is None:
                raise key_not_found(key)
            levels.append((above, below.surgraph_step_id))
        root = levels[-1][0]
        if workflow != root.workflow_name:  # once, however often the transaction re-runs
            workflow = root.workflow_name
            # A new root flow: its own trace (or the host's, when it links root flows).
            trace_parent = rt.tracing.mint(workflow, under_current=rt.config.link_root_traces)
        if root.status not in _FORKABLE:
            raise ConflictError(
                f"flow is {root.status}: only a completed, failed, cancelled or interrupted"
                " flow can be forked"
            )
        state = overlay(
            await step_input(db, step.state, step.state_base), changes, nulls_delete=True
        )
        parent: _Parent | None = None
        new_root = leaf = 0
        for depth in range(len(levels) - 1, -1, -1):
            level, rewind_to = levels[depth]
            rows = {row.step_id: row for row in await db.list_steps_for_copy(flow_id=level.flow_id)}
            flow_id, leaf = await _clone(
                db,
                _Level(level, root, parent, token if parent is None else new_token(), trace_parent),
                rows,
                rewind_to,
                state if depth == 0 else None,
                forked_from=step.step_id,
            )
            new_root = new_root or flow_id
            parent = _Parent(flow_id, leaf, new_root)
        return new_root, leaf

    flow_id, leaf = await shard.transact(tx)
    forked = format_key(shard.index, flow_id, token)
    flow_transition(rt, shard.index, forked, workflow, "", Status.RUNNING, via="fork")
    rt.doorbell(shard, leaf)
    return forked


@dataclass(frozen=True, slots=True)
class _Level:
    """One flow of the chain being copied: its origin, the root whose scheduling every copy
    takes, where the copy hangs (``None`` for the root) and the copy's token."""

    origin: FlowRow
    root: FlowRow
    parent: _Parent | None
    token: str
    trace_parent: str


async def _clone(
    db: Tx,
    level: _Level,
    rows: dict[int, StepCopyRow],
    chosen: int,
    state: dict[str, Any] | None,
    *,
    forked_from: int,
) -> tuple[int, int]:
    """Insert one flow of the fork and its steps; return ``(new flow id, new id of chosen)``.

    ``state`` is the re-run step's input (``chosen`` is inserted fresh and pending); ``None``
    makes ``chosen`` an ancestor caller, copied and re-parked on the copied child below it."""
    origin, sched, parent = level.origin, level.root, level.parent
    pruned = sweep(_nodes(rows, {}), chosen) | {chosen}
    kept = [row for step_id, row in sorted(rows.items()) if step_id not in pruned]
    for row in kept:
        if row.status == Status.INTERRUPTED:
            raise ConflictError(
                f"cannot fork: step {row.step_id} ({row.task_name!r}) is interrupted and is not"
                " re-run by this fork; resume or cancel the flow first"
            )
    # Stragglers are frozen as cancelled, and counted as such when the cohorts are recounted.
    status_of = {
        row.step_id: (Status.CANCELLED if row.status in LIVE_STATUSES else row.status)
        for row in kept
    }
    status_of[chosen] = Status.RUNNING  # a re-parked caller (the leaf's is inserted fresh)
    # The chosen step stays in the graph being counted: its branch is the one re-running.
    nodes = _nodes({**{row.step_id: row for row in kept}, chosen: rows[chosen]}, status_of)
    flow_id: int = await db.insert_flow(
        flow_token=level.token,
        workflow_name=origin.workflow_name,
        graph=origin.graph,
        baggage=origin.baggage,
        status=Status.RUNNING,
        surgraph_flow_id=parent.flow_id if parent else 0,
        surgraph_step_depth=origin.surgraph_step_depth if parent else 0,
        surgraph_step_id=parent.caller_id if parent else 0,
        root_flow_id=parent.root_flow_id if parent else 0,
        thread_id=0,
        thread_token="",
        forked_from_step=0 if parent else forked_from,
        trace_parent=level.trace_parent,
        breakpoints="{}",
        priority=sched.priority,
        fairness_key=sched.fairness_key,
        fairness_weight=sched.fairness_weight,
        time_budget_ms=sched.time_budget_ms,
        delete_on_completion=False,
    )
    await db.adopt_flow_identity(flow_id=flow_id, step_id=0)
    new_id: dict[int, int] = {}
    # Ascending ids: a step's predecessor and lineage spawn always precede it, so both are
    # already mapped when it is inserted; successors point forward and are linked afterwards.
    for step_id in sorted(set(rows) - (pruned - {chosen})):
        if step_id == chosen and state is not None:
            new_id[step_id] = await _insert_chosen(db, sched, rows[step_id], flow_id, state, new_id)
            continue
        row = rows[step_id]
        arrivals = failures = 0
        if row.cohort_size > 0:
            arrivals, failures = count_branches(nodes, step_id, chosen)
        new_id[step_id] = await db.insert_step_copy(
            flow_id=flow_id,
            step_depth=row.step_depth,
            step_token=new_token(),
            task_name=row.task_name,
            # A branch's input is materialized: its base is a step of the origin flow.
            state=row.state
            if not row.state_base
            else dumps_state(await step_input(db, row.state, row.state_base), "a copied input"),
            changes=row.changes,
            interrupt_payload=row.interrupt_payload,
            status=status_of[step_id],
            goto_next=row.goto_next,
            error=row.error,
            time_budget_ms=row.time_budget_ms,
            breakpoint_hit=row.breakpoint_hit,
            attempt=row.attempt,
            lineage_id=new_id.get(row.lineage_id, 0),
            cohort_size=row.cohort_size,
            cohort_arrivals=arrivals,
            cohort_failures=failures,
            fan_out_ordinal=row.fan_out_ordinal,
            predecessor_id=new_id.get(row.predecessor_id, 0),
            priority=sched.priority,
            fairness_key=sched.fairness_key,
            fairness_weight=sched.fairness_weight,
            interrupt_done=row.interrupt_done,
            resume_data=row.resume_data,
            subgraph_done=row.subgraph_done,
            subgraph_result=row.subgraph_result,
            subgraph_error=row.subgraph_error,
            created_age_ms=max(row.created_age_ms, 0),
            started_age_ms=max(row.started_age_ms, 0),
            updated_age_ms=max(row.updated_age_ms, 0),
        )
    for row in kept:
        successor = new_id.get(row.successor_id, 0)
        if successor:
            await db.set_step_successor(step_id=new_id[row.step_id], successor_id=successor)
    if state is None:
        # The caller waits on the copied child: its child's end revives it, as at first.
        await db.rearm_caller_step(step_id=new_id[chosen])
        await db.clear_step_error(step_id=new_id[chosen])
    await db.touch_flow(flow_id=flow_id, step_id=new_id[chosen])
    return flow_id, new_id[chosen]


async def _insert_chosen(
    db: Tx,
    sched: FlowRow,
    row: StepCopyRow,
    flow_id: int,
    state: dict[str, Any],
    new_id: Mapping[int, int],
) -> int:
    """The chosen step, fresh: pending now, overlaid input, no output, counters or park slots."""
    step_id: int = await db.insert_step(
        flow_id=flow_id,
        step_depth=row.step_depth,
        step_token=new_token(),
        task_name=row.task_name,
        state=stored(state, "the forked step's state with overrides"),
        state_base=0,
        changes="{}",
        status=Status.PENDING,
        time_budget_ms=row.time_budget_ms,
        lineage_id=new_id.get(row.lineage_id, 0),
        fan_out_ordinal=row.fan_out_ordinal,
        predecessor_id=new_id.get(row.predecessor_id, 0),
        priority=sched.priority,
        fairness_key=sched.fairness_key,
        fairness_weight=sched.fairness_weight,
        parked=0,
        delay_ms=0,
    )
    return step_id


def _nodes(rows: Mapping[int, StepCopyRow], status_of: Mapping[int, Status]) -> dict[int, Node]:
    return {
        step_id: Node(
            step_id,
            row.predecessor_id,
            row.successor_id,
            row.lineage_id,
            status_of.get(step_id, row.status),
        )
        for step_id, row in rows.items()
    }
