"""Reducers: how a state field's value from one step combines with the value already there.

The engine calls :func:`merge_state` whenever a delta lands on a state: a step's changes on its
input, every branch's changes at a fan-in (through :func:`fold_changes`, in branch input order) and
``continue_thread``'s additional state on the thread's final state. The table is in
docs/internals/state.md#c4.

Constraints that shape the code:

* State is plain JSON. The reducers check JSON kinds (``dict`` is an object, ``list`` an array,
  ``bool`` is never a number) and report a mismatch as ``TypeError`` with the JSON type names,
  ``"append reducer requires array, got string"``, because that is what a task author can fix.
* "Cleared" means missing or JSON null. For append/union/add/concat/merge a cleared operand is the
  reducer's identity (``[]``, ``0``, ``""``, ``{}``); for min/max/and/or it defers to the other
  operand, so a cleared slot never folds in as ``0`` or ``false``.
* ``add`` keeps ``int + int`` an exact ``int`` (Python ints are unbounded; the Go seed summed in
  float64 and lost precision past 2**53). A float operand gives a float; a sum that overflows to a
  non-finite float is a ``ValueError``, because such a value cannot be stored as JSON.
* Union dedups on canonical JSON text (sorted keys), so ``{"a":1,"b":2}`` and ``{"b":2,"a":1}``
  count as one element; elements already in the base are kept as they are, duplicates included.
* Nothing is mutated and nothing is shared: results are built from fresh containers all the way
  down, so a later in-place edit of a merged state cannot leak back into a step's stored input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

from dwarf.workflow._json import canonical

__all__ = ["Fold", "Reducer", "fold_changes", "merge_state", "strip_tombstones"]


class Reducer(StrEnum):
    """How a field's incoming value combines with the value already in the state."""

    REPLACE = "replace"
    APPEND = "append"
    ADD = "add"
    MIN = "min"
    MAX = "max"
    UNION = "union"
    MERGE = "merge"
    AND = "and"
    OR = "or"
    CONCAT = "concat"

    def reduce(self, existing: Any, incoming: Any) -> Any:
        """Combine ``incoming`` into ``existing`` and return the result as a new value.

        ``None`` (JSON null, or a missing field) is "cleared": docs/internals/state.md#c4 says what
        each reducer makes of it. Raises ``TypeError`` when an operand is not the JSON kind this
        reducer works on, ``ValueError`` when a sum is not a finite number.
        """
        return _REDUCE[self](self.value, existing, incoming)


def merge_state(
    state: Mapping[str, Any] | None,
    changes: Mapping[str, Any] | None,
    reducers: Mapping[str, Reducer | str] | None = None,
) -> dict[str, Any]:
    """Apply ``changes`` on top of ``state`` and return the merged state as a new dict.

    A key absent from ``state``, or whose reducer is unset or ``replace``, takes the change as is;
    a ``None`` change is kept as a tombstone (see :func:`strip_tombstones`). Any other key becomes
    ``reducer.reduce(state[k], changes[k])``. Neither input is modified, and the result shares no
    mutable container with them. An unknown reducer name raises ``ValueError``; a reducer failure
    re-raises its ``TypeError``/``ValueError`` with the field named.
    """
    resolved = _resolve_reducers(reducers)
    merged = {key: _copy(value) for key, value in (state or {}).items()}
    _apply(merged, changes or {}, resolved)
    return merged


def fold_changes(
    base: Mapping[str, Any] | None,
    deltas: Iterable[Mapping[str, Any] | None],
    reducers: Mapping[str, Reducer | str] | None = None,
) -> dict[str, Any]:
    """Merge every delta onto ``base`` in the order given (the fan-in merge).

    Equivalent to chaining :func:`merge_state`, but the accumulated state is copied once rather
    than once per delta. The engine passes branch deltas in input order (fan-out ordinal, then
    step id), never completion order, so the result does not depend on which branch finished first.
    """
    fold = Fold(base, reducers)
    fold.add(deltas)
    return fold.merged


class Fold:
    """:func:`fold_changes` fed a slice of deltas at a time, for a caller that reads them in
    pages (a fan-in of 100,000 branches) and lets other work run between pages.

    ``owned=True`` says ``base`` is a dict the caller hands over (freshly decoded, referenced
    nowhere else): it is folded into in place instead of deep-copied first. ``merged`` is the
    result so far, private to the fold (or to the caller that handed its base over).
    """

    __slots__ = ("_reducers", "_seen", "merged")

    def __init__(
        self,
        base: Mapping[str, Any] | None,
        reducers: Mapping[str, Reducer | str] | None = None,
        *,
        owned: bool = False,
    ) -> None:
        self._reducers = _resolve_reducers(reducers)
        if owned and isinstance(base, dict):
            self.merged: dict[str, Any] = base
        else:
            self.merged = {key: _copy(value) for key, value in (base or {}).items()}
        # A fan-in of N branches appending to one array must cost O(N), not O(N**2): append
        # and union grow the (private) accumulated list in place, union remembering what it
        # holds.
        self._seen: dict[str, set[str]] = {}

    def add(self, deltas: Iterable[Mapping[str, Any] | None]) -> None:
        """Merge ``deltas`` onto the result so far, in the order given."""
        merged, resolved, seen = self.merged, self._reducers, self._seen
        for delta in deltas:
            rest: dict[str, Any] = {}
            for key, incoming in (delta or {}).items():
                if not _accumulate(merged, key, incoming, resolved.get(key), seen):
                    rest[key] = incoming
            _apply(merged, rest, resolved)


def _accumulate(
    merged: dict[str, Any],
    key: str,
    incoming: Any,
    reducer: Reducer | None,
    seen: dict[str, set[str]],
) -> bool:
    """Fold ``incoming`` into ``merged[key]`` in place when that is exact; else return False.

    Only for append and union onto a list the fold already owns; every other case (and every
    error, which then carries the usual message) goes through the reducer.
    """
    existing = merged.get(key)
    if reducer not in (Reducer.APPEND, Reducer.UNION) or not isinstance(existing, list):
        return False
    if incoming is not None and not isinstance(incoming, list | tuple):
        return False
    items = [_copy(item) for item in incoming or ()]
    if reducer is Reducer.APPEND:
        existing.extend(items)
        return True
    known = seen.get(key)
    if known is None:
        known = seen[key] = {canonical(item) for item in existing}
    for item in items:
        text = canonical(item)
        if text not in known:
            known.add(text)
            existing.append(item)
    return True


def strip_tombstones(state: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``state`` without its top-level ``None`` values (deleted fields).

    Deletes travel through merges as JSON-null tombstones so that a later merge still sees the
    field as cleared; they are dropped only when a final state is materialized. Nested nulls are
    ordinary values and stay.
    """
    return {key: _copy(value) for key, value in state.items() if value is not None}


def _resolve_reducers(reducers: Mapping[str, Reducer | str] | None) -> dict[str, Reducer]:
    """Check every reducer name up front, so a typo fails even when no delta touches its field."""
    resolved: dict[str, Reducer] = {}
    for field, name in (reducers or {}).items():
        if isinstance(name, Reducer):
            resolved[field] = name
            continue
        if name == "":
            # An empty name is how an unset reducer looks once serialized; it means replace.
            resolved[field] = Reducer.REPLACE
            continue
        try:
            resolved[field] = Reducer(name)
        except ValueError:
            known = ", ".join(member.value for member in Reducer)
            raise ValueError(
                f"field {field!r}: unknown reducer {name!r} (expected one of: {known})"
            ) from None
    return resolved


def _apply(
    merged: dict[str, Any], changes: Mapping[str, Any], reducers: dict[str, Reducer]
) -> None:
    """Merge ``changes`` into ``merged`` in place (``merged`` is already a private copy)."""
    for key, incoming in changes.items():
        reducer = reducers.get(key, Reducer.REPLACE)
        if key not in merged or reducer is Reducer.REPLACE:
            merged[key] = _copy(incoming)
            continue
        try:
            merged[key] = reducer.reduce(merged[key], incoming)
        except TypeError as exc:
            raise TypeError(f"field {key!r}: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"field {key!r}: {exc}") from None


def _copy(value: Any) -> Any:
    """Deep-copy the JSON containers of ``value``; scalars are immutable and shared as is."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def _kind(value: Any) -> str:
    """Name the JSON type of ``value`` as an error message should show it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _mismatch(name: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{name} reducer requires {expected}, got {_kind(value)}")


def _array(name: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise _mismatch(name, "array", value)
    return [_copy(item) for item in value]


def _object(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _mismatch(name, "object", value)
    return {key: _copy(item) for key, item in value.items()}


def _number(name: str, value: Any) -> int | float:
    # bool is an int subclass in Python but a distinct type in JSON: true + 1 is a task bug.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _mismatch(name, "number", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} reducer requires a finite number, got {value!r}")
    return value


def _string(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _mismatch(name, "string", value)
    return value


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _mismatch(name, "bool", value)
    return value


def _replace(_name: str, _existing: Any, incoming: Any) -> Any:
    return _copy(incoming)


def _append(name: str, existing: Any, incoming: Any) -> Any:
    return _array(name, existing) + _array(name, incoming)


def _union(name: str, existing: Any, incoming: Any) -> Any:
    result = _array(name, existing)
    seen = {canonical(item) for item in result}
    for item in _array(name, incoming):
        text = canonical(item)
        if text not in seen:
            seen.add(text)
            result.append(item)
    return result


def _add(name: str, existing: Any, incoming: Any) -> Any:
    a = 0 if existing is None else _number(name, existing)
    b = 0 if incoming is None else _number(name, incoming)
    try:
        total = a + b
    except OverflowError:
        # An int too large for a float met a float operand.
        raise ValueError(f"{name} reducer overflowed: the sum is not a finite number") from None
    if isinstance(total, float) and not math.isfinite(total):
        raise ValueError(f"{name} reducer overflowed: the sum is not a finite number")
    return total


def _min(name: str, existing: Any, incoming: Any) -> Any:
    return _pick(name, existing, incoming, prefer_smaller=True)


def _max(name: str, existing: Any, incoming: Any) -> Any:
    return _pick(name, existing, incoming, prefer_smaller=False)


def _pick(name: str, existing: Any, incoming: Any, *, prefer_smaller: bool) -> Any:
    if existing is None:
        return None if incoming is None else _number(name, incoming)
    if incoming is None:
        return _number(name, existing)
    a, b = _number(name, existing), _number(name, incoming)
    # On a tie the existing value stays, so an int base is not swapped for an equal float.
    if prefer_smaller:
        return b if b < a else a
    return b if b > a else a


def _and(name: str, existing: Any, incoming: Any) -> Any:
    return _logic(name, existing, incoming, conjunction=True)


def _or(name: str, existing: Any, incoming: Any) -> Any:
    return _logic(name, existing, incoming, conjunction=False)


def _logic(name: str, existing: Any, incoming: Any, *, conjunction: bool) -> Any:
    if existing is None:
        return None if incoming is None else _boolean(name, incoming)
    if incoming is None:
        return _boolean(name, existing)
    a, b = _boolean(name, existing), _boolean(name, incoming)
    return (a and b) if conjunction else (a or b)


def _concat(name: str, existing: Any, incoming: Any) -> Any:
    return _string(name, existing) + _string(name, incoming)


def _merge(name: str, existing: Any, incoming: Any) -> Any:
    result = _object(name, existing)
    result.update(_object(name, incoming))
    return result


_REDUCE: dict[Reducer, Callable[[str, Any, Any], Any]] = {
    Reducer.REPLACE: _replace,
    Reducer.APPEND: _append,
    Reducer.ADD: _add,
    Reducer.MIN: _min,
    Reducer.MAX: _max,
    Reducer.UNION: _union,
    Reducer.MERGE: _merge,
    Reducer.AND: _and,
    Reducer.OR: _or,
    Reducer.CONCAT: _concat,
}
