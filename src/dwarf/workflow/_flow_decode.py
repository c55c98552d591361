"""Decoding state into a type the task names, with pydantic: ``Flow.get`` and ``Flow.parse_state``.

Adapters are cached per type because a task reads the same types on every step. An absent field
reads as the type's zero value (``type_()``, None for an Optional, an empty concrete container for
an abstract collection type). Error messages name locations only,
never the offending input, which could be a secret.
"""

from __future__ import annotations

import collections.abc
import functools
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import TypeAdapter, ValidationError

from dwarf.workflow._json import copy_json

__all__ = ["decode_field", "decode_state"]

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


def decode_field(key: str, value: Any, type_: Any) -> Any:
    """State field ``key`` holding ``value`` decoded into ``type_`` (None reads as its zero).

    Raises ``ValueError`` naming the field when the value does not decode, or when it is absent
    and ``type_`` has no zero value.
    """
    if value is None:
        zero = _zero_value(type_)
        if zero is _NO_ZERO:
            raise ValueError(
                f"state field {key!r} is absent and {_type_label(type_)} has no zero value"
            )
        return zero
    try:
        return _adapter(type_).validate_python(copy_json(value))
    except ValidationError as exc:
        raise ValueError(
            f"state field {key!r} is not a valid {_type_label(type_)}: {_describe(exc)}"
        ) from None


def decode_state(state: Mapping[str, Any], type_: Any) -> Any:
    """The whole ``state`` decoded into ``type_``; null fields are skipped.

    Raises ``ValueError`` naming the offending fields when the state does not decode.
    """
    present = {k: copy_json(v) for k, v in state.items() if v is not None}
    try:
        return _adapter(type_).validate_python(present)
    except ValidationError as exc:
        raise ValueError(f"state is not a valid {_type_label(type_)}: {_describe(exc)}") from None


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
