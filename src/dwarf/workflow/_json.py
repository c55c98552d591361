"""JSON conversion shared by the carrier, the reducers and the engine.

State is JSON. Values written by a task may be pydantic models, dataclasses, tuples, enums,
datetimes or timedeltas; they are converted here, once, into plain JSON values so that what a
later step reads back is exactly what the database stores. Two things are refused up front
because a database would refuse them much later and far from the cause: NUL characters
(PostgreSQL's JSONB cannot store ``\\u0000``) and non-finite floats (not JSON at all). Nesting
is bounded too (``MAX_STATE_DEPTH``): MariaDB refuses a JSON document nested 32 levels deep, and
Python's own JSON codec and the reducers recurse, so a value nested thousands of levels deep
would otherwise be a ``RecursionError`` far from its cause (docs/internals/state.md#c9). So is
size (``MAX_STATE_BYTES``), checked on the JSON text as it is about to be stored, since only then
is a document complete (a merged state, a final state): docs/internals/state.md#c10.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

__all__ = [
    "MAX_STATE_BYTES",
    "MAX_STATE_DEPTH",
    "StateTooLargeError",
    "canonical",
    "copy_json",
    "copy_object",
    "dumps",
    "dumps_state",
    "loads",
    "to_json_value",
]

MAX_STATE_DEPTH = 24
"""Deepest nesting of objects and arrays a state may have, the state object itself being level 1.

MariaDB refuses JSON nested 32 levels deep; the 8 levels between leave room for what the
engine adds around a value (a reducer appending it to an array, an ``onErr`` payload).
"""


MAX_STATE_BYTES = 4_000_000
"""Largest JSON document (UTF-8 bytes of its compact text) stored as state, changes or payload.

MariaDB refuses a statement larger than ``max_allowed_packet`` (16 MiB by default), the driver
escapes the JSON text in the statement (at worst doubling it), and the largest writes carry two
documents (a step's changes and its flow's final state): 2 x 2 x 4,000,000 bytes stay under it.
"""


class StateTooLargeError(ValueError):
    """A JSON document the engine was about to store is larger than ``MAX_STATE_BYTES``."""


def to_json_value(value: Any, *, path: str = "value", depth: int = 1) -> Any:
    """Convert ``value`` to plain JSON values (dict, list, str, int, float, bool, None).

    ``path`` names the value in error messages (``state.items[3].name``); ``depth`` is the nesting
    level ``value`` sits at (1: it is the state object; 2: a value stored under a state key).
    Raises ``ValueError`` for a string holding NUL, a non-finite float or an object or array
    nested deeper than ``MAX_STATE_DEPTH``, ``TypeError`` for a value with no JSON form.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path}: a NUL character cannot be stored in state")
        return str(value)
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, path=path, depth=depth)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value!r} is not a JSON number")
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return to_json_value(value.model_dump(mode="json", by_alias=True), path=path, depth=depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json_value(dataclasses.asdict(value), path=path, depth=depth)
    if isinstance(value, Mapping | list | tuple) and depth > MAX_STATE_DEPTH:
        raise ValueError(
            f"{path}: nested deeper than {MAX_STATE_DEPTH} levels, the limit for state"
        )
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: object keys must be strings, got {type(key).__name__}")
            if "\x00" in key:
                raise ValueError(f"{path}: a NUL character cannot be stored in state")
            out[key] = to_json_value(item, path=f"{path}.{key}", depth=depth + 1)
        return out
    if isinstance(value, list | tuple):
        if all(map(_plain, value)):
            # An array of plain scalars (100,000 ids to fan out over) is already JSON: one
            # pass instead of a call and an element path per item.
            return list(value)
        return [
            to_json_value(item, path=f"{path}[{i}]", depth=depth + 1)
            for i, item in enumerate(value)
        ]
    raise TypeError(f"{path}: {type(value).__name__} has no JSON form")


def _plain(item: Any) -> bool:
    """Whether ``item`` is its own JSON value: an int, bool, null, storable str or finite float
    of the built-in types themselves (a subclass, an int enum say, converts)."""
    kind = type(item)
    if kind is int or kind is bool or item is None:
        return True
    if kind is str:
        return "\x00" not in item
    return kind is float and math.isfinite(item)


# One encoder of each kind, reused: ``json.dumps`` with options builds a new encoder per call,
# which costs about as much as encoding a small document, and every step encodes a few.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_CANONICAL = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
)


def dumps(value: Any) -> str:
    """Serialize plain JSON values compactly, keeping non-ASCII text as is."""
    return _COMPACT.encode(value)


def dumps_state(value: Any, what: str) -> str:
    """``dumps`` for a document about to be stored; ``StateTooLargeError`` naming ``what`` and the
    limit when its text is larger than ``MAX_STATE_BYTES``."""
    text = dumps(value)
    # A character is at most 4 bytes of UTF-8: short texts need no encoding to be measured.
    if len(text) * 4 > MAX_STATE_BYTES:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_STATE_BYTES:
            raise StateTooLargeError(
                f"{what} is {size:,} bytes of JSON, over the {MAX_STATE_BYTES:,}-byte "
                "limit for state (MAX_STATE_BYTES)"
            )
    return text


def canonical(value: Any) -> str:
    """Serialize with sorted keys: equal JSON values give equal text (for dedup and hashing)."""
    return _CANONICAL.encode(value)


def loads(text: str | bytes) -> Any:
    """Parse JSON text; integers of any size come back exact."""
    if text == "{}":
        # The commonest document by far (no baggage, no breakpoints, no changes yet), and a
        # new dict is what the decoder would return, without its cost.
        return {}
    return json.loads(text)


def copy_json(value: Any) -> Any:
    """Deep copy of a plain JSON value (cheaper than ``copy.deepcopy`` for this shape)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        if not any(isinstance(v, dict | list) for v in value):
            return list(value)  # scalars only (a wide forEach's array): a shallow copy is deep
        return [copy_json(v) for v in value]
    return value


def copy_object(value: dict[str, Any]) -> dict[str, Any]:
    """Deep copy of a plain JSON object."""
    return {k: copy_json(v) for k, v in value.items()}
