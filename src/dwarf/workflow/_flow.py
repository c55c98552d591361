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
* Typed getters are strict (a present value of the wrong type raises ``TypeError``) because a
  silently-zero read is how a task ends up hammering a downstream with a 0-second retry.
* Control signals are recorded, never acted on: the engine reads them from ``signals`` after the
  task returns (or raises ``Yield``) and decides. Only ``interrupt``/``subgraph`` raise, because
  the task must stop there; a step may park at most once, so both guard against a second park.
"""

from __future__ import annotations

import collections.abc
import functools
import math
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, overload

from pydantic import TypeAdapter, ValidationError

from dwarf.workflow._json import to_json_value
from dwarf.workflow._signals import SubgraphFailedError, Yield

__all__ = ["Flow", "FlowSignals"]

T = TypeVar("T")

_NO_ZERO = object()

# Abstract collection types have no constructor; a reader asking for one gets the plain concrete
# container as the zero value of an absent field.
_ABSTRACT_ZEROS: dict[Any, Callable[[], Any]] = {
    collections.abc.Iterable: list,
    collections.abc.Collection: list,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
    collections.abc.Mapping: dict,
    collections.abc.MutableMapping: dict,
    collections.abc.Set: set,
    collections.abc.MutableSet: set,
}


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


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    # The database clock is UTC everywhere, so a naive timestamp read back from a driver is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _copy_json(value: Any) -> Any:
    """Deep copy of a plain JSON value (cheaper than ``copy.deepcopy`` for this shape)."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


def _copy_object(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy_json(v) for k, v in value.items()}


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _duration(value: timedelta | float, name: str) -> timedelta:
    """A duration argument: a ``timedelta`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if not _is_number(value):
        raise TypeError(f"{name} must be a timedelta or seconds, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"{name} is too large for a duration: {value!r}") from None


@functools.lru_cache(maxsize=512)
def _cached_adapter(type_: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_)


def _adapter(type_: Any) -> TypeAdapter[Any]:
    try:
        return _cached_adapter(type_)
    except TypeError:  # an unhashable type form (e.g. Annotated with a list): build it uncached
        return TypeAdapter(type_)


def _describe(error: ValidationError) -> str:
    # Locations and messages only: the offending input could be a secret.
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in item["loc"])
        parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
    return "; ".join(parts)


def _type_label(type_: Any) -> str:
    return type_.__name__ if isinstance(type_, type) else repr(type_)


def _zero_value(type_: Any) -> Any:
    """The zero value a reader gets for an absent field of ``type_``, or ``_NO_ZERO``."""
    if type_ is Any or type_ is None or type_ is type(None):
        return None
    origin = get_origin(type_)
    if origin is Annotated:
        return _zero_value(get_args(type_)[0])
    if origin is Union or origin is types.UnionType:
        return None if type(None) in get_args(type_) else _NO_ZERO
    target = origin if origin is not None else type_
    if target in _ABSTRACT_ZEROS:
        return _ABSTRACT_ZEROS[target]()
    if not isinstance(target, type):
        return _NO_ZERO
    try:
        return target()
    except Exception:
        return _NO_ZERO


class Flow:
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
        now: Callable[[], datetime] = _utc_now,
        trusted_json: bool = False,
    ) -> None:
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
            raise ValueError(f"attempt must be a non-negative int, got {attempt!r}")
        self._now = now
        started = _as_utc(now(), "now()")
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
        self._created_at = _as_utc(created_at or started, "created_at")
        self._updated_at = _as_utc(updated_at or started, "updated_at")
        self._step_created_at = _as_utc(step_created_at or started, "step_created_at")
        self._baggage = _copy_json(baggage)
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
        return _copy_json(self._baggage)

    # --- reading ----------------------------------------------------------------------------

    def _present(self, key: str) -> Any:
        """The stored value, or None when the field is absent or null."""
        return self._state.get(key)

    def _wrong_type(self, key: str, want: str, value: Any) -> TypeError:
        return TypeError(f"state field {key!r}: expected {want}, got {_kind(value)}")

    def get_string(self, key: str) -> str:
        """The field as a str; "" when absent or null."""
        value = self._present(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self._wrong_type(key, "str", value)
        return value

    def get_int(self, key: str) -> int:
        """The field as an int (exact at any size); 0 when absent or null.

        A float with no fractional part is accepted (``60.0`` reads as ``60``); any other float,
        and a bool, raise ``TypeError``.
        """
        value = self._present(key)
        if value is None:
            return 0
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise self._wrong_type(key, "int", value)

    def get_float(self, key: str) -> float:
        """The field as a float (an int is accepted); 0.0 when absent or null."""
        value = self._present(key)
        if value is None:
            return 0.0
        if not _is_number(value):
            raise self._wrong_type(key, "float", value)
        try:
            return float(value)
        except OverflowError:
            raise TypeError(f"state field {key!r}: the int is too large for a float") from None

    def get_bool(self, key: str) -> bool:
        """The field as a bool; False when absent or null."""
        value = self._present(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self._wrong_type(key, "bool", value)
        return value

    def get_duration(self, key: str) -> timedelta:
        """The field, a number of seconds, as a timedelta; zero when absent or null."""
        value = self._present(key)
        if value is None:
            return timedelta(0)
        if not _is_number(value):
            raise self._wrong_type(key, "a duration in seconds", value)
        return _duration(value, f"state field {key!r}")

    def get_strings(self, key: str) -> list[str]:
        """The field, an array of strings, as a new list; [] when absent or null."""
        value = self._present(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong_type(key, "a list of str", value)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise TypeError(f"state field {key!r}[{index}]: expected str, got {_kind(item)}")
        return list(value)

    @overload
    def get(self, key: str, type_: type[T]) -> T: ...
    @overload
    def get(self, key: str, type_: Any) -> Any: ...
    def get(self, key: str, type_: Any) -> Any:
        """The field decoded into ``type_`` with pydantic (models, dataclasses, generics...).

        An absent or null field reads as ``type_``'s zero value: ``type_()`` for a class that
        needs no arguments, None for an Optional. Raises ``ValueError`` naming the field when the
        value does not decode, or when it is absent and ``type_`` has no zero value.
        """
        value = self._present(key)
        if value is None:
            zero = _zero_value(type_)
            if zero is _NO_ZERO:
                raise ValueError(
                    f"state field {key!r} is absent and {_type_label(type_)} has no zero value"
                )
            return zero
        try:
            return _adapter(type_).validate_python(_copy_json(value))
        except ValidationError as exc:
            raise ValueError(
                f"state field {key!r} is not a valid {_type_label(type_)}: {_describe(exc)}"
            ) from None

    def has(self, key: str) -> bool:
        """Whether the field holds a value (a null field reads as absent)."""
        return self._present(key) is not None

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the current state: the input plus this task's writes."""
        return _copy_object(self._state)

    @overload
    def parse_state(self, type_: type[T]) -> T: ...
    @overload
    def parse_state(self, type_: Any) -> Any: ...
    def parse_state(self, type_: Any) -> Any:
        """The whole state decoded into ``type_`` with pydantic; null fields are skipped.

        Raises ``ValueError`` naming the offending fields when the state does not decode.
        """
        present = {k: _copy_json(v) for k, v in self._state.items() if v is not None}
        try:
            return _adapter(type_).validate_python(present)
        except ValidationError as exc:
            raise ValueError(
                f"state is not a valid {_type_label(type_)}: {_describe(exc)}"
            ) from None

    # --- writing ----------------------------------------------------------------------------

    def _store(self, key: str, value: Any) -> None:
        """Record an already-converted JSON value; None is a delete."""
        if value is None:
            self._state.pop(key, None)
        else:
            self._state[key] = value
        self._changes[key] = value

    def _check_key(self, key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(f"a state key must be a str, got {type(key).__name__}")
        if "\x00" in key:
            raise ValueError(f"state key {key!r}: a NUL character cannot be stored in state")
        return key

    def set(self, key: str, value: Any) -> None:
        """Set the field to any JSON-able value (pydantic models and dataclasses included).

        The value is converted to JSON now, so a NUL character or a NaN raises ``ValueError``
        naming the field here rather than at the database. Setting None deletes the field.
        """
        self._check_key(key)
        self._store(key, to_json_value(value, path=key))

    def _set_typed(self, key: str, value: Any, ok: bool, want: str) -> None:
        self._check_key(key)
        if not ok:
            raise TypeError(f"state field {key!r}: expected {want}, got {type(value).__name__}")
        self._store(key, to_json_value(value, path=key))

    def set_string(self, key: str, value: str) -> None:
        """Set the field to a str."""
        self._set_typed(key, value, isinstance(value, str), "str")

    def set_int(self, key: str, value: int) -> None:
        """Set the field to an int (exact at any size; a bool is refused)."""
        ok = isinstance(value, int) and not isinstance(value, bool)
        self._set_typed(key, value, ok, "int")

    def set_float(self, key: str, value: float) -> None:
        """Set the field to a finite float (an int is stored as a float)."""
        ok = _is_number(value)
        if ok:
            try:
                value = float(value)
            except OverflowError:
                raise ValueError(f"state field {key!r}: the int is too large for a float") from None
        self._set_typed(key, value, ok, "float")

    def set_bool(self, key: str, value: bool) -> None:
        """Set the field to a bool."""
        self._set_typed(key, value, isinstance(value, bool), "bool")

    def set_duration(self, key: str, value: timedelta | float) -> None:
        """Set the field to a duration, stored as a float number of seconds."""
        self._check_key(key)
        seconds = _duration(value, f"state field {key!r}").total_seconds()
        self._store(key, seconds)

    def set_strings(self, key: str, value: Iterable[str]) -> None:
        """Set the field to a list of str."""
        self._check_key(key)
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise TypeError(f"state field {key!r}: expected a list of str, got {_kind(value)}")
        items = list(value)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise TypeError(
                    f"state field {key!r}[{index}]: expected str, got {type(item).__name__}"
                )
        self._store(key, to_json_value(items, path=key))

    def delete(self, *keys: str) -> None:
        """Remove the fields; each is recorded as a delete (None) in ``changes``."""
        for key in keys:
            self._store(self._check_key(key), None)

    def clear(self) -> None:
        """Remove every field, recording a delete for each."""
        for key in list(self._state):
            self._store(key, None)

    def transform(self, *pairs: str) -> None:
        """Keep only the named fields, under new names: ``transform(new1, old1, new2, old2, ...)``.

        Clears the state, then sets each ``new`` to the value ``old`` held before the clear. An
        absent or null ``old`` is skipped (``new`` is not introduced). Typical use: reshape state
        into a subgraph's expected input.
        """
        if len(pairs) % 2:
            raise ValueError(
                f"transform takes (new_key, old_key) pairs, got {len(pairs)} arguments"
            )
        for key in pairs:
            self._check_key(key)
        captured = [(pairs[i], self._state.get(pairs[i + 1])) for i in range(0, len(pairs), 2)]
        self.clear()
        for new_key, value in captured:
            if value is not None:
                # Two pairs may capture the same value: never share one object between fields.
                self._store(new_key, _copy_json(value))

    @property
    def changes(self) -> dict[str, Any]:
        """A copy of the delta this step will persist: earlier attempts' plus this task's writes.

        A deleted field maps to None.
        """
        return _copy_object(self._changes)

    # --- control signals --------------------------------------------------------------------

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

        The delay before the next run is ``initial_delay * multiplier**attempt`` (no growth when
        ``multiplier <= 0``), capped at ``max_delay`` when that is positive, truncated to whole
        milliseconds. Returns False, arming nothing, when ``attempt >= max_attempts`` or, with a
        positive ``give_up_after``, when the next run would start at or past that horizon
        measured from the step's creation. On True return normally; on False raise your error.
        """
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool):
            raise TypeError(f"max_attempts must be an int, got {type(max_attempts).__name__}")
        if not _is_number(multiplier) or not math.isfinite(multiplier):
            raise ValueError(f"multiplier must be a finite number, got {multiplier!r}")
        initial = _duration(initial_delay, "initial_delay")
        cap = _duration(max_delay, "max_delay")
        if initial < timedelta(0):
            raise ValueError(f"initial_delay must not be negative, got {initial}")
        horizon = None if give_up_after is None else _duration(give_up_after, "give_up_after")
        self._retry_delay = None
        if self._attempt >= max_attempts:
            return False
        delay = self._backoff(initial, float(multiplier), cap)
        if horizon is not None and horizon > timedelta(0):
            elapsed = _as_utc(self._now(), "now()") - self._step_created_at
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
        value = _duration(duration, "duration")
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
            return _copy_object(self._resume_data)
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
                raise SubgraphFailedError(error, final_state=_copy_json(final_state))
            return _copy_object(final_state)
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
            subgraph = (self._subgraph[0], _copy_json(self._subgraph[1]))
        return FlowSignals(
            retry_delay=self._retry_delay,
            sleep=self._sleep,
            goto=self._goto,
            interrupt_payload=_copy_json(self._interrupt_payload),
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
