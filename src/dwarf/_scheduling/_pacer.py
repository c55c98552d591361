"""A static rate ceiling a host configures: a GCRA pacer (a token bucket kept as one timestamp).

``Engine.with_rate_limit(key, per_second)`` must hold for any rate, including below one call per
second, which the valve's 1 s sliding window cannot express (``estimate + 1 <= 0.5`` never
admits). The Generic Cell Rate Algorithm spaces emissions ``1 / rate`` apart and allows a burst of
``max(1, rate / 10)`` (100 ms of traffic), so a refill may place a few steps at once at high
rates without ever exceeding ``rate`` over any second by more than that burst.

Time is injected as timezone-aware ``datetime`` (as in the valve), kept in float seconds since a
fixed origin because nothing here is gossiped or compared across replicas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Pacer"]

_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def _seconds(now: datetime) -> float:
    return (now - _ORIGIN).total_seconds()


@dataclass
class Pacer:
    """GCRA at ``rate`` emissions per second (``rate > 0``)."""

    rate: float
    _tat: float = 0.0
    """Theoretical arrival time of the next conforming emission (seconds since the origin)."""

    @property
    def interval(self) -> float:
        """Seconds between emissions at the configured rate."""
        return 1.0 / self.rate

    @property
    def burst(self) -> int:
        """How many emissions may go out back to back: 100 ms of traffic, at least one."""
        return max(1, int(self.rate / 10))

    def _tolerance(self) -> float:
        return (self.burst - 1) * self.interval

    def peek(self, now: datetime) -> bool:
        """Whether one more emission conforms now (nothing is counted)."""
        return max(self._tat, _seconds(now)) - _seconds(now) <= self._tolerance() + 1e-9

    def commit(self, now: datetime) -> None:
        """Count one emission."""
        self._tat = max(self._tat, _seconds(now)) + self.interval

    def next_conforming(self, now: datetime) -> datetime:
        """The earliest time ``peek`` admits again (``now`` if it admits now)."""
        wait = self._tat - self._tolerance() - _seconds(now)
        return now + timedelta(seconds=max(0.0, wait))
