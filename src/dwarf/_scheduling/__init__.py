"""The pure scheduling core the engine's dispatch loop is built from.

Nothing here touches a database, a clock or a metrics API: rows, times and random sources are
passed in, and counts come back for the engine to emit. That keeps every rule of
docs/internals/dispatch.md testable with exact numbers.

* ``_planner``: one band's rows -> a fair, valve-gated batch (docs/internals/dispatch.md#d7).
* ``_refill``: the refiller's coalescing trigger (docs/internals/dispatch.md#d9).
* ``_valve``: per-task sliding-window counter under a CUBIC ceiling.
* ``_breaker``: per-key trip/probe/close schedule.
* ``_pacer``: a static rate ceiling (GCRA).
* ``_keys``: which key a step answers to, and the bounded per-key table.
* ``_protection``: admission by key through all of the above (docs/internals/protection.md).
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
from dwarf._scheduling._keys import MAX_KEYS, MAX_STEP_KEYS
from dwarf._scheduling._pacer import Pacer
from dwarf._scheduling._planner import Candidate, CandidateRow, Plan, pick_band, plan_batch
from dwarf._scheduling._protection import Protection, TaskControl
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
    "MAX_KEYS",
    "MAX_RATE",
    "MAX_STEP_KEYS",
    "VALVE_WINDOW",
    "Breaker",
    "BreakerBank",
    "Candidate",
    "CandidateRow",
    "Pacer",
    "Plan",
    "Protection",
    "RefillSignal",
    "TaskControl",
    "Valve",
    "ValveBank",
    "backoff",
    "pick_band",
    "plan_batch",
    "recover_rate",
]
