"""The engine's side of observability: flow transitions, step fields, the gauges' reads.

What an event means (which metric, which log level, which fields) is decided here and in
``engine/_step/_events.py``; ``dwarf._observability`` only emits. Every helper checks first
whether anything listens (``metrics.enabled``, ``log.isEnabledFor``), so an engine without an
SDK or a configured logger builds no attribute dict and no log record on its hot path
(docs/internals/observability.md#m1).

Log records carry their fields in ``extra`` (``flow_key``, ``step_key``, ``task``,
``workflow``, ``shard``): a host's JSON formatter picks them up without parsing messages. No
record carries state, baggage or a DSN (M2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dwarf._observability import GaugeSample, KeyGauge
from dwarf._scheduling import Candidate, Plan, Protection
from dwarf._storage import BandClaim, ClaimedStepRow, DueStepRow, Store
from dwarf.workflow import Status

if TYPE_CHECKING:
    from dwarf.engine._runtime._runtime import Runtime

__all__ = [
    "Planned",
    "band_claimed",
    "flow_transition",
    "read_gauges",
    "refill_planned",
    "seconds_since",
    "claimed_on_insert",
]

Planned = tuple[int, Sequence[Sequence[DueStepRow]], Plan[Candidate]]
"""One band a refill planned: (its priority, each shard's scan in shard order, the plan)."""

_TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


def seconds_since(moment: datetime) -> float:
    """Seconds from ``moment`` (a database timestamp) to now on this replica's clock.

    Only for durations reported as metrics: the replica's clock may disagree with the database's
    by its skew, which a histogram of seconds-to-hours tolerates (engine.md#e1 keeps every
    *stored* timestamp on the database clock).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (datetime.now(UTC) - moment).total_seconds()


def flow_transition(
    rt: Runtime,
    shard: int,
    flow_key: str,
    workflow: str,
    before: str,
    after: str,
    *,
    via: str = "",
    step_key: str = "",
    started_at: datetime | None = None,
) -> None:
    """A flow's status changed from ``before`` ("" for a new flow) to ``after``.

    Logs INFO "Flow status transition"; counts ``dwarf_flows_started_total`` when a flow
    begins running (``start``, ``run``, a subgraph child, a fork: not a resume or a restart)
    and ``dwarf_flows_terminated_total`` with the flow's duration when it ends.
    """
    metrics = rt.metrics
    if metrics.enabled:
        if after == Status.RUNNING and before in ("", Status.CREATED):
            metrics.flow_started(workflow)
        elif after in _TERMINAL:
            seconds = seconds_since(started_at) if started_at is not None else None
            metrics.flow_terminated(workflow, str(after), seconds)
    log = rt.log
    if log.isEnabledFor(logging.INFO):
        extra = {
            "flow_key": flow_key,
            "workflow": workflow,
            "shard": shard,
            "from_status": str(before),
            "to_status": str(after),
            "via": via,
            "step_key": step_key,
        }
        log.info(
            "Flow status transition: flow %s (%s) %s -> %s%s",
            flow_key,
            workflow,
            before or "(new)",
            after,
            f" via {via}" if via else "",
            extra=extra,
        )


async def read_gauges(shards: list[Store], protection: Protection) -> GaugeSample:
    """Due pending steps per priority band, summed across shards, the oldest's age, and every
    protection key's state (at most ``MAX_KEYS`` of them: a bounded label set)."""
    keys = [
        KeyGauge(c.key, c.rate_limit, c.running, c.breaker_open)
        for c in protection.controls(datetime.now(UTC))
    ]
    pending: dict[int, int] = {}
    oldest: dict[int, float] = {}
    for shard in shards:
        for row in await shard.read(lambda db: db.count_due_by_priority()):
            pending[row.priority] = pending.get(row.priority, 0) + row.due_count
            age = max(row.oldest_ms or 0, 0) / 1000.0
            oldest[row.priority] = max(oldest.get(row.priority, 0.0), age)
    return GaugeSample(pending, oldest, keys)


def refill_planned(
    rt: Runtime,
    planned: Sequence[Planned],
    won: Sequence[tuple[Store, ClaimedStepRow, Any]],
) -> None:
    """A refill planned the bands of ``planned`` and claimed ``won`` from them.

    Counts the steps protection refused per task (``dwarf_steps_skipped_saturated_total``),
    keeps each band's admissible fairness keys for ``dwarf_steps_fairness_keys`` and records
    each won step's queue wait (how long it had been due at the scan that chose it).
    """
    metrics = rt.metrics
    if not metrics.enabled or not planned:
        return
    mine = {(shard.index, claimed.step_id) for shard, claimed, _ in won}
    keys: dict[int, int] = {}
    for band, scans, plan in planned:
        metrics.steps_skipped(plan.skipped)
        keys[band] = plan.distinct_keys
        for shard, rows in zip(rt.shards, scans, strict=True):
            for row in rows:
                if row.priority == band and (shard.index, row.step_id) in mine:
                    metrics.queue_wait(band, row.wait_ms / 1000.0)
    metrics.refill(keys)


def band_claimed(rt: Runtime, claims: Sequence[BandClaim]) -> None:
    """A refill claimed ``claims``, a whole due band, without planning it (dispatch D12).

    What ``refill_planned`` records for a planned band: each step's queue wait, and the band's
    fairness keys (every key of the band was admissible, and every step was taken).
    """
    metrics = rt.metrics
    if not metrics.enabled or not claims:
        return
    band = claims[0].step.row.priority
    for claim in claims:
        metrics.queue_wait(band, claim.wait_ms / 1000.0)
    metrics.refill({band: len({claim.step.row.fairness_key for claim in claims})})


def claimed_on_insert(rt: Runtime, step: ClaimedStepRow) -> None:
    """``step`` was claimed as it was inserted (dispatch D13), for a worker free to start it.

    What ``band_claimed`` records for a step of a band: its queue wait, none; no refill took it.
    """
    metrics = rt.metrics
    if metrics.enabled:
        metrics.queue_wait(step.priority, 0.0)
