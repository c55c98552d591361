"""Engine configuration: the knobs, their defaults and validation (docs/internals/engine.md#e7)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from dwarf.engine._types import FlowStoppedCallback, GraphLoader, PeerNotifier, TaskExecutor
from dwarf.errors import BadRequestError

if TYPE_CHECKING:
    # The API types only: importing the OpenTelemetry API costs nothing at run time here.
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "LEASE_MARGIN",
    "MAX_REPLICA_TIMEOUT",
    "MIN_REPLICA_TIMEOUT",
    "SHARDS_FIXED",
    "Config",
    "as_concurrency",
    "as_count",
    "as_flag",
    "as_key",
    "as_provider",
    "as_rate",
    "as_replica_timeout",
    "as_timedelta",
]

SHARDS_FIXED = (
    ": every replica must know every shard to route its keys, so restart all replicas with the "
    "new number (existing flows stay on their shards; docs/deviations.md)"
)
"""Why ``with_num_shards`` is refused after startup."""

P = TypeVar("P")

LEASE_MARGIN = timedelta(seconds=30)
"""Added to a step's time budget to form its lease: a crashed worker's step is re-run after it."""
MIN_REPLICA_TIMEOUT = timedelta(seconds=3)
"""Shortest replica timeout: three heartbeats (one a second) may be missed before peers recover."""
MAX_REPLICA_TIMEOUT = timedelta(hours=1)


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


def as_count(value: object, what: str, minimum: int) -> int:
    """A whole number of at least ``minimum`` (a bool is not a number here)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise BadRequestError(f"{what} must be a whole number of {minimum} or more")
    return value


def as_flag(value: object, what: str) -> bool:
    """Exactly ``True`` or ``False`` (a truthy string is a mistake, not a yes)."""
    if not isinstance(value, bool):
        raise BadRequestError(f"{what} must be True or False")
    return value


def as_replica_timeout(value: timedelta | float) -> timedelta:
    """A replica timeout: from ``MIN_REPLICA_TIMEOUT`` to ``MAX_REPLICA_TIMEOUT``."""
    timeout = as_timedelta(value, "replica_timeout")
    if not MIN_REPLICA_TIMEOUT <= timeout <= MAX_REPLICA_TIMEOUT:
        raise BadRequestError("replica_timeout must be between 3 seconds and 1 hour")
    return timeout


def as_provider(value: P, method: str, what: str) -> P:
    """An OpenTelemetry provider: anything with a callable ``method`` (get_meter, get_tracer)."""
    if not callable(getattr(value, method, None)):
        raise BadRequestError(
            f"{what} must be an OpenTelemetry provider (with {method}()), "
            f"got {type(value).__name__}"
        )
    return value


def as_key(value: object, what: str = "key") -> str:
    """A protection key: a non-empty string without NUL characters."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise BadRequestError(f"{what} must be a non-empty string without NUL, got {value!r}")
    return value


def as_rate(value: object, what: str = "per_second") -> float | None:
    """A rate in steps per second: a finite number above zero, or ``None`` (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestError(f"{what} must be a number of steps per second or None")
    if not math.isfinite(value) or value <= 0:
        raise BadRequestError(f"{what} must be a finite number above zero, got {value!r}")
    return float(value)


def as_concurrency(value: object, what: str = "n") -> int | None:
    """A concurrency limit: an int of at least 1, or ``None`` (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError(f"{what} must be an int or None, got {type(value).__name__}")
    if value < 1:
        raise BadRequestError(f"{what} must be at least 1, got {value}")
    return value


@dataclass
class Config:
    """Every ``with_*`` setting. ``time_budget`` and ``default_priority`` apply live."""

    dsn: str = ""
    num_shards: int = 1
    workers: int = 64
    time_budget: timedelta = timedelta(minutes=2)
    default_priority: int = 100
    max_open_conns: int = 8
    replica_timeout: timedelta = timedelta(seconds=5)
    graph_loader: GraphLoader | None = None
    task_executor: TaskExecutor | None = None
    flow_stopped_callback: FlowStoppedCallback | None = None
    peer_notifier: PeerNotifier | None = None
    database_signals: bool = False
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("dwarf"))
    meter_provider: MeterProvider | None = None
    tracer_provider: TracerProvider | None = None
    link_root_traces: bool = False
