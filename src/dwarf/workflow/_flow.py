"""The ``Flow`` carrier: what a task reads, writes and signals during one step.

A carrier holds two dicts. ``state`` is the step's input (already merged with earlier attempts'
changes) plus the task's own writes; ``changes`` is the delta the engine persists, where a
delete is a JSON ``null`` (``None``). Applying ``changes`` to the input state with replace
semantics always yields ``snapshot()``; the property tests pin that invariant.

Constraints that shape the code:

* Values are converted to plain JSON once, at ``set`` time, with ``to_json_value``: a NUL
  character or a NaN is refused where the task wrote it, naming the field, instead of failing the
  database write much later. Python ints stay exact at any size (our JSON layer round-trips them),
  so unlike upstream no 2**53 guard is needed.
* The carrier never aliases its caller's dicts, in or out: inputs are copied on construction and
  every read that returns a container returns a copy, so a task cannot edit state behind the
  change tracker's back.

This module builds the carrier and answers its identity; the state accessors (strict typed getters
and setters, the change set) are in ``_flow_state`` and the control signals (retry, sleep, goto,
interrupt, subgraph) in ``_flow_control``, which ``Flow`` inherits from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from dwarf.workflow._flow_args import as_utc, utc_now
from dwarf.workflow._flow_control import FlowControl
from dwarf.workflow._flow_state import FlowState
from dwarf.workflow._json import copy_json, to_json_value

__all__ = ["Flow"]


class Flow(FlowState, FlowControl):
    """The carrier a task receives: state to read and write, identity, and control signals.

    Tasks receive a ready carrier from the engine. Constructing one yourself is useful to unit
    test a task; every argument is keyword-only and optional:

    * ``state`` - the step's input state, already merged with ``changes``;
    * ``changes`` - changes accumulated by earlier attempts of this step (deletes as None);
    * ``flow_key``, ``step_key``, ``attempt`` (0 on the first execution);
    * ``created_at``, ``updated_at`` - the flow's timestamps (naive values are taken as UTC;
      default: now);
    * ``step_created_at`` - when the step was first created, the origin of ``give_up_after``
      (default: now);
    * ``baggage`` - the flow's opaque baggage;
    * ``resume_data`` - not None when this step armed an interrupt and was resumed;
    * ``subgraph_outcome`` - ``(final_state, error)`` once the child of ``subgraph`` finished
      (``error`` empty when it completed);
    * ``now`` - the clock ``retry(give_up_after=...)`` reads (default: UTC now);
    * ``trusted_json`` - engine-facing: ``state`` and ``changes`` are fresh JSON dicts owned by
      the carrier from now on, adopted without the copy and check.

    Inputs are copied (unless trusted): the carrier never aliases the caller's dicts.
    """

    def __init__(
        self,
        *,
        state: Mapping[str, Any] | None = None,
        changes: Mapping[str, Any] | None = None,
        flow_key: str = "",
        step_key: str = "",
        attempt: int = 0,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
        baggage: Any = None,
        step_created_at: datetime | None = None,
        resume_data: Mapping[str, Any] | None = None,
        subgraph_outcome: tuple[Mapping[str, Any], str] | None = None,
        now: Callable[[], datetime] = utc_now,
        trusted_json: bool = False,
    ) -> None:
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
            raise ValueError(f"attempt must be a non-negative int, got {attempt!r}")
        self._now = now
        started = as_utc(now(), "now()")
        if trusted_json and isinstance(state, dict) and isinstance(changes, dict):
            # Engine-facing: dicts the engine just parsed from the database are valid JSON and
            # referenced by nothing else, so they are adopted without the (per-step, O(state))
            # copy and check.
            self._state: dict[str, Any] = state
            self._changes: dict[str, Any] = changes
        else:
            self._state = to_json_value(dict(state or {}), path="state")
            self._changes = to_json_value(dict(changes or {}), path="changes")
        self._flow_key = flow_key
        self._step_key = step_key
        self._attempt = attempt
        self._created_at = as_utc(created_at or started, "created_at")
        self._updated_at = as_utc(updated_at or started, "updated_at")
        self._step_created_at = as_utc(step_created_at or started, "step_created_at")
        self._baggage = copy_json(baggage)
        self._resume_data: dict[str, Any] | None = (
            None if resume_data is None else to_json_value(dict(resume_data), path="resume_data")
        )
        self._subgraph_outcome: tuple[dict[str, Any], str] | None = None
        if subgraph_outcome is not None:
            final_state, error = subgraph_outcome
            self._subgraph_outcome = (
                to_json_value(dict(final_state or {}), path="subgraph_outcome"),
                str(error or ""),
            )
        self._retry_delay: timedelta | None = None
        self._sleep: timedelta | None = None
        self._goto: str | None = None
        self._interrupt_payload: dict[str, Any] | None = None
        self._subgraph: tuple[str, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        # State stays out of the repr: it may hold secrets and end up in a log line.
        return (
            f"Flow(flow_key={self._flow_key!r}, step_key={self._step_key!r}, "
            f"attempt={self._attempt})"
        )

    # --- identity ---------------------------------------------------------------------------

    @property
    def flow_key(self) -> str:
        """The key of the flow this step belongs to."""
        return self._flow_key

    @property
    def step_key(self) -> str:
        """The step's key, stable across re-executions of the step: use it as an idempotency key."""
        return self._step_key

    @property
    def attempt(self) -> int:
        """0 on the first execution of the step, incremented by each retry."""
        return self._attempt

    @property
    def created_at(self) -> datetime:
        """When the flow was created (UTC)."""
        return self._created_at

    @property
    def updated_at(self) -> datetime:
        """When the flow's row last changed status (UTC)."""
        return self._updated_at

    @property
    def step_created_at(self) -> datetime:
        """When this step was first created (UTC), preserved across retries."""
        return self._step_created_at

    @property
    def baggage(self) -> Any:
        """The flow's opaque baggage (a copy), as set in ``FlowOptions.baggage``."""
        return copy_json(self._baggage)
