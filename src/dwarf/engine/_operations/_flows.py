"""Creating, starting, awaiting, cancelling and resuming flows (ENGINE.md §8).

Each operation is one transaction (re-run whole on lock contention) that writes step rows before
the flow row, followed by the after-commit signals: the doorbell for new work, waiter wake-ups
and the host's stop callback. Misuse maps to the documented errors: 400 for bad input, 404 for
an unknown or malformed-but-plausible key, 409 for the wrong state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dwarf._storage._gen.rows import GetFlowRow
from dwarf._storage._store import Shard
from dwarf.engine._runtime._config import as_timedelta
from dwarf.engine._runtime._keys import Key, format_key, new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._final_state import compute_final_state
from dwarf.engine._step._newflow import NewFlow, insert_flow_rows
from dwarf.engine._step._outcomes import outcome_in_tx
from dwarf.engine._step._subgraph import find_interrupted_leaf, release_chain
from dwarf.errors import (
    BadRequestError,
    ConflictError,
    DwarfError,
    NotFoundError,
    UnavailableError,
)
from dwarf.workflow import END, FlowOptions, FlowOutcome, Graph, Status
from dwarf.workflow._baggage import baggage_scope
from dwarf.workflow._json import dumps, to_json_value

__all__ = [
    "await_flow",
    "cancel",
    "create",
    "create_task",
    "flow_options",
    "json_value",
    "ring",
    "get_flow",
    "insert_flow",
    "json_object",
    "poll",
    "resume",
    "snapshot",
    "start",
    "timeout_seconds",
]

MAX_TIME_BUDGET = timedelta(days=24)
"""Budgets are stored as INT milliseconds; this keeps them (and leases) in range everywhere."""

MAX_TEXT = 16_384
"""Longest cancel reason accepted (errors are cut to this length before they are stored)."""

WAIT_RECHECK = 0.5
"""Waiters re-read the flow this often, so a stop on another replica is never missed for long."""


def flow_options(options: FlowOptions | None) -> FlowOptions:
    """The caller's options (None = defaults); anything but a ``FlowOptions`` is a 400."""
    if options is None:
        return FlowOptions()
    if not isinstance(options, FlowOptions):
        raise BadRequestError(f"options must be a FlowOptions, got {type(options).__name__}")
    return options


def json_value(value: Any, what: str) -> Any:
    """Convert a caller's JSON value; a value with no JSON form is a 400 naming ``what``."""
    try:
        return to_json_value(value, path=what)
    except (TypeError, ValueError) as exc:
        raise BadRequestError(str(exc)) from None


def json_object(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """Validate and convert a caller's JSON object (None = empty); a bad value is a 400."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequestError(f"{what} must be an object, got {type(value).__name__}")
    try:
        converted: dict[str, Any] = to_json_value(value, path=what)
    except (TypeError, ValueError) as exc:
        raise BadRequestError(str(exc)) from None
    return converted


async def get_flow(shard: Shard, key: Key, conn: Any | None = None) -> GetFlowRow:
    """The flow row for ``key`` (id AND token must match) or a 404."""

    async def read(c: Any) -> GetFlowRow | None:
        row: GetFlowRow | None = await shard.q.get_flow(c, flow_id=key.id, flow_token=key.token)
        return row

    flow = await (read(conn) if conn is not None else shard.read(read))
    if flow is None:
        raise NotFoundError("flow not found")
    return flow


def _budget_ms(rt: Runtime, options: FlowOptions) -> int:
    budget = options.time_budget if options.time_budget is not None else rt.config.time_budget
    if budget > MAX_TIME_BUDGET:
        raise BadRequestError(f"time_budget must be at most {MAX_TIME_BUDGET.days} days")
    return max(int(budget.total_seconds() * 1000), 1)


async def _load_graph(rt: Runtime, workflow_name: str, baggage: Any) -> Graph:
    loader = rt.config.graph_loader
    assert loader is not None
    with baggage_scope(baggage):
        graph = await loader(workflow_name)
    if graph is None:
        raise NotFoundError(f"workflow {workflow_name!r} not found")
    if not isinstance(graph, Graph):
        raise BadRequestError(f"the graph loader returned {type(graph).__name__}, not a Graph")
    return rt.validated(graph)[0]


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
    if not isinstance(workflow_name, str) or not workflow_name.strip():
        raise BadRequestError("workflow_name must not be empty")
    opts = flow_options(options)
    baggage = json_value(opts.baggage, "options.baggage")
    graph = await _load_graph(rt, workflow_name, baggage)
    return await insert_flow(rt, workflow_name, graph, initial_state, opts, start=start)


async def create_task(
    rt: Runtime,
    task_name: str,
    initial_state: Mapping[str, Any] | None,
    options: FlowOptions | None,
) -> str:
    """Create a one-task flow running ``task_name`` (its name is also its URL)."""
    if not isinstance(task_name, str) or not task_name.strip():
        raise BadRequestError("task_name must not be empty")
    graph = Graph(task_name)
    graph.add_task(task_name, task_name)
    graph.add_transition(task_name, END)
    graph = rt.validated(graph)[0]
    opts = flow_options(options)
    return await insert_flow(rt, task_name, graph, initial_state, opts)


async def insert_flow(
    rt: Runtime,
    workflow_name: str,
    graph: Graph,
    initial_state: Mapping[str, Any] | None,
    opts: FlowOptions,
    *,
    shard: Shard | None = None,
    thread: tuple[int, str] | None = None,
    start: bool = False,
) -> str:
    """Insert a ``created`` flow and its entry step in one transaction; return the flow key.

    With ``start`` the same transaction starts it, and the entry step is rung in afterwards.
    """
    state = json_object(initial_state, "initial_state")
    baggage = json_value(opts.baggage, "options.baggage")
    priority = opts.priority if opts.priority > 0 else rt.config.default_priority
    weight = opts.fairness_weight if opts.fairness_weight > 0 else 1.0
    budget_ms = _budget_ms(rt, opts)
    delay_ms = 0
    if opts.start_at is not None:
        delay = opts.start_at - datetime.now(UTC)
        delay_ms = max(int(delay.total_seconds() * 1000), 0)
    if thread is None and opts.thread_key:
        thread_shard, key = rt.parse(opts.thread_key, "thread")
        latest = await thread_shard.read(
            lambda conn: thread_shard.q.get_latest_thread_flow(
                conn, thread_id=key.id, thread_token=key.token
            )
        )
        if latest is None:
            anchor = await thread_shard.read(
                lambda conn: thread_shard.q.get_flow(conn, flow_id=key.id, flow_token=key.token)
            )
            if anchor is None:
                raise NotFoundError("thread not found")
            latest = anchor
        shard, thread = thread_shard, (latest.thread_id, latest.thread_token)
    target = shard if shard is not None else rt.random_shard()
    token = new_token()
    graph_text = graph.to_json()
    entry = graph.entry_point

    new = NewFlow(
        token=token,
        workflow_name=workflow_name,
        graph=graph_text,
        entry=entry,
        state=dumps(state),
        baggage=dumps(baggage),
        priority=priority,
        fairness_key=opts.fairness_key,
        fairness_weight=weight,
        time_budget_ms=budget_ms,
        delay_ms=delay_ms,
        delete_on_completion=opts.delete_on_completion,
        thread=thread,
    )

    async def tx(conn: Any) -> tuple[int, int]:
        return await insert_flow_rows(target, conn, new, start=start)

    # With the fast paths the insert is one statement: no transaction needed around it.
    run = target.autocommit if target.pg_fast is not None else target.transact
    flow_id, entry_step_id = await run(tx)
    if start:
        ring(rt, target, entry_step_id, delay_ms)
    return format_key(target.index, flow_id, token)


def ring(rt: Runtime, shard: Shard, step_id: int, delay_ms: int) -> None:
    """Make a newly pending step run: now, or (``start_at``) when its ``not_before`` comes."""
    if delay_ms > 0:
        rt.wake_in(timedelta(milliseconds=delay_ms))
    else:
        rt.doorbell(shard, step_id)


async def start(rt: Runtime, flow_key: str, hostname: str = "") -> None:
    """Start a ``created`` flow: its entry step becomes pending (409 if not ``created``)."""
    shard, key = rt.parse(flow_key, "flow")
    canonical = format_key(shard.index, key.id, key.token)
    entry = await _start_fast(shard, key, hostname)
    if entry is not None:
        rt.waiters.note_started(canonical)
        if entry[0]:
            ring(rt, shard, *entry)
        return
    # No fast path, or it wrote nothing: the transaction starts the flow or says why not.

    async def tx(conn: Any) -> tuple[int, int]:
        flow = await get_flow(shard, key, conn)
        if flow.status != Status.CREATED:
            raise ConflictError(f"flow is {flow.status}, not created")
        await shard.q.activate_flow_steps(conn, flow_id=flow.flow_id)
        if not await shard.q.start_flow(conn, flow_id=flow.flow_id, notify_hostname=hostname):
            raise ConflictError("flow is no longer created")
        schedule = await shard.q.get_step_schedule(conn, step_id=flow.step_id)
        return flow.step_id, schedule.delay_ms if schedule is not None else 0

    step_id, delay_ms = await shard.transact(tx)
    rt.waiters.note_started(canonical)
    ring(rt, shard, step_id, delay_ms)


async def _start_fast(shard: Shard, key: Key, hostname: str) -> tuple[int, int] | None:
    """Start on the dialect's fast path: (entry step, ms until due), or None if not started."""
    pg, my = shard.pg_fast, shard.mysql_fast
    if pg is not None:
        started = await shard.autocommit(
            lambda conn: pg.start_created_flow(
                conn, flow_id=key.id, flow_token=key.token, notify_hostname=hostname
            )
        )
        return None if started is None else (started.step_id, started.delay_ms)
    if my is not None:

        async def start_and_read(conn: Any) -> tuple[int, int] | None:
            written = await my.start_flow_and_steps(
                conn, flow_id=key.id, flow_token=key.token, notify_hostname=hostname
            )
            if not written:
                return None
            entry = await my.get_entry_schedule(conn, flow_id=key.id)
            # Started; with no entry row to ring (deleted meanwhile) there is nothing to run.
            return (entry.step_id, entry.delay_ms) if entry is not None else (0, 0)

        # Only the UPDATE can lose a lock race, and then it wrote nothing: a re-run is safe.
        return await shard.autocommit(start_and_read)
    return None


async def snapshot(rt: Runtime, flow_key: str) -> FlowOutcome:
    """The flow's current outcome (404 if unknown)."""
    shard, key = rt.parse(flow_key, "flow")

    async def read(conn: Any) -> FlowOutcome:
        return await outcome_in_tx(shard, conn, await get_flow(shard, key, conn))

    return await shard.read(read)


async def await_flow(
    rt: Runtime, flow_key: str, timeout: float | None, *, just_started: bool = False
) -> FlowOutcome:
    """Wait until the flow stops (terminal or interrupted); ``TimeoutError`` after ``timeout``.

    ``just_started``: the caller started the flow without yielding since, so it cannot have
    stopped yet on this replica; the first read is skipped (another replica finishing it first
    is still seen by the periodic re-check).
    """
    return await _wait(rt, flow_key, timeout, raise_on_timeout=True, skip_first=just_started)


async def poll(rt: Runtime, flow_key: str, timeout: float) -> FlowOutcome:
    """Like ``await_flow``, but a timeout returns the current outcome instead of raising."""
    return await _wait(rt, flow_key, timeout, raise_on_timeout=False)


async def _wait(
    rt: Runtime,
    flow_key: str,
    timeout: float | None,
    *,
    raise_on_timeout: bool,
    skip_first: bool = False,
) -> FlowOutcome:
    shard, key = rt.parse(flow_key, "flow")
    canonical = format_key(shard.index, key.id, key.token)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + max(timeout, 0.0)
    waiter = rt.waiters.register(canonical)
    skip_first = skip_first or rt.waiters.take_fresh(canonical)
    try:
        while True:
            if rt.waiters.closed:
                raise UnavailableError("the engine shut down while awaiting the flow")
            if skip_first:
                skip_first = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(), _first_wait(loop, deadline))
                waiter.event.clear()
                continue
            handed = waiter.outcome
            try:
                outcome = handed if handed is not None else await snapshot(rt, canonical)
            except DwarfError:
                if rt.waiters.closed:  # the shards closed under the read: a shutdown, not a bug
                    raise UnavailableError("the engine shut down while awaiting the flow") from None
                raise
            waiter.outcome = None
            if outcome.stopped:
                return outcome
            if rt.waiters.closed:
                raise UnavailableError("the engine shut down while awaiting the flow")
            wait = WAIT_RECHECK
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    if raise_on_timeout:
                        raise TimeoutError(f"flow {canonical} did not stop within {timeout}s")
                    return outcome
                wait = min(wait, remaining)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.event.wait(), wait)
            waiter.event.clear()
    finally:
        rt.waiters.unregister(canonical, waiter)


async def cancel(rt: Runtime, flow_key: str, reason: str) -> None:
    """Cancel the flow and every subgraph below it (409 if already terminal)."""
    shard, key = rt.parse(flow_key, "flow")
    if not isinstance(reason, str):
        raise BadRequestError("reason must be a string")
    if len(reason) > MAX_TEXT:
        raise BadRequestError(f"reason must be at most {MAX_TEXT} characters")

    async def tx(conn: Any) -> tuple[GetFlowRow, dict[str, Any]]:
        flow = await get_flow(shard, key, conn)
        _require_root(flow, "cancel")
        if flow.status not in (Status.CREATED, Status.RUNNING, Status.INTERRUPTED):
            raise ConflictError(f"flow is already {flow.status}")
        graph = rt.graph_of(flow)
        for child_id in await _descendants(shard, conn, flow.flow_id):
            await shard.q.cancel_flow_steps(conn, flow_id=child_id)
            child = await shard.q.get_flow_by_id(conn, flow_id=child_id)
            if child is not None and child.status in ("created", "running", "interrupted"):
                child_final = await compute_final_state(
                    shard, conn, child_id, rt.graph_of(child).reducers()
                )
                await shard.q.cancel_flow(
                    conn, flow_id=child_id, cancel_reason=reason, final_state=dumps(child_final)
                )
        await shard.q.cancel_flow_steps(conn, flow_id=flow.flow_id)
        final = await compute_final_state(shard, conn, flow.flow_id, graph.reducers())
        if not await shard.q.cancel_flow(
            conn, flow_id=flow.flow_id, cancel_reason=reason, final_state=dumps(final)
        ):
            raise ConflictError("flow is already stopped")
        return flow, final

    flow, final = await shard.transact(tx)
    canonical = format_key(shard.index, key.id, key.token)
    outcome = FlowOutcome(
        flow_key=canonical, status=Status.CANCELLED, state=final, cancel_reason=reason
    )
    rt.flow_stopped(canonical, Status.CANCELLED, outcome)
    rt.notify_host(flow.notify_hostname, outcome)


def _first_wait(loop: asyncio.AbstractEventLoop, deadline: float | None) -> float:
    if deadline is None:
        return WAIT_RECHECK
    return max(min(WAIT_RECHECK, deadline - loop.time()), 0.0)


def _require_root(flow: GetFlowRow, operation: str) -> None:
    """Subgraph flows are driven through their root: acting on a child would strand its caller."""
    if flow.surgraph_flow_id:
        raise BadRequestError(f"cannot {operation} a subgraph flow: {operation} its root flow")


async def _descendants(shard: Shard, conn: Any, flow_id: int) -> list[int]:
    """Ids of every subgraph flow below ``flow_id``, deepest first."""
    found: list[int] = []
    frontier = [flow_id]
    while frontier:
        parent = frontier.pop()
        for child in await shard.q.list_child_flows(conn, surgraph_flow_id=parent):
            found.append(child.flow_id)
            frontier.append(child.flow_id)
    return list(reversed(found))


async def resume(rt: Runtime, flow_key: str, resume_data: Mapping[str, Any] | None) -> None:
    """Release the flow's next interrupted step with ``resume_data`` (409 unless interrupted)."""
    shard, key = rt.parse(flow_key, "flow")
    data = json_object(resume_data, "resume_data")

    async def tx(conn: Any) -> int:
        flow = await get_flow(shard, key, conn)
        _require_root(flow, "resume")
        if flow.status != Status.INTERRUPTED:
            raise ConflictError(f"flow is {flow.status}, not interrupted")
        # Walk from the root down the interrupted subgraph callers to the step to release.
        chain, leaf_flow, leaf = await find_interrupted_leaf(shard, conn, flow)
        if not leaf.interrupt_done:
            raise ConflictError("the flow is paused at a breakpoint: use resume_break")
        if not await shard.q.resume_leaf_step(conn, step_id=leaf.step_id, resume_data=dumps(data)):
            raise ConflictError("the interrupted step was released by another caller")
        await release_chain(shard, conn, leaf_flow, chain)
        released: int = leaf.step_id
        return released

    step_id = await shard.transact(tx)
    rt.doorbell(shard, step_id)


def timeout_seconds(timeout: timedelta | float | None, what: str) -> float | None:
    """A caller's timeout as seconds (None = wait forever)."""
    if timeout is None:
        return None
    return as_timedelta(timeout, what).total_seconds()
