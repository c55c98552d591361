"""The per-task rate valve: a sliding-window emission counter gated by a TCP CUBIC ceiling.

A host marks a task's transport error as *backpressure* (e.g. HTTP 429). The engine then cuts that
task's ceiling (``regulate``), gossips the cut point ``(w_cong, t_cong)`` to its peers (``sync`` on
the receiving side), and lets the ceiling grow back along the CUBIC curve. The refill planner asks
``peek`` before it places a step in a batch and calls ``commit`` for every step it places, so the
rate gated is the *selection* rate (docs/internals/dispatch.md#valve-and-breaker).

The engine keeps one valve per protection key (docs/internals/protection.md), through
``dwarf._scheduling._protection``.

Constraints that shape the code:

* Time is injected: every method takes ``now`` as a timezone-aware UTC ``datetime``. Datetimes,
  not floats, because ``t_cong`` travels between replicas (``PeerNotifier.sync_valve`` takes a
  ``datetime``) and the merge rule compares it with ``==``: a float round-tripped through a
  ``datetime`` can lose its last bits and two replicas holding the same cut would disagree.
  Microsecond integers make the merge exact; the window arithmetic is done on them too.
* ``w_cong == 0`` means "never cut": the valve counts emissions but does not gate them. A cut
  always leaves ``w_cong >= 1``; ``sync`` ignores a gossiped ``w_cong < 1`` for the same reason.
* The window is the two-bucket sliding estimate of upstream's throttle: buckets are 1 s periods
  aligned to the Unix epoch; the estimate is the current bucket plus the previous bucket scaled by
  the unelapsed fraction of the current period, truncated to an int. It is computed in integer
  microseconds, so exactly (upstream's float product could come out one short). A ``now`` earlier
  than the latest period seen is read as that latest period (a clock step back rewinds no counts).
* ``commit`` counts unconditionally. Upstream's throttle counted only when under its limit, but
  the planner always peeks (admitted) before committing with the same ``now``, so the two agree
  on every path the engine uses; counting unconditionally keeps "emitted" meaning emitted.
* ``recover_rate`` evaluates the CUBIC formula literally, then clamps below at ``w_cong``: the
  curve's minimum over ``t >= 0`` is ``w_cong`` exactly, but float rounding at ``t = 0`` lands one
  ulp short for some ``w_cong`` (the first is 1015) and truncation would turn that into
  ``w_cong - 1``. The clamp is analytically a no-op and keeps the result monotone in ``t``.
* Single-threaded (asyncio): no locks. Gauges read ``limits``; counters are the engine's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = [
    "CUBIC_BETA",
    "CUBIC_C",
    "MAX_RATE",
    "VALVE_WINDOW",
    "Valve",
    "ValveBank",
    "recover_rate",
]

CUBIC_BETA: Final = 0.01
"""CUBIC multiplicative decrease: ``w_max = w_cong / (1 - beta)`` is the pre-cut rate."""

CUBIC_C: Final = 0.05
"""CUBIC scaling constant: how fast the ceiling grows back, in ops/s per s**3."""

VALVE_WINDOW: Final = timedelta(seconds=1)
"""Width of one sliding-window bucket; the estimate spans the current and previous bucket."""

MAX_RATE: Final = 2**63 - 1
"""Ceiling of ``recover_rate`` (Go's ``math.MaxInt``), so the rate stays a 64-bit gauge value."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_WINDOW_US: Final = VALVE_WINDOW // _MICROSECOND
# A new burst: a cut more than this long after the previous one re-anchors to the observed rate.
_BURST_GAP: Final = timedelta(seconds=1)


def recover_rate(w_cong: int, t_cong: datetime, now: datetime) -> int:
    """The CUBIC ceiling (ops/s) ``now``, for a cut to ``w_cong`` made at ``t_cong``.

    ``w(t) = C*(t - K)**3 + w_max`` with ``w_max = w_cong / (1 - beta)``,
    ``K = cbrt(w_max * beta / C)`` and ``t = max(0, now - t_cong)`` in seconds; concave up to
    ``K`` (where it reaches ``w_max``), convex after. The result is truncated to an int and lies in
    ``[max(1, w_cong), MAX_RATE]``; it is non-decreasing in ``now``.
    """
    elapsed = max(0.0, (now - t_cong).total_seconds())
    w_max = w_cong / (1 - CUBIC_BETA)
    k = math.cbrt(w_max * CUBIC_BETA / CUBIC_C)
    delta = elapsed - k
    # Plain products, not ``**``: a float power raises OverflowError where a product gives inf.
    w = CUBIC_C * delta * delta * delta + w_max
    if w >= MAX_RATE:
        return MAX_RATE
    return max(1, w_cong, int(w))


def _micros(now: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float on the way)."""
    return (now - _EPOCH) // _MICROSECOND


@dataclass
class _Window:
    """Two-bucket sliding-window counter over 1 s periods aligned to the epoch."""

    counts: list[int] = field(default_factory=lambda: [0, 0])
    last_period: int = 0

    def _roll(self, now: datetime) -> tuple[int, int]:
        """Advance to ``now``'s period; return its index and the microseconds left in it."""
        period, offset = divmod(_micros(now), _WINDOW_US)
        if period < self.last_period:
            period, offset = self.last_period, 0
        if period > self.last_period:
            self.counts[period % 2] = 0
            if period > self.last_period + 1:
                self.counts[(period + 1) % 2] = 0
            self.last_period = period
        return period, _WINDOW_US - offset

    def estimate(self, now: datetime) -> int:
        """Emissions in the sliding second ending at ``now``."""
        period, unelapsed = self._roll(now)
        previous = self.counts[(period + 1) % 2] * unelapsed // _WINDOW_US
        return self.counts[period % 2] + previous

    def add(self, now: datetime) -> None:
        """Count one emission at ``now``."""
        period, _ = self._roll(now)
        self.counts[period % 2] += 1


@dataclass
class Valve:
    """One task's valve: the gossiped cut point plus this replica's emission window.

    ``w_cong`` is 0 until the first cut (ungated); ``t_cong`` is ``None`` until then.
    """

    w_cong: int = 0
    t_cong: datetime | None = None
    _window: _Window = field(default_factory=_Window, repr=False)

    def limit(self, now: datetime) -> int | None:
        """The ceiling in ops/s at ``now``, or ``None`` when the valve has never been cut."""
        if self.w_cong <= 0:
            return None
        t_cong = self.t_cong if self.t_cong is not None else now
        return recover_rate(self.w_cong, t_cong, now)

    def estimate(self, now: datetime) -> int:
        """Emissions this replica counted in the sliding second ending at ``now``."""
        return self._window.estimate(now)

    def peek(self, now: datetime) -> bool:
        """Whether one more emission fits under the ceiling now (nothing is counted)."""
        limit = self.limit(now)
        if limit is None:
            return True
        return self._window.estimate(now) + 1 <= limit

    def commit(self, now: datetime) -> None:
        """Count one emission (a step placed in a refill batch)."""
        self._window.add(now)

    def regulate(self, now: datetime) -> tuple[int, datetime]:
        """Cut the ceiling after a backpressure error; return the new ``(w_cong, t_cong)``.

        A cut that starts a new burst (first cut, or more than 1 s after the last) first raises
        ``w_cong`` to the rate actually observed, so the curve re-anchors to what the downstream
        was accepting rather than to a stale or never-set point.
        """
        if self.t_cong is None or now - self.t_cong > _BURST_GAP:
            self.w_cong = max(self.w_cong, self._window.estimate(now))
        self.w_cong = max(self.w_cong - 1, 1)
        self.t_cong = now
        return self.w_cong, now

    def sync(self, w_cong: int, t_cong: datetime) -> bool:
        """Merge a peer's cut point; return whether it was adopted.

        Adopt iff the peer's cut is later, or equally late and lower: a last-writer-wins register
        ordered by ``(t_cong, -w_cong)``, hence commutative and idempotent across replicas.
        """
        if w_cong < 1:
            return False
        if (
            self.t_cong is None
            or t_cong > self.t_cong
            or (t_cong == self.t_cong and w_cong < self.w_cong)
        ):
            self.w_cong = w_cong
            self.t_cong = t_cong
            return True
        return False


class ValveBank:
    """This replica's valves, keyed by task node name and created lazily."""

    def __init__(self) -> None:
        """Start with no valves: every task is ungated until its first cut."""
        self._valves: dict[str, Valve] = {}

    def get(self, task: str) -> Valve | None:
        """The task's valve, or ``None`` if it has neither emitted nor been cut."""
        return self._valves.get(task)

    def _ensure(self, task: str) -> Valve:
        valve = self._valves.get(task)
        if valve is None:
            valve = self._valves[task] = Valve()
        return valve

    def peek(self, task: str, now: datetime) -> bool:
        """Refill filter: whether a step of ``task`` may be selected now (counts nothing)."""
        valve = self._valves.get(task)
        return valve is None or valve.peek(now)

    def commit(self, task: str, now: datetime) -> None:
        """Count one selected step of ``task``, creating its valve on first use."""
        self._ensure(task).commit(now)

    def regulate(self, task: str, now: datetime) -> tuple[int, datetime]:
        """Cut ``task``'s ceiling after a backpressure error; return the point to gossip."""
        return self._ensure(task).regulate(now)

    def sync(self, task: str, w_cong: int, t_cong: datetime) -> bool:
        """Merge a peer's cut point for ``task`` (``HandleSyncValve``); return whether adopted.

        An empty task name or a ``w_cong`` below 1 is ignored. ``t_cong`` must be timezone-aware.
        """
        if t_cong.tzinfo is None:
            raise ValueError(f"t_cong must be timezone-aware, got naive {t_cong.isoformat()}")
        if not task:
            return False
        return self._ensure(task).sync(w_cong, t_cong)

    def limits(self, now: datetime) -> dict[str, int]:
        """Current ceiling per task that has ever been cut (the ``task_rate_limit`` gauge)."""
        result: dict[str, int] = {}
        for task, valve in self._valves.items():
            limit = valve.limit(now)
            if limit is not None:
                result[task] = limit
        return result
