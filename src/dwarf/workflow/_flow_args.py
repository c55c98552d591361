"""How the carrier reads its time arguments: timestamps normalised to UTC, durations from seconds.

Both the state accessors and the control signals take durations as a ``timedelta`` or a number of
seconds, so the one conversion (with its errors naming the argument) lives here.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["as_duration", "as_utc", "is_number", "utc_now"]


def utc_now() -> datetime:
    """The current time in UTC (the carrier's default clock)."""
    return datetime.now(UTC)


def as_utc(value: datetime, name: str) -> datetime:
    """``value`` in UTC; ``TypeError`` naming ``name`` if it is not a datetime."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    # The database clock is UTC everywhere, so a naive timestamp read back from a driver is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a JSON number (an int or float, never a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_duration(value: timedelta | float, name: str) -> timedelta:
    """A duration argument: a ``timedelta`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if not is_number(value):
        raise TypeError(f"{name} must be a timedelta or seconds, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"{name} is too large for a duration: {value!r}") from None
