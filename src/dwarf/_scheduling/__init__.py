"""The pure scheduling core the engine's dispatch loop is built from.

Nothing here touches a database, a clock or a metrics API: rows, times and random sources are
passed in, and counts come back for the engine to emit. That keeps every rule of
docs/internals/dispatch.md testable with exact numbers.

* ``_planner``: one band's rows -> a fair, valve-gated batch (docs/internals/dispatch.md#d7).
* ``_refill``: the refiller's coalescing trigger (docs/internals/dispatch.md#d9).
* ``_valve``: per-task sliding-window counter under a CUBIC ceiling.
* ``_breaker``: per-task trip/probe/close schedule.

The valve and the breaker are not wired into the engine yet:
docs/internals/dispatch.md#valve-and-breaker.
"""

from dwarf._scheduling._breaker import (
    BREAKER_INITIAL_PROBE_DELAY,
    BREAKER_MAX_PROBE_DELAY,
    CAUSE_ACK_TIMEOUT,
    CAUSE_OVERLOADED,
    CAUSE_UNAVAILABLE,
    Breaker,
    BreakerBank,
    backoff,
)
from dwarf._scheduling._planner import Candidate, CandidateRow, Plan, pick_band, plan_batch
from dwarf._scheduling._refill import RefillSignal
from dwarf._scheduling._valve import (
    CUBIC_BETA,
    CUBIC_C,
    MAX_RATE,
    VALVE_WINDOW,
    Valve,
    ValveBank,
    recover_rate,
)

__all__ = [
    "BREAKER_INITIAL_PROBE_DELAY",
    "BREAKER_MAX_PROBE_DELAY",
    "CAUSE_ACK_TIMEOUT",
    "CAUSE_OVERLOADED",
    "CAUSE_UNAVAILABLE",
    "CUBIC_BETA",
    "CUBIC_C",
    "MAX_RATE",
    "VALVE_WINDOW",
    "Breaker",
    "BreakerBank",
    "Candidate",
    "CandidateRow",
    "Plan",
    "RefillSignal",
    "Valve",
    "ValveBank",
    "backoff",
    "pick_band",
    "plan_batch",
    "recover_rate",
]
