"""What every operation does with a caller's input first: validate it, and find its flow.

Bad input is a 400 naming what was wrong; a key naming no flow is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from dwarf._storage import FlowRow, Store, Tx
from dwarf.engine._runtime._config import as_timedelta
from dwarf.engine._runtime._keys import Key, format_key, key_not_found
from dwarf.errors import BadRequestError, DwarfError
from dwarf.workflow import FlowOptions
from dwarf.workflow._json import StateTooLargeError, dumps_state, to_json_value

__all__ = [
    "MAX_TEXT",
    "MAX_TIME_BUDGET",
    "flow_options",
    "get_flow",
    "json_object",
    "json_value",
    "name",
    "stored",
    "timeout_seconds",
]


MAX_TIME_BUDGET = timedelta(days=24)
"""Budgets are stored as INT milliseconds; this keeps them (and leases) in range everywhere."""


MAX_TEXT = 16_384
"""Longest cancel reason accepted (errors are cut to this length before they are stored)."""


def flow_options(options: FlowOptions | None) -> FlowOptions:
    """The caller's options (None = defaults); anything but a ``FlowOptions`` is a 400."""
    if options is None:
        return FlowOptions()
    if not isinstance(options, FlowOptions):
        raise BadRequestError(f"options must be a FlowOptions, got {type(options).__name__}")
    return options


def name(value: Any, what: str) -> str:
    """A caller's workflow or task name: non-empty text without NUL (400 naming ``what``)."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{what} must not be empty")
    if "\x00" in value:
        raise BadRequestError(f"{what} must not contain a NUL character")
    return value


def json_value(value: Any, what: str) -> Any:
    """Convert a caller's JSON value; a value with no JSON form is a 400 naming ``what``."""
    try:
        return to_json_value(value, path=what)
    except (TypeError, ValueError) as exc:
        raise BadRequestError(str(exc)) from None


def json_object(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """Validate and convert a caller's JSON object (None = empty); a bad value is a 400."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequestError(f"{what} must be an object, got {type(value).__name__}")
    try:
        converted: dict[str, Any] = to_json_value(value, path=what)
    except (TypeError, ValueError) as exc:
        raise BadRequestError(str(exc)) from None
    return converted


def stored(value: Any, what: str) -> str:
    """The JSON text of a caller's document (or of a state built from it), to store.

    Larger than ``MAX_STATE_BYTES`` is a 400 naming ``what`` and the limit
    (docs/internals/state.md#c10).
    """
    try:
        return dumps_state(value, what)
    except StateTooLargeError as exc:
        raise BadRequestError(str(exc)) from None


async def get_flow(shard: Store, key: Key, db: Tx | None = None) -> FlowRow:
    """The flow row for ``key`` (id AND token must match), else the error ``not_found`` gives."""

    async def read(db: Tx) -> FlowRow:
        row: FlowRow | None = await db.get_flow(flow_id=key.id, flow_token=key.token)
        if row is None:
            raise await not_found(db, key)
        return row

    return await (read(db) if db is not None else shard.read(read))


async def not_found(db: Tx, key: Key) -> DwarfError:
    """The error for a well-formed ``key`` naming no row of its kind: a 400 saying so when it is
    a key of the other kind (flow and step keys look alike), else a 404 echoing the key."""
    if key.kind == "step":
        if await db.get_flow(flow_id=key.id, flow_token=key.token) is not None:
            return BadRequestError(
                f"{key.argument} {str(key)!r} is a flow key, not a step key; "
                "history(flow_key) lists the step keys of that flow"
            )
        return key_not_found(key)
    step = await db.get_step(step_id=key.id, step_token=key.token)
    if step is None:
        return key_not_found(key)
    flow = await db.get_flow_by_id(flow_id=step.flow_id)
    its_flow = (
        f"; the flow it belongs to is {format_key(key.shard, flow.flow_id, flow.flow_token)!r}"
        if flow is not None
        else ""
    )
    return BadRequestError(
        f"{key.argument} {str(key)!r} is a step key, not a {key.kind} key{its_flow}"
    )


def timeout_seconds(timeout: timedelta | float | None, what: str) -> float | None:
    """A caller's timeout as seconds (None = wait forever)."""
    if timeout is None:
        return None
    return as_timedelta(timeout, what).total_seconds()
