"""Running one claimed step: build the carrier, call the task, and record what it decided.

The order (docs/internals/transitions.md): read the flow (a terminal flow ends it), parse the frozen
graph, build the carrier, check the breakpoint, call the executor under the step's time budget
with the flow's baggage, classify the outcome, then write it. Every write after the task ran is
fenced by the claim's ``lease_seq``: a worker that lost its lease (crash recovery re-queued the
step) finds zero rows and walks away, so state is written exactly once even though a task may
run more than once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from dwarf._storage import ClaimedStep, ClaimedStepRow, FlowRow, Store, Tx
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._context import StepContext
from dwarf.engine._step._events import flows_paused, step_event, subgraph_called
from dwarf.engine._step._final_state import merge_replace
from dwarf.engine._step._outcomes import stop_outcome
from dwarf.engine._step._refusals import on_failure, on_refusal, on_success
from dwarf.engine._step._routing import Route, RoutingError, route
from dwarf.engine._step._settle import fail_step
from dwarf.engine._step._step_input import SharedInputs
from dwarf.engine._step._subgraph import (
    SpawnedChild,
    load_child_graph,
    propagate_pause,
    spawn_child,
)
from dwarf.engine._step._transition import Advance, advance
from dwarf.errors import BadRequestError
from dwarf.workflow import (
    Flow,
    Graph,
    Status,
    Yield,
)
from dwarf.workflow._baggage import baggage_scope
from dwarf.workflow._json import dumps_state, loads
from dwarf.workflow._signals import error_payload, steering_error

__all__ = ["TimeBudgetError", "process_step"]


class TimeBudgetError(Exception):
    """The task ran past its time budget and was cancelled."""


async def process_step(
    rt: Runtime, shard: Store, row: ClaimedStepRow, flow: FlowRow | None, inputs: SharedInputs
) -> ClaimedStep | None:
    """Run the claimed step ``row`` to its next durable state.

    ``flow`` is the step's flow row as the claim read it (one read per batch); None means the
    flow was deleted while the step was queued, and its steps went with it. ``inputs`` builds
    the step's input (a forEach branch's from its spawn's snapshot, kept decoded). Returns the
    successor the step's advance claimed for this worker to run next (dispatch D13), if any.
    """
    if flow is None:
        return None
    if flow.status.is_terminal:
        await shard.transact(
            lambda db: db.set_step_status_from_flow(
                step_id=row.step_id, lease_seq=row.lease_seq, status=flow.status
            )
        )
        return None
    input_state = await inputs.input_of(shard, row)
    prior = loads(row.changes)
    try:
        graph = rt.graph_of(flow)
    except BadRequestError as exc:
        placeholder = Graph(flow.workflow_name or "unknown")
        await fail_step(StepContext(rt, shard, flow, placeholder, row), f"bad graph: {exc}")
        return None
    step = StepContext(rt, shard, flow, graph, row, input_state, prior)
    if _breakpoint_applies(step):
        await _pause_at_breakpoint(step)
        return None
    await _execute(step)
    return step.successor


def _breakpoint_applies(step: StepContext) -> bool:
    if step.row.breakpoint_hit:
        return False
    breakpoints = loads(step.flow.breakpoints)
    if not isinstance(breakpoints, dict) or not breakpoints:
        return False
    task = step.row.task_name
    if breakpoints.get(task) == "b":
        return True
    url = step.graph.url_of(task)
    return breakpoints.get(url) == "b" and len(step.graph.names_for_url(url)) == 1


async def _pause_at_breakpoint(step: StepContext) -> None:

    async def tx(db: Tx) -> list[FlowRow] | None:
        if not await db.breakpoint_leaf_step(
            step_id=step.row.step_id, lease_seq=step.row.lease_seq
        ):
            return None
        await db.interrupt_flow(flow_id=step.flow.flow_id)
        return await propagate_pause(db, step.flow, None)

    ancestors = await step.store.transact(tx)
    if ancestors is not None:
        step_event(step, "breakpoint")
        await _announce_interrupt(step, ancestors)


async def _execute(step: StepContext) -> None:
    rt, row, flow = step.rt, step.row, step.flow
    state = merge_replace(step.input_state, step.prior_changes)
    baggage = loads(flow.baggage)
    carrier = Flow(
        state=state,
        changes=dict(step.prior_changes),
        trusted_json=True,
        flow_key=step.flow_key,
        step_key=step.step_key,
        attempt=row.attempt,
        created_at=flow.created_at,
        updated_at=flow.updated_at,
        baggage=baggage,
        step_created_at=row.created_at,
        resume_data=loads(row.resume_data) if row.interrupt_done else None,
        subgraph_outcome=(
            (loads(row.subgraph_result), row.subgraph_error) if row.subgraph_done else None
        ),
    )
    executor = rt.config.task_executor
    assert executor is not None  # startup refuses to run without one
    url = step.graph.url_of(row.task_name) or row.task_name
    budget = max(row.time_budget_ms, 1) / 1000.0
    error: BaseException | None = None
    parked = False
    timer = asyncio.timeout(budget)
    try:
        with baggage_scope(baggage):
            async with timer:
                await executor(url, carrier)
    except Yield:
        parked = True
    except TimeoutError as exc:
        error = (
            TimeBudgetError(f"task {row.task_name!r} exceeded its time budget of {budget:g}s")
            if timer.expired()
            else exc
        )
    except asyncio.CancelledError as exc:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the engine is shutting down: leave the step to lease recovery
        # The task cancelled itself (or something it awaited): an ordinary failure.
        error = exc
    except Exception as exc:
        error = exc
    if error is not None:
        await _on_error(step, error)
        return
    on_success(step)
    signals = carrier.signals
    competing = carrier.competing_signals()
    if len(competing) > 1:
        await fail_step(
            step,
            f"task {row.task_name!r} set multiple competing control signals: "
            + ", ".join(competing),
        )
        return
    changes = carrier.changes
    if signals.interrupt_payload is not None:
        await _interrupt(step, changes, signals.interrupt_payload)
        return
    if signals.subgraph is not None:
        await _call_subgraph(step, changes, *signals.subgraph)
        return
    if parked:
        # A Yield without an armed signal: a task raised it by hand.
        await fail_step(step, "task raised Yield without a signal")
        return
    if signals.retry_delay is not None:
        await _retry(step, changes, signals.retry_delay)
        return
    successor_state = merge_replace(step.input_state, changes)
    try:
        routed = route(step.graph, row.task_name, successor_state, goto=signals.goto)
    except (RoutingError, BadRequestError) as exc:
        await fail_step(step, str(exc))
        return
    if routed.note:
        # A dead end or a type mismatch in a when is legal but almost always a mistake, and
        # the flow still reads "completed": say so (docs/internals/routing.md#r8).
        step.rt.log.warning("flow %s, step %r: %s", step.flow_key, row.task_name, routed.note)
        if routed.dead_end and step.graph.strict_routing:
            await fail_step(step, f"strict routing: {routed.note}")
            return
    step_event(step, "completed")
    await _advance(step, changes, successor_state, routed, signals.sleep, signals.goto or "")


async def _on_error(step: StepContext, error: BaseException) -> None:
    row = step.row
    on_failure(step)
    refusal = steering_error(error)
    if refusal is not None:
        await on_refusal(step, refusal)
        return
    message = str(error) or type(error).__name__
    if not any(edge.on_error for edge in step.graph.outgoing(row.task_name)):
        await fail_step(step, message, error)
        return
    step_event(step, "error_routed", error)
    # An error voids the task's writes (and earlier attempts'): only onErr goes forward.
    changes = {"onErr": error_payload(error)}
    successor_state = merge_replace(step.input_state, changes)
    routed = route(step.graph, row.task_name, successor_state, error_routed=True)
    await _advance(step, changes, successor_state, routed, None, "")


async def _advance(
    step: StepContext,
    changes: dict[str, Any],
    successor_state: dict[str, Any],
    routed: Route,
    sleep: timedelta | None,
    goto: str,
) -> None:
    result = await advance(
        step, Advance(changes, step.input_state, successor_state, routed, sleep, goto)
    )
    if result.failure:
        await fail_step(step, result.failure)


async def _retry(step: StepContext, changes: dict[str, Any], delay: timedelta) -> None:
    row, _q = step.row, step.store.q
    delay_ms = int(delay.total_seconds() * 1000)
    done = await step.store.transact(
        lambda db: db.retry_step(
            step_id=row.step_id,
            lease_seq=row.lease_seq,
            changes=dumps_state(changes, "changes"),
            delay_ms=delay_ms,
        )
    )
    if not done:
        return
    step_event(step, "retried", detail=f"attempt {row.attempt + 1} due in {delay}")
    if delay_ms <= 0:
        step.rt.doorbell(step.store, row.step_id)
    else:
        step.rt.wake_in(delay)


async def _interrupt(step: StepContext, changes: dict[str, Any], payload: dict[str, Any]) -> None:
    row, _q = step.row, step.store.q

    async def tx(db: Tx) -> list[FlowRow] | None:
        written = await db.interrupt_leaf_step(
            step_id=row.step_id,
            lease_seq=row.lease_seq,
            changes=dumps_state(changes, "changes"),
            interrupt_payload=dumps_state(payload, "interrupt payload"),
        )
        if not written:
            return None
        await db.interrupt_flow(flow_id=step.flow.flow_id)
        return await propagate_pause(db, step.flow, payload)

    ancestors = await step.store.transact(tx)
    if ancestors is not None:
        step_event(step, "interrupted")
        await _announce_interrupt(step, ancestors)


async def _announce_interrupt(step: StepContext, ancestors: list[FlowRow]) -> None:
    """Tell waiters on every paused flow, and the root's stop callback, about the pause."""
    flows_paused(step, ancestors)
    for flow in (step.flow, *ancestors):
        outcome = await stop_outcome(step.store, flow.flow_id)
        step.rt.flow_stopped(outcome.flow_key, Status.INTERRUPTED, outcome)
        if flow is (ancestors[-1] if ancestors else step.flow):
            step.rt.notify_host(flow.notify_hostname, outcome)


async def _call_subgraph(
    step: StepContext, changes: dict[str, Any], workflow_name: str, input_state: dict[str, Any]
) -> None:
    row = step.row
    try:
        graph = await load_child_graph(step.rt, step.flow, workflow_name)
    except Exception as exc:
        await fail_step(
            step,
            f"cannot start subgraph {workflow_name!r}: {exc}",
        )
        return

    # Minted once, outside the transaction, under this step's span (it is current here).
    trace_parent = step.rt.tracing.mint(workflow_name, under_current=True)

    async def tx(db: Tx) -> SpawnedChild | None:
        parked = await db.park_step_for_subgraph(
            step_id=row.step_id, lease_seq=row.lease_seq, changes=dumps_state(changes, "changes")
        )
        if not parked:
            return None
        return await spawn_child(
            step.rt,
            step.store,
            db,
            step.flow,
            row.step_id,
            row.step_depth,
            workflow_name,
            graph,
            input_state,
            trace_parent,
        )

    child = await step.store.transact(tx)
    if child is not None:
        subgraph_called(step, workflow_name, child)
        step.rt.doorbell(step.store, child.entry_step_id)
