"""Rewinding and retiring flows: restart, restart_from, fork, continue_thread, delete, purge.

Each operation is one transaction (re-run whole on lock contention) followed by the
after-commit signals, like the operations of ``_ops_flows``. Step rows are written before the
flow row. Misuse maps to the documented errors: 400 bad input (or a subgraph flow's key where
a root flow's is required), 404 unknown flow/step/thread, 409 wrong state.

Decisions (where they differ from the seed they follow later upstream, as marked):
- RestartFrom recounts fan-out cohorts by surviving branches (``_rewind_dag``) instead of
  subtracting one per swept member, which over-subtracted for multi-step branches (later
  upstream). Inside a subgraph it rewinds every level above: each ancestor's caller step is
  re-armed (running, parked on its kept child) and what that caller caused is discarded.
- RestartFrom keeps an interrupted flow interrupted while another of its steps is still
  interrupted (that step must stay resumable); otherwise it flips the flow to running.
- Delete and Purge remove a flow's whole subgraph tree (later upstream; the seed left the
  children behind) and never remove a running flow, nor one with a running subgraph. Purge
  counts root flows, and refuses filters it cannot apply (400) rather than ignoring them.
- A subgraph flow's key is refused (400) by Restart, Delete and Continue (later upstream).
- Continue serializes on a write lock of the thread's latest turn: of several concurrent
  continues exactly one wins, the others get 409 (later upstream). It inherits the thread's
  baggage, priority, fairness and time budget unless ``options`` sets them (port decision).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dwarf._storage import FlowRow, NewFlow, Store, Tx
from dwarf.engine._operations._flows import flow_budget_ms
from dwarf.engine._operations._fork import fork as _fork
from dwarf.engine._operations._inputs import (
    flow_options,
    get_flow,
    json_object,
    json_value,
    not_found,
    stored,
)
from dwarf.engine._operations._rewind_dag import lineage_chain, overlay, sweep
from dwarf.engine._operations._trees import chunks, delete_root_flows, descendants, drop_flows
from dwarf.engine._runtime._keys import Key, format_key, key_not_found, new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._runtime._telemetry import flow_transition
from dwarf.engine._step._cohort import Node, count_branches
from dwarf.engine._step._step_input import step_input
from dwarf.engine._step._successors import step_budget_ms
from dwarf.errors import BadRequestError, ConflictError, DwarfError, NotFoundError
from dwarf.workflow import FlowOptions, Query, Status, merge_state, strip_tombstones
from dwarf.workflow._json import loads

__all__ = ["PURGE_CAP", "continue_thread", "delete", "fork", "purge", "restart", "restart_from"]

PURGE_CAP = 10_000
"""Most flows one purge deletes (across all shards)."""

_OVERLAID = "the rewound step's state with overrides"

_REWINDABLE = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED})


def _root_only(flow: FlowRow, what: str) -> None:
    if flow.surgraph_flow_id:
        raise BadRequestError(f"the key names a subgraph flow: {what} its root flow instead")


# --- restart ------------------------------------------------------------------------------


async def restart(rt: Runtime, flow_key: str, overrides: Mapping[str, Any] | None) -> None:
    """Re-run a stopped flow from its entry step, the entry's input overlaid by ``overrides``."""
    shard, key = rt.parse(flow_key, "flow")
    changes = json_object(overrides, "overrides")

    restarted: FlowRow | None = None

    async def tx(db: Tx) -> int:
        nonlocal restarted
        flow = restarted = await get_flow(shard, key, db)
        _root_only(flow, "restart")
        if flow.status not in _REWINDABLE:
            raise ConflictError(f"flow is {flow.status}: only a stopped flow can be restarted")
        entries = [s for s in await db.list_step_dag(flow_id=flow.flow_id) if not s.predecessor_id]
        if not entries:
            raise DwarfError("flow has no entry step")
        entry = await db.get_step_by_id(step_id=entries[0].step_id)
        if entry is None:
            raise DwarfError("flow has no entry step")
        entry_input = await step_input(db, entry.state, entry.state_base)
        state = stored(overlay(entry_input, changes, nulls_delete=True), _OVERLAID)
        tree = await descendants(db, [flow.flow_id])
        await drop_flows(db, [child.flow_id for child in tree])
        await db.delete_steps_except(flow_id=flow.flow_id, keep_step_id=entry.step_id)
        if not await db.reset_step(state=state, step_id=entry.step_id):
            raise ConflictError("the flow changed while restarting: try again")
        if not await db.restart_flow(flow_id=flow.flow_id):
            raise ConflictError("the flow changed while restarting: try again")
        await db.touch_flow(flow_id=flow.flow_id, step_id=entry.step_id)
        return entry.step_id

    entry_id = await shard.transact(tx)
    canonical = format_key(shard.index, key.id, key.token)
    if restarted is not None:
        was, name = restarted.status, restarted.workflow_name
        flow_transition(rt, shard.index, canonical, name, was, Status.RUNNING, via="restart")
    rt.waiters.notify(canonical)
    rt.doorbell(shard, entry_id)


async def restart_from(rt: Runtime, step_key: str, overrides: Mapping[str, Any] | None) -> None:
    """Re-run a flow from one of its stopped steps; everything that step caused is discarded.

    A step inside a subgraph rewinds every level above it too: in each ancestor flow, the
    caller step that leads down to it is re-parked waiting on its (kept) child, and what that
    caller caused is discarded like the step's own descendants.
    """
    shard, key = rt.parse(step_key, "step")
    changes = json_object(overrides, "overrides")

    async def tx(db: Tx) -> tuple[list[FlowRow], int]:
        step = await db.get_step(step_id=key.id, step_token=key.token)
        if step is None:
            raise await not_found(db, key)
        flow = await db.get_flow_by_id(flow_id=step.flow_id)
        if flow is None:
            raise key_not_found(key)
        if step.status not in _REWINDABLE:
            raise ConflictError(f"step is {step.status}: only a stopped step can be restarted")
        # levels[0] is the step's own flow, then each surgraph up to the root, with the step
        # each level rewinds to (the step itself, then the caller leading down to it).
        levels: list[tuple[FlowRow, int]] = [(flow, step.step_id)]
        while levels[-1][0].surgraph_flow_id:
            below = levels[-1][0]
            parent = await db.get_flow_by_id(flow_id=below.surgraph_flow_id)
            if parent is None:
                break
            levels.append((parent, below.surgraph_step_id))
        for level_flow, _ in levels:
            if level_flow.status == Status.CANCELLED:
                raise ConflictError("flow is cancelled: restart it (or fork it) instead")
        for depth, (level_flow, rewind_to) in enumerate(levels):
            chain_child = levels[depth - 1][0].flow_id if depth else 0
            await _rewind_level(db, level_flow, rewind_to, chain_child)
        step_in = await step_input(db, step.state, step.state_base)
        state = stored(overlay(step_in, changes, nulls_delete=True), _OVERLAID)
        if not await db.reset_step(state=state, step_id=step.step_id):
            raise ConflictError("the step changed while restarting: try again")
        for _, caller in levels[1:]:
            if not await db.rearm_caller_step(step_id=caller):
                raise ConflictError("a subgraph caller changed while restarting: try again")
            await db.clear_step_error(step_id=caller)
        for level_flow, rewind_to in levels:
            if level_flow.status == Status.INTERRUPTED:
                await db.resume_flow(flow_id=level_flow.flow_id)
            elif level_flow.status != Status.RUNNING:
                await db.revive_flow(flow_id=level_flow.flow_id)
            await db.touch_flow(flow_id=level_flow.flow_id, step_id=rewind_to)
        return [level_flow for level_flow, _ in levels], step.step_id

    flows, step_id = await shard.transact(tx)
    for flow in flows:
        canonical = format_key(shard.index, flow.flow_id, flow.flow_token)
        if flow.status != Status.RUNNING:
            flow_transition(
                rt,
                shard.index,
                canonical,
                flow.workflow_name,
                flow.status,
                Status.RUNNING,
                via="restart_from",
                step_key=step_key,
            )
        rt.waiters.notify(canonical)
    rt.doorbell(shard, step_id)


async def _rewind_level(db: Tx, flow: FlowRow, rewind_to: int, chain_child: int) -> None:
    """Discard what ``rewind_to`` caused in ``flow`` and recount its enclosing cohorts.

    Subgraph flows launched by the discarded steps, or by ``rewind_to`` itself, are dropped,
    except ``chain_child``: the child the rewind continues in.
    """
    dag = {row.step_id: row for row in await db.list_step_dag(flow_id=flow.flow_id)}
    nodes = {
        step_id: Node(row.step_id, row.predecessor_id, row.successor_id, row.lineage_id, row.status)
        for step_id, row in dag.items()
    }
    swept = sweep(nodes, rewind_to)
    kept = {step_id: node for step_id, node in nodes.items() if step_id not in swept}
    callers = swept | {rewind_to}
    children = [
        child.flow_id
        for child in await db.list_child_flows_of(flow_ids=[flow.flow_id])
        if child.surgraph_step_id in callers and child.flow_id != chain_child
    ]
    tree = children + [d.flow_id for d in await descendants(db, children)]
    await drop_flows(db, tree)
    for ids in chunks(sorted(swept)):
        await db.delete_steps(step_ids=ids)
    for node in kept.values():
        if node.successor_id in swept:
            await db.set_step_successor(step_id=node.step_id, successor_id=0)
    for spawn in lineage_chain(kept, rewind_to):
        arrivals, failures = count_branches(kept, spawn, rewind_to)
        counters = dag[spawn]
        await db.add_cohort_arrivals(
            step_id=spawn,
            arrivals=arrivals - counters.cohort_arrivals,
            failures=failures - counters.cohort_failures,
        )


async def fork(rt: Runtime, step_key: str, overrides: Mapping[str, Any] | None) -> str:
    """A new running flow re-running from a copy of ``step_key`` (see ``_fork``)."""
    return await _fork(rt, step_key, overrides)


# --- continue -----------------------------------------------------------------------------


async def continue_thread(
    rt: Runtime,
    thread_key: str,
    additional_state: Mapping[str, Any] | None,
    options: FlowOptions | None,
) -> str:
    """A new ``created`` turn of the thread, starting from its latest turn's final state.

    The thread's latest flow must be completed. The new turn runs the same frozen graph on the
    same shard, with ``final state ⊕ additional_state`` (the graph's reducers apply; a null
    removes the field) as its input, and inherits the thread's baggage, priority, fairness and
    time budget unless ``options`` sets them.
    """
    shard, key = rt.parse(thread_key, "thread")
    additional = json_object(additional_state, "additional_state")
    opts = flow_options(options)
    latest = await shard.read(lambda db: _latest_turn(db, key))
    _root_only(latest, "continue")
    if latest.status != Status.COMPLETED:
        raise ConflictError(
            f"the thread's latest flow is {latest.status}: only a completed flow can be continued"
        )
    graph = rt.graph_of(latest)
    try:
        state = strip_tombstones(
            merge_state(loads(latest.final_state), additional, graph.reducers())
        )
    except (TypeError, ValueError) as exc:
        raise BadRequestError(f"additional_state: {exc}") from None
    baggage = (
        stored(json_value(opts.baggage, "options.baggage"), "options.baggage")
        if opts.baggage is not None
        else latest.baggage
    )
    budget_ms = flow_budget_ms(opts) if opts.time_budget is not None else latest.time_budget_ms
    delay_ms = 0
    if opts.start_at is not None:
        delay_ms = max(int((opts.start_at - datetime.now(UTC)).total_seconds() * 1000), 0)
    priority = opts.priority if opts.priority > 0 else latest.priority
    fairness_key = opts.fairness_key or latest.fairness_key
    weight = opts.fairness_weight if opts.fairness_weight > 0 else latest.fairness_weight
    token = new_token()
    new = NewFlow(
        token=token,
        entry_token=new_token(),
        workflow_name=latest.workflow_name,
        graph=latest.graph,
        entry=graph.entry_point,
        state=stored(state, "the thread's final state with additional_state"),
        baggage=baggage,
        priority=priority,
        fairness_key=fairness_key,
        fairness_weight=weight,
        time_budget_ms=budget_ms,
        entry_time_budget_ms=step_budget_ms(rt, budget_ms),
        delay_ms=delay_ms,
        delete_on_completion=opts.delete_on_completion,
        thread=(latest.thread_id, latest.thread_token),
        trace_parent=rt.tracing.mint(
            latest.workflow_name, under_current=rt.config.link_root_traces
        ),
    )

    async def tx(db: Tx) -> int:
        # Write first: concurrent continues queue on the latest turn's row lock, and each
        # re-reads the thread afterwards, so exactly one sees this turn as the latest.
        await db.lock_flow(flow_id=latest.flow_id)
        current = await db.get_latest_thread_flow(
            thread_id=latest.thread_id, thread_token=latest.thread_token
        )
        if current is None:
            raise NotFoundError("thread not found")
        if current.flow_id != latest.flow_id or current.status != Status.COMPLETED:
            raise ConflictError("the thread was continued concurrently: only one turn may follow")
        return (await shard.insert_flow(db, new, start=False)).flow_id

    flow_id = await shard.transact(tx)
    turn = format_key(shard.index, flow_id, token)
    flow_transition(rt, shard.index, turn, latest.workflow_name, "", Status.CREATED, via="continue")
    return turn


async def _latest_turn(db: Tx, key: Key) -> FlowRow:
    """The thread's newest flow, from a thread key or any flow key of the thread."""
    latest: FlowRow | None = await db.get_latest_thread_flow(
        thread_id=key.id, thread_token=key.token
    )
    if latest is not None:
        return latest
    member: FlowRow | None = await db.get_flow(flow_id=key.id, flow_token=key.token)
    if member is None:
        raise await not_found(db, key)
    latest = await db.get_latest_thread_flow(
        thread_id=member.thread_id, thread_token=member.thread_token
    )
    if latest is None:
        raise key_not_found(key)
    return latest


# --- delete and purge ---------------------------------------------------------------------


async def delete(rt: Runtime, flow_key: str) -> None:
    """Delete a flow that is not running, with its steps and its subgraph flows."""
    shard, key = rt.parse(flow_key, "flow")

    async def tx(db: Tx) -> None:
        flow = await get_flow(shard, key, db)
        _root_only(flow, "delete")
        if flow.status == Status.RUNNING:
            raise ConflictError("flow is running: cancel it first")
        tree = await descendants(db, [flow.flow_id])
        if any(child.status == Status.RUNNING for child in tree):
            raise ConflictError("a subgraph of the flow is running: cancel the flow first")
        await drop_flows(db, [child.flow_id for child in tree])
        await db.delete_flow_steps(flow_id=flow.flow_id)
        if not await db.delete_flow(flow_id=flow.flow_id):
            raise ConflictError("flow is running: cancel it first")

    await shard.transact(tx)
    # Anyone awaiting the flow wakes and finds it gone.
    rt.waiters.notify(format_key(shard.index, key.id, key.token))


_PURGE_UNSUPPORTED = (
    "thread_key",
    "task_name",
    "fairness_key",
    "priority",
    "newer_than",
    "cursor",
    "search",
)


async def purge(rt: Runtime, query: Query) -> int:
    """Delete up to 10,000 non-running root flows matching ``query``; return how many.

    ``query`` must set ``status``, ``workflow_name`` or ``older_than`` (age of the last update);
    ``shard`` and ``limit`` narrow it further. Other filters are refused (400) rather than
    ignored: a purge must never delete more than was asked for.
    """
    if not isinstance(query, Query):
        raise BadRequestError(f"query must be a Query, got {type(query).__name__}")
    if not (query.status or query.workflow_name or query.older_than is not None):
        raise BadRequestError("purge needs a status, workflow_name or older_than filter")
    for name in _PURGE_UNSUPPORTED:
        if getattr(query, name):
            raise BadRequestError(f"purge does not filter by {name}")
    if query.status == Status.RUNNING:
        return 0
    if query.shard > rt.num_shards:
        raise BadRequestError(f"shard {query.shard} is out of range (1..{rt.num_shards})")
    shards = [rt.shard(query.shard)] if query.shard else list(rt.shards)
    limit = min(query.limit or PURGE_CAP, PURGE_CAP)
    per_shard = math.ceil(limit / len(shards))
    older_ms = 0
    if query.older_than is not None:
        older_ms = max(int(query.older_than.total_seconds() * 1000), 0)
    counts = await asyncio.gather(
        *(
            _purge_shard(shard, query.status, query.workflow_name, older_ms, per_shard)
            for shard in shards
        )
    )
    return sum(counts)


async def _purge_shard(
    shard: Store, status: str, workflow_name: str, older_ms: int, limit: int
) -> int:
    candidates = await shard.read(
        lambda db: db.select_purge_candidates(
            status=status,
            workflow_name=workflow_name,
            older_than_ms=older_ms,
            row_limit=limit,
        )
    )
    if not candidates:
        return 0

    roots = [row.flow_id for row in candidates]
    deleted: int = await shard.transact(lambda db: delete_root_flows(db, roots))
    return deleted
