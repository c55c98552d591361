"""A carrier's state: the typed getters and setters a task reads and writes fields with.

Two dicts are kept: ``_state``, the step's input plus the task's own writes, and ``_changes``, the
delta the engine persists, where a delete is a JSON ``null`` (``None``). Every write goes through
``_store``, which updates both, so applying ``changes`` to the input with replace semantics always
yields ``snapshot()``. Every read that returns a container returns a copy, so a task cannot edit
state behind the change tracker's back. Typed getters are
strict (a present value of the wrong type raises ``TypeError``) because a silently-zero read is how
a task ends up hammering a downstream with a 0-second retry.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar, overload

from dwarf.workflow._flow_args import as_duration, is_number
from dwarf.workflow._flow_decode import decode_field, decode_state
from dwarf.workflow._json import copy_json, copy_object, to_json_value

__all__ = ["FlowState"]

T = TypeVar("T")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class FlowState:
    """The state half of ``Flow``: reading, writing and the change set (see ``Flow``)."""

    _state: dict[str, Any]
    _changes: dict[str, Any]

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
        if not is_number(value):
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
        if not is_number(value):
            raise self._wrong_type(key, "a duration in seconds", value)
        return as_duration(value, f"state field {key!r}")

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
        return decode_field(key, self._present(key), type_)

    def has(self, key: str) -> bool:
        """Whether the field holds a value (a null field reads as absent)."""
        return self._present(key) is not None

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the current state: the input plus this task's writes."""
        return copy_object(self._state)

    @overload
    def parse_state(self, type_: type[T]) -> T: ...
    @overload
    def parse_state(self, type_: Any) -> Any: ...
    def parse_state(self, type_: Any) -> Any:
        """The whole state decoded into ``type_`` with pydantic; null fields are skipped.

        Raises ``ValueError`` naming the offending fields when the state does not decode.
        """
        return decode_state(self._state, type_)

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
        self._store(key, to_json_value(value, path=key, depth=2))

    def _set_typed(self, key: str, value: Any, ok: bool, want: str) -> None:
        self._check_key(key)
        if not ok:
            raise TypeError(f"state field {key!r}: expected {want}, got {type(value).__name__}")
        self._store(key, to_json_value(value, path=key, depth=2))

    def set_string(self, key: str, value: str) -> None:
        """Set the field to a str."""
        self._set_typed(key, value, isinstance(value, str), "str")

    def set_int(self, key: str, value: int) -> None:
        """Set the field to an int (exact at any size; a bool is refused)."""
        ok = isinstance(value, int) and not isinstance(value, bool)
        self._set_typed(key, value, ok, "int")

    def set_float(self, key: str, value: float) -> None:
        """Set the field to a finite float (an int is stored as a float)."""
        ok = is_number(value)
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
        seconds = as_duration(value, f"state field {key!r}").total_seconds()
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
        self._store(key, to_json_value(items, path=key, depth=2))

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
                self._store(new_key, copy_json(value))

    @property
    def changes(self) -> dict[str, Any]:
        """A copy of the delta this step will persist: earlier attempts' plus this task's writes.

        A deleted field maps to None.
        """
        return copy_object(self._changes)
