"""Engine configuration: the knobs, their defaults and validation (docs/internals/engine.md#e7)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from dwarf.engine._types import FlowStoppedCallback, GraphLoader, PeerNotifier, TaskExecutor
from dwarf.errors import BadRequestError

if TYPE_CHECKING:
    # The API types only: importing the OpenTelemetry API costs nothing at run time here.
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["LEASE_MARGIN", "Config", "as_timedelta"]

LEASE_MARGIN = timedelta(seconds=30)
"""Added to a step's time budget to form its lease: a crashed worker's step is re-run after it."""


def as_timedelta(value: timedelta | float | int, what: str) -> timedelta:
    """A duration given as ``timedelta`` or seconds; negative or non-numeric is a 400."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        duration = timedelta(seconds=value)
    else:
        raise BadRequestError(f"{what} must be a timedelta or seconds, got {type(value).__name__}")
    if duration < timedelta(0):
        raise BadRequestError(f"{what} must not be negative")
    return duration


@dataclass
class Config:
    """Every ``with_*`` setting. ``time_budget`` and ``default_priority`` apply live."""

    dsn: str = ""
    num_shards: int = 1
    workers: int = 64
    time_budget: timedelta = timedelta(minutes=2)
    default_priority: int = 100
    max_open_conns: int = 8
    graph_loader: GraphLoader | None = None
    task_executor: TaskExecutor | None = None
    flow_stopped_callback: FlowStoppedCallback | None = None
    peer_notifier: PeerNotifier | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("dwarf"))
    meter_provider: MeterProvider | None = None
    tracer_provider: TracerProvider | None = None
