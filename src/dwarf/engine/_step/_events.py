"""What a step's processing tells the world: its span, its timing, its counts and its logs.

One call per event, made where the engine decides what happened to a step (docs/internals/
observability.md): ``step_scope`` wraps a claimed step's whole processing (its span, current
while the task runs, and the ``dwarf_step_duration_seconds`` histogram); ``step_event`` counts
``dwarf_steps_executed_total{task,status}``, records a task's exception on the span and logs
the event. A task failure, an error routed to onError and a retry are WARNINGs, with the
exception's type in the message and its traceback attached; the rest are DEBUG (M2).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dwarf._storage import ClaimedStepRow, FlowRow, Store
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._runtime._telemetry import flow_transition
from dwarf.engine._step._context import StepContext
from dwarf.workflow import Status

if TYPE_CHECKING:
    from dwarf.engine._step._subgraph import SpawnedChild

__all__ = [
    "STEP_STATUSES",
    "flow_ended",
    "flows_paused",
    "step_event",
    "step_fields",
    "step_scope",
    "subgraph_called",
]

STEP_STATUSES = frozenset(
    {"completed", "failed", "interrupted", "subgraph", "retried", "error_routed"}
)
"""The ``status`` label values of ``dwarf_steps_executed_total``."""

# event -> (counted status or "", log level, message)
_EVENTS: dict[str, tuple[str, int, str]] = {
    "completed": ("completed", logging.DEBUG, "Task completed"),
    "error_routed": ("error_routed", logging.WARNING, "Task error routed"),
    "failed": ("failed", logging.WARNING, "Task failed"),
    "retried": ("retried", logging.WARNING, "Task retried"),
    "interrupted": ("interrupted", logging.DEBUG, "Task interrupted"),
    "breakpoint": ("interrupted", logging.DEBUG, "Breakpoint hit"),
    "subgraph": ("subgraph", logging.DEBUG, "Task requested subgraph"),
    "backpressure": ("", logging.DEBUG, "Task backpressure"),
    "breaker_trip": ("", logging.DEBUG, "Task breaker tripped"),
}


def step_fields(
    shard: int, flow_key: str, step_key: str, task: str, workflow: str
) -> dict[str, Any]:
    """The structured ``extra`` of a step's log records."""
    return {
        "flow_key": flow_key,
        "step_key": step_key,
        "task": task,
        "workflow": workflow,
        "shard": shard,
    }


@contextlib.contextmanager
def step_scope(
    rt: Runtime, shard: Store, row: ClaimedStepRow, flow: FlowRow | None
) -> Iterator[None]:
    """Around one claimed step's processing: its span (current inside) and its duration."""
    tracing, metrics, log = rt.tracing, rt.metrics, rt.log
    debug = log.isEnabledFor(logging.DEBUG)
    if flow is None or not (tracing.enabled or metrics.enabled or debug):
        yield
        return
    flow_key = format_key(shard.index, flow.flow_id, flow.flow_token)
    started = time.perf_counter()
    with tracing.step(row.task_name, flow.trace_parent, flow_key, flow.workflow_name):
        if debug:
            step_key = format_key(shard.index, row.step_id, row.step_token)
            fields = step_fields(shard.index, flow_key, step_key, row.task_name, flow.workflow_name)
            fields["attempt"] = row.attempt
            log.debug("Executing task %r of flow %s", row.task_name, flow_key, extra=fields)
        try:
            yield
        finally:
            metrics.step_duration(row.task_name, time.perf_counter() - started)


def step_event(
    ctx: StepContext, event: str, error: BaseException | None = None, detail: str = ""
) -> None:
    """``event`` happened to the claimed step: count it, mark its span, log it.

    ``error`` is the task's exception (recorded on the span, its traceback logged); ``detail``
    says more for an engine-detected failure or a retry.
    """
    status, level, message = _EVENTS[event]
    rt, row = ctx.rt, ctx.row
    if status and rt.metrics.enabled:
        rt.metrics.step_executed(row.task_name, status)
    if error is not None and rt.tracing.enabled:
        rt.tracing.task_error(error)
    log = rt.log
    if not log.isEnabledFor(level):
        return
    fields = step_fields(
        ctx.store.index, ctx.flow_key, ctx.step_key, row.task_name, ctx.flow.workflow_name
    )
    fields["attempt"] = row.attempt
    fields["error_type"] = type(error).__name__ if error is not None else ""
    if error is not None:
        detail = f"{type(error).__name__}: {error}"
    log.log(
        level,
        "%s: task %r of flow %s%s",
        message,
        row.task_name,
        ctx.flow_key,
        f": {detail}" if detail else "",
        extra=fields,
        exc_info=(type(error), error, error.__traceback__) if error is not None else None,
    )


def subgraph_called(ctx: StepContext, workflow_name: str, child: SpawnedChild) -> None:
    """The step parked on a child flow it just created and started."""
    step_event(ctx, "subgraph", detail=f"child {workflow_name!r}")
    child_key = format_key(ctx.store.index, child.flow_id, child.token)
    flow_transition(
        ctx.rt, ctx.store.index, child_key, workflow_name, "", Status.RUNNING, via="subgraph"
    )


def flows_paused(ctx: StepContext, ancestors: list[FlowRow]) -> None:
    """The step's flow and the flows above it became ``interrupted``."""
    for flow in (ctx.flow, *ancestors):
        if flow.status != Status.INTERRUPTED:
            key = format_key(ctx.store.index, flow.flow_id, flow.flow_token)
            flow_transition(
                ctx.rt,
                ctx.store.index,
                key,
                flow.workflow_name,
                flow.status,
                Status.INTERRUPTED,
                step_key=ctx.step_key,
            )


def flow_ended(ctx: StepContext, status: Status) -> None:
    """The step's flow ended with ``status`` (completed or failed)."""
    flow = ctx.flow
    flow_transition(
        ctx.rt,
        ctx.store.index,
        ctx.flow_key,
        flow.workflow_name,
        flow.status,
        status,
        step_key=ctx.step_key,
        started_at=flow.started_at,
    )
