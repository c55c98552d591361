"""The per-task circuit breaker: trip on the first failure, then probe on a doubling schedule.

A host marks a task's transport error as a *breaker trip* (e.g. an ack timeout or a 503). The
engine trips that task's breaker, parks its pending steps in the database and leaves one probe per
shard due at ``next_probe_at``; the first successful execution closes the breaker.
This module is the in-memory half: which tasks are tripped and when the next probe is due. The SQL
(bulk park/unpark) and the metrics are the engine's (docs/internals/dispatch.md#valve-and-breaker).

Breakers are kept per protection key (a task's name unless its error named another key) and, in
the engine, one bank per shard (``dwarf._scheduling._protection``).

Constraints that shape the code:

* Time is injected as timezone-aware UTC ``datetime`` (as in the valve), so tests are exact.
* Only a *due* dispatch advances the schedule (``commit``): stragglers admitted before the trip
  would otherwise each bump ``probe_attempt`` and ramp the backoff straight to its cap.
* A trip of a tripped breaker changes nothing (no threshold, no re-arm): the schedule belongs to
  the first trip, so a burst of failures cannot push the next probe further out.
* ``reconstitute`` trips with a fresh schedule and cause ``ack_timeout``; whether to gossip or
  write SQL is the engine's call (at startup it must do neither).
* Single-threaded (asyncio): no locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

__all__ = [
    "BREAKER_INITIAL_PROBE_DELAY",
    "BREAKER_MAX_PROBE_DELAY",
    "CAUSE_ACK_TIMEOUT",
    "CAUSE_OVERLOADED",
    "CAUSE_UNAVAILABLE",
    "Breaker",
    "BreakerBank",
    "backoff",
]

BREAKER_INITIAL_PROBE_DELAY: Final = timedelta(milliseconds=100)
"""Delay from a trip to the first probe; also the floor of the engine's probe timer."""

BREAKER_MAX_PROBE_DELAY: Final = timedelta(minutes=1)
"""Cap of the doubling probe backoff."""

CAUSE_ACK_TIMEOUT: Final = "ack_timeout"
"""Cause label: the task's endpoint did not acknowledge (also the cause of a reconstituted trip)."""

CAUSE_UNAVAILABLE: Final = "unavailable"
"""Cause label: the endpoint reported itself unavailable (e.g. 503)."""

CAUSE_OVERLOADED: Final = "overloaded"
"""Cause label: the endpoint reported overload (e.g. 529)."""

_INITIAL_MS: Final = BREAKER_INITIAL_PROBE_DELAY // timedelta(milliseconds=1)
_MAX_MS: Final = BREAKER_MAX_PROBE_DELAY // timedelta(milliseconds=1)


def backoff(n: int) -> timedelta:
    """Wait before the probe after the ``n``-th one: ``min(100 ms * 2**(n-1), 60 s)``, ``n >= 1``.

    ``n < 1`` reads as 1. Computed in integer milliseconds, so large ``n`` cannot overflow.
    """
    n = max(1, n)
    if n > _MAX_MS.bit_length() + 1:
        return BREAKER_MAX_PROBE_DELAY
    return timedelta(milliseconds=min(_INITIAL_MS << (n - 1), _MAX_MS))


@dataclass
class Breaker:
    """One task's breaker. ``tripped_at is None`` means closed (admitting)."""

    tripped_at: datetime | None = None
    probe_attempt: int = 0
    next_probe_at: datetime | None = None
    cause: str = ""

    @property
    def tripped(self) -> bool:
        """Whether the breaker is open (the task's steps are parked)."""
        return self.tripped_at is not None


class BreakerBank:
    """This replica's breakers, keyed by task node name."""

    def __init__(self) -> None:
        """Start with every breaker closed."""
        self._breakers: dict[str, Breaker] = {}

    def trip(self, task: str, now: datetime, cause: str = CAUSE_ACK_TIMEOUT) -> bool:
        """Trip ``task``'s breaker; return ``True`` only for a fresh trip (closed -> open).

        A fresh trip schedules the first probe ``BREAKER_INITIAL_PROBE_DELAY`` after ``now``; a
        repeat trip leaves the schedule and the cause as the first trip set them.
        """
        breaker = self._breakers.get(task)
        if breaker is None:
            breaker = self._breakers[task] = Breaker()
        if breaker.tripped:
            return False
        breaker.tripped_at = now
        breaker.probe_attempt = 0
        breaker.next_probe_at = now + backoff(1)
        breaker.cause = cause
        return True

    def commit(self, task: str, now: datetime) -> bool:
        """Record that a step of ``task`` is about to execute; return whether it is a probe.

        Only a dispatch at or after the scheduled probe time counts: it bumps ``probe_attempt``
        and schedules the next probe ``backoff(probe_attempt)`` later. Closed breakers and early
        stragglers change nothing.
        """
        breaker = self._breakers.get(task)
        if breaker is None or breaker.next_probe_at is None or now < breaker.next_probe_at:
            return False
        breaker.probe_attempt += 1
        breaker.next_probe_at = now + backoff(breaker.probe_attempt)
        return True

    def close(self, task: str) -> bool:
        """Close ``task``'s breaker after a success; return whether it was tripped."""
        breaker = self._breakers.get(task)
        if breaker is None or not breaker.tripped:
            return False
        breaker.tripped_at = None
        breaker.probe_attempt = 0
        breaker.next_probe_at = None
        breaker.cause = ""
        return True

    def forget(self, task: str) -> None:
        """Drop ``task``'s entry if its breaker is closed (an open one is kept).

        A closed entry holds nothing a later trip needs; a caller whose keys are bounded drops
        it so that keys it no longer holds leave nothing behind here.
        """
        breaker = self._breakers.get(task)
        if breaker is not None and not breaker.tripped:
            del self._breakers[task]

    def expedite(self, task: str, now: datetime) -> bool:
        """Bring ``task``'s next probe forward to ``now`` (the target answered elsewhere).

        Returns whether the schedule moved; a closed breaker or a probe already due is left alone.
        """
        breaker = self._breakers.get(task)
        if breaker is None or breaker.next_probe_at is None or breaker.next_probe_at <= now:
            return False
        breaker.next_probe_at = now
        return True

    def tripped(self, task: str) -> bool:
        """Whether ``task``'s breaker is open (``Engine.breaker_tripped``)."""
        breaker = self._breakers.get(task)
        return breaker is not None and breaker.tripped

    def holds(self, task: str, now: datetime) -> bool:
        """Whether ``task``'s breaker keeps its steps back at ``now``: open, its probe not due."""
        breaker = self._breakers.get(task)
        if breaker is None or not breaker.tripped:
            return False
        return breaker.next_probe_at is None or now < breaker.next_probe_at

    def cause(self, task: str) -> str | None:
        """Why ``task``'s breaker opened, ``None`` if it never tripped (no copy: the hot path)."""
        breaker = self._breakers.get(task)
        return None if breaker is None else breaker.cause

    def get(self, task: str) -> Breaker | None:
        """A copy of ``task``'s breaker state, or ``None`` if it never tripped."""
        breaker = self._breakers.get(task)
        return None if breaker is None else replace(breaker)

    def probe_at(self, task: str) -> datetime | None:
        """When ``task``'s next probe is due (``None`` when closed): the bulk park's delay."""
        breaker = self._breakers.get(task)
        return None if breaker is None else breaker.next_probe_at

    def next_probe_at(self) -> datetime | None:
        """The soonest probe due over all tripped breakers, or ``None`` when none is tripped."""
        due = [b.next_probe_at for b in self._breakers.values() if b.next_probe_at is not None]
        return min(due, default=None)

    def tripped_tasks(self) -> list[str]:
        """Names of the tasks whose breaker is open, sorted (for parking new steps)."""
        return sorted(task for task, b in self._breakers.items() if b.tripped)

    def states(self) -> dict[str, bool]:
        """Open (``True``) or closed per task ever tripped (the ``task_breaker_state`` gauge)."""
        return {task: b.tripped for task, b in self._breakers.items()}

    def reconstitute(self, tasks: Iterable[str], now: datetime) -> list[str]:
        """Re-arm breakers at startup for tasks with breaker-parked steps; return those tripped.

        Each trip is local and fresh (first probe 100 ms after ``now``, cause ``ack_timeout``);
        tasks already tripped here keep their schedule. Empty names are ignored.
        """
        return [task for task in tasks if task and self.trip(task, now, CAUSE_ACK_TIMEOUT)]
