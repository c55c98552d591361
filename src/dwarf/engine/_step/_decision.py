"""What a finished step decided, and what committing it did (shared by both transition paths)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dwarf.engine._step._routing import Route
from dwarf.workflow import FlowOutcome

__all__ = ["Advance", "AdvanceResult"]


@dataclass(frozen=True, slots=True)
class Advance:
    """What the finished step decided."""

    changes: dict[str, Any]
    """The step's accumulated delta, stored on its row."""
    input_state: dict[str, Any]
    successor_state: dict[str, Any]
    """Input state overlaid by ``changes``: what successors start from."""
    route: Route
    sleep: timedelta | None
    goto: str


@dataclass(frozen=True, slots=True)
class AdvanceResult:
    """What the transaction did, for the after-commit signals.

    An empty result means nothing was written: the fenced completion matched no row (the lease
    was lost or the step cancelled), so there is nothing to signal.
    """

    failure: str = ""
    """Why the step cannot advance (the caller fails it instead); nothing was written."""
    inserted: tuple[int, ...] = ()
    stopped: FlowOutcome | None = None
    revived: int = 0
    """The surgraph caller step this flow's end made due again (0: none)."""
