"""A task refused by its downstream: backpressure cuts a valve, a breaker trip parks a backlog.

Neither consumes an attempt or fails the flow: the step goes back to pending with its state,
priority and place, and admission (docs/internals/protection.md) decides when it runs again.
A success closes the breaker of the step's key on its shard and releases that shard's backlog.
A breaker probe's outcome (success, or failure on any error) is counted here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dwarf._scheduling import CAUSE_ACK_TIMEOUT
from dwarf.engine._protection import bulk_park, unpark
from dwarf.engine._step._context import StepContext
from dwarf.engine._step._events import step_event
from dwarf.workflow import BackpressureError, BreakerTripError

__all__ = ["on_failure", "on_refusal", "on_success"]


async def on_refusal(step: StepContext, error: BackpressureError | BreakerTripError) -> None:
    """Handle a task's backpressure or breaker-trip error for the claimed step."""
    if isinstance(error, BackpressureError):
        step_event(step, "backpressure", detail=str(error))
        await _backpressure(step, error)
    else:
        step_event(step, "breaker_trip", detail=str(error))
        await _trip(step, error)


async def _backpressure(step: StepContext, error: BackpressureError) -> None:
    rt, row = step.rt, step.row
    key, w_cong, t_cong = rt.protection.backpressure(
        row.task_name,
        step.store.index,
        row.step_id,
        datetime.now(UTC),
        key=error.key,
        retry_after=error.retry_after,
    )
    rt.metrics.rate_cut(key)
    notifier = rt.peer_notifier
    if notifier is not None:
        rt.spawn(notifier.sync_valve(key, w_cong, t_cong), "peer sync_valve")
    # Bounced due now: the cut valve, not a delay, decides when it is selected again.
    await step.store.transact(
        lambda db: db.defer_step(step_id=row.step_id, lease_seq=row.lease_seq, delay_ms=0)
    )
    rt.request_refill()


async def _trip(step: StepContext, error: BreakerTripError) -> None:
    rt, row = step.rt, step.row
    cause = error.cause or CAUSE_ACK_TIMEOUT
    key, fresh = rt.protection.trip(
        row.task_name,
        step.store.index,
        row.step_id,
        datetime.now(UTC),
        [shard.index for shard in rt.shards],
        key=error.key,
        cause=cause,
    )
    if fresh:
        rt.metrics.breaker_trip(key, cause)
    notifier = rt.peer_notifier
    if fresh and notifier is not None:
        rt.spawn(notifier.trip_breaker(key), "peer trip_breaker")
    await bulk_park(rt, key, (step.store, row))


def on_success(step: StepContext) -> None:
    """The task returned without error: close its key's breaker on this shard if it was open."""
    rt, row = step.rt, step.row
    _probe_ended(step, "success")
    key = rt.protection.succeeded(row.task_name, step.store.index, row.step_id, datetime.now(UTC))
    if key is not None:
        rt.spawn(unpark(rt, step.store, key), "releasing a breaker backlog")


def on_failure(step: StepContext) -> None:
    """The task raised (a refusal or any other error): a breaker probe it was has failed."""
    _probe_ended(step, "failure")


def _probe_ended(step: StepContext, outcome: str) -> None:
    probe = step.rt.protection.probe_ended(step.store.index, step.row.step_id)
    if probe is not None:
        step.rt.metrics.breaker_probe(probe[0], outcome, probe[1])
