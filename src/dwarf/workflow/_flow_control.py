"""A carrier's control signals: retry, sleep, goto, interrupt and subgraph.

Signals are recorded, never acted on: the engine reads them from ``signals`` after the task
returns (or raises ``Yield``) and decides. Only ``interrupt``/``subgraph`` raise, because the task
must stop there; a step may park at most once, so both guard against a second park.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dwarf.workflow._flow_args import as_duration, as_utc, is_number
from dwarf.workflow._json import copy_json, copy_object, to_json_value
from dwarf.workflow._signals import SubgraphFailedError, Yield

__all__ = ["FlowControl", "FlowSignals"]


@dataclass(frozen=True)
class FlowSignals:
    """The control signals a task armed during one dispatch (engine-facing).

    ``retry_delay`` is the computed backoff (already capped and truncated to milliseconds);
    ``subgraph`` is ``(workflow_name, input_state)``. A field is None when its signal was not armed.
    """

    retry_delay: timedelta | None = None
    sleep: timedelta | None = None
    goto: str | None = None
    interrupt_payload: dict[str, Any] | None = None
    subgraph: tuple[str, dict[str, Any]] | None = None


class FlowControl:
    """The control half of ``Flow``: the signals a task arms for the engine (see ``Flow``)."""

    _now: Callable[[], datetime]
    _attempt: int
    _step_created_at: datetime
    _resume_data: dict[str, Any] | None
    _subgraph_outcome: tuple[dict[str, Any], str] | None
    _retry_delay: timedelta | None
    _sleep: timedelta | None
    _goto: str | None
    _interrupt_payload: dict[str, Any] | None
    _subgraph: tuple[str, dict[str, Any]] | None

    def retry(
        self,
        max_attempts: int,
        initial_delay: timedelta | float,
        multiplier: float,
        max_delay: timedelta | float,
        *,
        give_up_after: timedelta | float | None = None,
    ) -> bool:
        """Ask for the step to run again after a backoff; False when retries are spent.

        ``max_attempts`` counts retries after the first run: ``attempt`` is 0 on the first run
        and ``retry`` arms another run while ``attempt < max_attempts``, so ``retry(3, ...)``
        allows four runs in all (the first plus three retries), as in the Go engine::

            async def charge(flow: Flow) -> None:
                try:
                    await gateway.charge(flow.get_string("order"))
                except GatewayTimeout:
                    if flow.retry(3, 1.0, 2.0, 30.0):  # runs 2-4 wait 1 s, 2 s, 4 s
                        return
                    raise  # the fourth run failed too: fail the step (or take onError)

        The delay before the next run is ``initial_delay * multiplier**attempt`` (no growth when
        ``multiplier <= 0``), capped at ``max_delay`` when that is positive, truncated to whole
        milliseconds. Returns False, arming nothing, when ``attempt >= max_attempts`` or, with a
        positive ``give_up_after``, when the next run would start at or past that horizon
        measured from the step's creation. On True return normally; on False raise your error.
        """
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool):
            raise TypeError(f"max_attempts must be an int, got {type(max_attempts).__name__}")
        if not is_number(multiplier) or not math.isfinite(multiplier):
            raise ValueError(f"multiplier must be a finite number, got {multiplier!r}")
        initial = as_duration(initial_delay, "initial_delay")
        cap = as_duration(max_delay, "max_delay")
        if initial < timedelta(0):
            raise ValueError(f"initial_delay must not be negative, got {initial}")
        horizon = None if give_up_after is None else as_duration(give_up_after, "give_up_after")
        self._retry_delay = None
        if self._attempt >= max_attempts:
            return False
        delay = self._backoff(initial, float(multiplier), cap)
        if horizon is not None and horizon > timedelta(0):
            elapsed = as_utc(self._now(), "now()") - self._step_created_at
            if elapsed + delay >= horizon:
                return False
        self._retry_delay = delay
        return True

    def _backoff(self, initial: timedelta, multiplier: float, cap: timedelta) -> timedelta:
        micros = float(initial // timedelta(microseconds=1))
        if multiplier > 0:
            try:
                micros *= multiplier**self._attempt
            except OverflowError:
                micros = math.inf
        if cap > timedelta(0):
            micros = min(micros, float(cap // timedelta(microseconds=1)))
        millis = math.floor(micros / 1000) if math.isfinite(micros) else math.inf
        if millis > timedelta.max // timedelta(milliseconds=1):
            raise ValueError("the retry delay overflows: bound it with max_delay")
        return timedelta(milliseconds=int(millis))

    def sleep(self, duration: timedelta | float) -> None:
        """Dispatch the next step no earlier than now + ``duration`` (negative: ignored).

        Combines with the other signals; the last call wins.
        """
        value = as_duration(duration, "duration")
        if value >= timedelta(0):
            self._sleep = value

    def goto(self, task_name: str) -> None:
        """Follow this node's goto transition to ``task_name`` instead of normal evaluation."""
        if not isinstance(task_name, str) or not task_name:
            raise ValueError(f"goto needs a task name, got {task_name!r}")
        self._goto = task_name

    def interrupt(self, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Park the flow awaiting ``Engine.resume``, or return the resume data once resumed.

        The first call arms the interrupt with ``payload`` (a JSON object, shown to whoever
        awaits the flow) and raises ``Yield``: let it propagate. After the resume the task runs
        again and this call returns the resume data (never merged into state).
        """
        if self._resume_data is not None:
            return copy_object(self._resume_data)
        if self._subgraph is not None or self._subgraph_outcome is not None:
            raise RuntimeError("cannot interrupt: this step already parked for a subgraph")
        if self._interrupt_payload is not None:
            raise RuntimeError("cannot interrupt: this step already armed an interrupt")
        if payload is not None and not isinstance(payload, Mapping):
            raise TypeError(
                f"the interrupt payload must be a JSON object, got {type(payload).__name__}"
            )
        self._interrupt_payload = to_json_value(dict(payload or {}), path="interrupt payload")
        raise Yield("interrupt")

    def subgraph(
        self, workflow_name: str, input: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run ``workflow_name`` as a child flow and return its final state.

        Like a function call, only ``input`` (None: empty) becomes the child's state and only
        the child's final state comes back; nothing is merged. The first call arms the subgraph
        and raises ``Yield``: let it propagate. When the child has finished the task runs again
        and this call returns the child's final state, or raises ``SubgraphFailedError`` if the
        child failed.
        """
        if self._subgraph_outcome is not None:
            final_state, error = self._subgraph_outcome
            if error:
                raise SubgraphFailedError(error, final_state=copy_json(final_state))
            return copy_object(final_state)
        if self._resume_data is not None or self._interrupt_payload is not None:
            raise RuntimeError("cannot start a subgraph: this step already parked for an interrupt")
        if self._subgraph is not None:
            raise RuntimeError("cannot start a subgraph: this step already armed a subgraph")
        if not isinstance(workflow_name, str) or not workflow_name:
            raise ValueError(f"subgraph needs a workflow name, got {workflow_name!r}")
        if input is not None and not isinstance(input, Mapping):
            raise TypeError(f"the subgraph input must be a JSON object, got {type(input).__name__}")
        self._subgraph = (workflow_name, to_json_value(dict(input or {}), path="subgraph input"))
        raise Yield("subgraph")

    # --- engine-facing ----------------------------------------------------------------------

    @property
    def signals(self) -> FlowSignals:
        """The control signals armed so far (engine-facing; copies)."""
        subgraph = None
        if self._subgraph is not None:
            subgraph = (self._subgraph[0], copy_json(self._subgraph[1]))
        return FlowSignals(
            retry_delay=self._retry_delay,
            sleep=self._sleep,
            goto=self._goto,
            interrupt_payload=copy_json(self._interrupt_payload),
            subgraph=subgraph,
        )

    def competing_signals(self) -> list[str]:
        """The armed signals among interrupt, retry, goto and subgraph when more than one is.

        Empty when at most one is armed; the engine fails a step that arms several.
        """
        armed = [
            name
            for name, on in (
                ("interrupt", self._interrupt_payload is not None),
                ("retry", self._retry_delay is not None),
                ("goto", self._goto is not None),
                ("subgraph", self._subgraph is not None),
            )
            if on
        ]
        return armed if len(armed) > 1 else []
