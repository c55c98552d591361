"""Poison steps: a step the engine itself keeps failing to process fails its flow.

An exception escaping ``process_step`` is the engine's fault, not the task's (a task's
exceptions are outcomes): a state the decoder or a reducer cannot handle, a bug. Handing such a
step back forever burns a worker and floods the log on every replica, so each fault is counted
on the step's own row (``dwarf_steps.engine_faults``, bumped under the claim's fence) and the
``MAX_ENGINE_FAULTS``-th fails the step and its flow with an error naming the step and the
exception type (docs/internals/dispatch.md#d11). The count lives in the database because every
replica would loop on the step alike; an in-memory count per replica would never stop a fleet.

Database faults are not poison: a dropped connection or a server restart says nothing about the
step, so they hand the step back uncounted (the next claim retries it). A fault that would recur
identically (``PermanentFaultError``; a document over ``MAX_STATE_BYTES``, which a retry would
only build again: docs/internals/state.md#c10) fails the step at once, with its own message.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from dwarf._storage import ClaimedStepRow, FlowRow, Store, Tx
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._runtime._telemetry import flow_transition
from dwarf.engine._step._context import StepContext
from dwarf.engine._step._settle import MAX_ERROR, fail_step
from dwarf.errors import StorageError, UnavailableError
from dwarf.workflow import FlowOutcome, Graph, Status
from dwarf.workflow._json import StateTooLargeError

__all__ = ["MAX_ENGINE_FAULTS", "PermanentFaultError", "engine_fault"]

MAX_ENGINE_FAULTS = 5
"""Engine faults on one step after which the step and its flow fail instead of running again."""

_FIRST_BACKOFF = timedelta(milliseconds=100)
"""Delay before the step runs again after its first fault; it doubles with every fault."""

_TRANSIENT: tuple[type[BaseException], ...] = (StorageError, UnavailableError, OSError)


class PermanentFaultError(Exception):
    """An engine fault that would recur identically on every attempt: fail at once."""


async def engine_fault(
    rt: Runtime, shard: Store, row: ClaimedStepRow, flow: FlowRow | None, exc: Exception
) -> None:
    """Count ``exc`` against the claimed step; hand it back, or fail it and its flow.

    Never raises: a failure to record the fault leaves the step to lease recovery.
    """
    where = f"step {row.task_name!r} (id {row.step_id}) on shard {shard.index}"
    if isinstance(exc, _TRANSIENT) or flow is None:
        rt.log.warning("Database fault processing %s, handing it back: %s", where, exc)
        with contextlib.suppress(Exception):
            await _defer(shard, row, _FIRST_BACKOFF)
        rt.wake_in(_FIRST_BACKOFF)
        return
    try:
        faults = await shard.transact(lambda db: _count(db, row))
    except Exception as count_exc:
        rt.log.warning("Cannot record an engine fault on %s: %s", where, count_exc)
        return
    if faults is None:
        return  # the lease was lost: another worker owns the step now
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    permanent = isinstance(exc, PermanentFaultError | StateTooLargeError)
    if faults < MAX_ENGINE_FAULTS and not permanent:
        delay = _FIRST_BACKOFF * 2 ** (faults - 1)
        rt.log.warning(
            "Engine fault %d of %d processing %s of flow %s: %s",
            faults,
            MAX_ENGINE_FAULTS,
            where,
            rt.flow_key(shard, flow.flow_id, flow.flow_token),
            what,
            exc_info=exc,
        )
        with contextlib.suppress(Exception):
            await _defer(shard, row, delay)
        rt.wake_in(delay)
        return
    if permanent:
        message = f"step {row.task_name!r}: {exc}"
    else:
        message = f"engine error processing step {row.task_name!r}: {what} ({faults} times)"
    rt.log.warning("Failing flow %s: %s", rt.flow_key(shard, flow.flow_id, flow.flow_token), what)
    # Error columns are text, which a NUL from an exception message cannot be stored in
    # (docs/internals/state.md#c10).
    await _fail(rt, shard, row, flow, message[:MAX_ERROR].replace("\x00", "\ufffd"))


async def _count(db: Tx, row: ClaimedStepRow) -> int | None:
    if not await db.count_engine_fault(step_id=row.step_id, lease_seq=row.lease_seq):
        return None
    return await db.get_engine_faults(step_id=row.step_id)


async def _defer(shard: Store, row: ClaimedStepRow, delay: timedelta) -> None:
    delay_ms = int(delay.total_seconds() * 1000)
    await shard.transact(
        lambda db: db.defer_step(step_id=row.step_id, lease_seq=row.lease_seq, delay_ms=delay_ms)
    )


async def _fail(
    rt: Runtime, shard: Store, row: ClaimedStepRow, flow: FlowRow, message: str
) -> None:
    """Fail the step the ordinary way; if that faults too, fail step and flow row directly."""
    try:
        graph = rt.graph_of(flow)
    except Exception:
        graph = Graph(flow.workflow_name or "unknown")
    try:
        await fail_step(StepContext(rt, shard, flow, graph, row), message)
        return
    except Exception as exc:
        # The ordinary path merges the flow's final state, which may fault the same way (a
        # state too deep to decode): end the flow with an empty final state instead.
        rt.log.warning("Failing flow %s directly: %s", flow.flow_id, type(exc).__name__)

    async def tx(db: Tx) -> bool:
        # An engine fault is not the task's exception: no error_type (storage.md).
        failed = await db.fail_step(
            error=message, error_type="", step_id=row.step_id, lease_seq=row.lease_seq
        )
        if not failed:
            return False
        return bool(
            await db.fail_flow(flow_id=flow.flow_id, error=message, error_type="", final_state="{}")
        )

    try:
        failed = await shard.transact(tx)
    except Exception as exc:
        rt.log.warning("Cannot fail flow %s: %s", flow.flow_id, exc)
        return
    if failed:
        key = rt.flow_key(shard, flow.flow_id, flow.flow_token)
        flow_transition(
            rt,
            shard.index,
            key,
            flow.workflow_name,
            flow.status,
            Status.FAILED,
            started_at=flow.started_at,
        )
        outcome = FlowOutcome(flow_key=key, status=Status.FAILED, state={}, error=message)
        rt.flow_stopped(key, Status.FAILED, outcome)
        rt.notify_host(flow.notify_hostname, outcome)
