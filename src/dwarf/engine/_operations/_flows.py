"""Creating, starting, cancelling and resuming flows (docs/internals/operations.md).

Each operation is one transaction (re-run whole on lock contention) that writes step rows before
the flow row, followed by the after-commit signals: the doorbell for new work, waiter wake-ups
and the host's stop callback. Misuse maps to the documented errors: 400 for bad input, 404 for
an unknown or malformed-but-plausible key, 409 for the wrong state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dwarf._storage import ClaimedStep, FlowRow, Lease, NewFlow, Store, Tx
from dwarf.engine._operations._inputs import (
    MAX_TEXT,
    MAX_TIME_BUDGET,
    flow_options,
    get_flow,
    json_object,
    json_value,
    name,
    not_found,
    stored,
)
from dwarf.engine._protection import park_if_tripped
from dwarf.engine._runtime._keys import format_key, new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._runtime._telemetry import claimed_on_insert, flow_transition
from dwarf.engine._step._final_state import compute_final_state
from dwarf.engine._step._subgraph import find_interrupted_leaf, release_chain
from dwarf.engine._step._successors import step_budget_ms
from dwarf.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
)
from dwarf.workflow import END, FlowOptions, FlowOutcome, Graph, Status
from dwarf.workflow._baggage import baggage_scope
from dwarf.workflow._json import dumps

__all__ = [
    "cancel",
    "create",
    "create_task",
    "flow_budget_ms",
    "insert_flow",
    "resume",
    "ring",
    "start",
]


def flow_budget_ms(options: FlowOptions) -> int:
    """The flow's own time budget from ``options`` (0: none; each step takes its inserting
    replica's: docs/internals/transitions.md#t11)."""
    if options.time_budget is None:
        return 0
    if options.time_budget > MAX_TIME_BUDGET:
        raise BadRequestError(f"time_budget must be at most {MAX_TIME_BUDGET.days} days")
    return max(int(options.time_budget.total_seconds() * 1000), 1)


async def _load_graph(rt: Runtime, workflow_name: str, baggage: Any) -> tuple[Graph, str]:
    """The loader's graph for ``workflow_name``, validated and frozen, with its JSON text."""
    loader = rt.config.graph_loader
    if loader is None:  # an operator engine (workers=0) may start without one
        raise BadRequestError("no graph loader: this engine cannot create flows")
    with baggage_scope(baggage):
        graph = await loader(workflow_name)
    if graph is None:
        raise NotFoundError(f"workflow {workflow_name!r} not found")
    if not isinstance(graph, Graph):
        raise BadRequestError(f"the graph loader returned {type(graph).__name__}, not a Graph")
    return rt.validated(graph)


async def create(
    rt: Runtime,
    workflow_name: str,
    initial_state: Mapping[str, Any] | None,
    options: FlowOptions | None,
    *,
    start: bool = False,
) -> str:
    """Create a flow of ``workflow_name`` and return its key.

    It is ``created``; with ``start`` it is also started in the same transaction (``run``).
    """
    name(workflow_name, "workflow_name")
    opts = flow_options(options)
    baggage = json_value(opts.baggage, "options.baggage")
    graph, graph_text = await _load_graph(rt, workflow_name, baggage)
    return await insert_flow(rt, workflow_name, graph, graph_text, initial_state, opts, start=start)


async def create_task(
    rt: Runtime,
    task_name: str,
    initial_state: Mapping[str, Any] | None,
    options: FlowOptions | None,
) -> str:
    """Create a one-task flow running ``task_name`` (its name is also its URL)."""
    name(task_name, "task_name")
    graph = Graph(task_name)
    graph.add_task(task_name, task_name)
    graph.add_transition(task_name, END)
    graph, graph_text = rt.validated(graph)
    opts = flow_options(options)
    return await insert_flow(rt, task_name, graph, graph_text, initial_state, opts)


async def insert_flow(
    rt: Runtime,
    workflow_name: str,
    graph: Graph,
    graph_text: str,
    initial_state: Mapping[str, Any] | None,
    opts: FlowOptions,
    *,
    shard: Store | None = None,
    thread: tuple[int, str] | None = None,
    start: bool = False,
) -> str:
    """Insert a ``created`` flow and its entry step in one transaction; return the flow key.

    ``graph_text`` is ``graph``'s JSON, as ``Runtime.validated`` returns them together.

    With ``start`` the same transaction starts it, and the entry step is rung in afterwards.
    """
    state = json_object(initial_state, "initial_state")
    baggage = json_value(opts.baggage, "options.baggage")
    priority = opts.priority if opts.priority > 0 else rt.config.default_priority
    weight = opts.fairness_weight if opts.fairness_weight > 0 else 1.0
    budget_ms = flow_budget_ms(opts)
    delay_ms = 0
    if opts.start_at is not None:
        delay = opts.start_at - datetime.now(UTC)
        delay_ms = max(int(delay.total_seconds() * 1000), 0)
    if thread is None and opts.thread_key:
        thread_shard, key = rt.parse(opts.thread_key, "thread", "options.thread_key")
        latest = await thread_shard.read(
            lambda db: db.get_latest_thread_flow(thread_id=key.id, thread_token=key.token)
        )
        if latest is None:
            latest = await get_flow(thread_shard, key)
        shard, thread = thread_shard, (latest.thread_id, latest.thread_token)
    target = shard if shard is not None else rt.random_shard()
    token = new_token()
    entry = graph.entry_point
    # Its own trace unless the host links root flows to the span current at create.
    trace_parent = rt.tracing.mint(workflow_name, under_current=rt.config.link_root_traces)

    new = NewFlow(
        token=token,
        entry_token=new_token(),
        workflow_name=workflow_name,
        graph=graph_text,
        entry=entry,
        state=stored(state, "initial_state"),
        baggage=stored(baggage, "options.baggage"),
        priority=priority,
        fairness_key=opts.fairness_key,
        fairness_weight=weight,
        time_budget_ms=budget_ms,
        entry_time_budget_ms=step_budget_ms(rt, budget_ms),
        delay_ms=delay_ms,
        delete_on_completion=opts.delete_on_completion,
        thread=thread,
        trace_parent=trace_parent,
    )

    lease = rt.reserve_worker(target, new.entry_token) if start and not delay_ms else None
    if lease is not None:
        flow_id = await _create_claiming_entry(rt, target, new, lease)
    else:
        ids = await target.create_flow(new, start=start)
        flow_id = ids.flow_id
    flow_key = format_key(target.index, flow_id, token)
    after = Status.RUNNING if start else Status.CREATED
    flow_transition(rt, target.index, flow_key, workflow_name, "", after, via="create")
    if start and lease is None:
        await park_if_tripped(rt, target, ids.flow_id)
        ring(rt, target, ids.entry_step_id, delay_ms)
    return flow_key


async def _create_claiming_entry(rt: Runtime, target: Store, new: NewFlow, lease: Lease) -> int:
    """Create a started flow whose entry step goes, claimed, to the worker kept for it (D13).

    Returns the flow's id. The entry needs no doorbell: no refill has to find it.
    """
    claimed: ClaimedStep | None = None
    try:
        claimed = await target.create_flow_claiming_entry(new, lease)
    finally:
        rt.deliver(target, new.entry_token, claimed)
    claimed_on_insert(rt, claimed.row)
    return claimed.row.flow_id


def ring(rt: Runtime, shard: Store, step_id: int, delay_ms: int) -> None:
    """Make a newly pending step run: now, or (``start_at``) when its ``not_before`` comes."""
    if delay_ms > 0:
        rt.wake_in(timedelta(milliseconds=delay_ms))
    else:
        rt.doorbell(shard, step_id)


async def start(rt: Runtime, flow_key: str, hostname: str = "") -> None:
    """Start a ``created`` flow: its entry step becomes pending (409 if not ``created``)."""
    shard, key = rt.parse(flow_key, "flow")
    canonical = format_key(shard.index, key.id, key.token)
    try:
        started = await shard.start_flow(key.id, key.token, hostname)
    except NotFoundError:
        raise await shard.read(lambda db: not_found(db, key)) from None
    rt.waiters.note_started(canonical)
    flow_transition(
        rt, shard.index, canonical, started.workflow_name, Status.CREATED, Status.RUNNING
    )
    if started.entry_step_id:
        await park_if_tripped(rt, shard, key.id)
        ring(rt, shard, started.entry_step_id, started.delay_ms)


async def cancel(rt: Runtime, flow_key: str, reason: str) -> None:
    """Cancel the flow and every subgraph below it (409 if already terminal)."""
    shard, key = rt.parse(flow_key, "flow")
    if not isinstance(reason, str):
        raise BadRequestError("reason must be a string")
    if len(reason) > MAX_TEXT:
        raise BadRequestError(f"reason must be at most {MAX_TEXT} characters")
    if "\x00" in reason:
        raise BadRequestError("reason must not contain a NUL character")

    async def tx(db: Tx) -> tuple[FlowRow, dict[str, Any]]:
        flow = await get_flow(shard, key, db)
        _require_root(flow, "cancel")
        if flow.status.is_terminal:
            raise ConflictError(f"flow is already {flow.status}")
        graph = rt.graph_of(flow)
        for child_id in await _descendants(db, flow.flow_id):
            await db.cancel_flow_steps(flow_id=child_id)
            child = await db.get_flow_by_id(flow_id=child_id)
            if child is not None and not child.status.is_terminal:
                child_final = await compute_final_state(db, child_id, rt.graph_of(child).reducers())
                await db.cancel_flow(
                    flow_id=child_id, cancel_reason=reason, final_state=dumps(child_final)
                )
        await db.cancel_flow_steps(flow_id=flow.flow_id)
        final = await compute_final_state(db, flow.flow_id, graph.reducers())
        if not await db.cancel_flow(
            flow_id=flow.flow_id, cancel_reason=reason, final_state=dumps(final)
        ):
            raise ConflictError("flow is already stopped")
        return flow, final

    flow, final = await shard.transact(tx)
    canonical = format_key(shard.index, key.id, key.token)
    outcome = FlowOutcome(
        flow_key=canonical, status=Status.CANCELLED, state=final, cancel_reason=reason
    )
    flow_transition(
        rt,
        shard.index,
        canonical,
        flow.workflow_name,
        flow.status,
        Status.CANCELLED,
        via="cancel",
        started_at=flow.started_at,
    )
    rt.flow_stopped(canonical, Status.CANCELLED, outcome)
    rt.notify_host(flow.notify_hostname, outcome)


def _require_root(flow: FlowRow, operation: str) -> None:
    """Subgraph flows are driven through their root: acting on a child would strand its caller."""
    if flow.surgraph_flow_id:
        raise BadRequestError(f"cannot {operation} a subgraph flow: {operation} its root flow")


async def _descendants(db: Tx, flow_id: int) -> list[int]:
    """Ids of every subgraph flow below ``flow_id``, deepest first."""
    found: list[int] = []
    frontier = [flow_id]
    while frontier:
        parent = frontier.pop()
        for child in await db.list_child_flows(surgraph_flow_id=parent):
            found.append(child.flow_id)
            frontier.append(child.flow_id)
    return list(reversed(found))


async def resume(rt: Runtime, flow_key: str, resume_data: Mapping[str, Any] | None) -> None:
    """Release the flow's next interrupted step with ``resume_data`` (409 unless interrupted)."""
    shard, key = rt.parse(flow_key, "flow")
    data = stored(json_object(resume_data, "resume_data"), "resume_data")
    workflow = ""

    async def tx(db: Tx) -> int:
        nonlocal workflow
        flow = await get_flow(shard, key, db)
        workflow = flow.workflow_name
        _require_root(flow, "resume")
        if flow.status != Status.INTERRUPTED:
            raise ConflictError(f"flow is {flow.status}, not interrupted")
        # Walk from the root down the interrupted subgraph callers to the step to release.
        chain, leaf_flow, leaf = await find_interrupted_leaf(db, flow)
        if not leaf.interrupt_done:
            raise ConflictError("the flow is paused at a breakpoint: use resume_break")
        if not await db.resume_leaf_step(step_id=leaf.step_id, resume_data=data):
            raise ConflictError("the interrupted step was released by another caller")
        await release_chain(db, leaf_flow, chain)
        released: int = leaf.step_id
        return released

    step_id = await shard.transact(tx)
    canonical = format_key(shard.index, key.id, key.token)
    flow_transition(
        rt, shard.index, canonical, workflow, Status.INTERRUPTED, Status.RUNNING, via="resume"
    )
    rt.doorbell(shard, step_id)
