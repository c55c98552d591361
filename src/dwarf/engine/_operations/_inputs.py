"""What every operation does with a caller's input first: validate it, and find its flow.

Bad input is a 400 naming what was wrong; a key naming no flow is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from dwarf._storage import FlowRow, Store, Tx
from dwarf.engine._runtime._config import as_timedelta
from dwarf.engine._runtime._keys import Key
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import FlowOptions
from dwarf.workflow._json import to_json_value

__all__ = [
    "MAX_TEXT",
    "MAX_TIME_BUDGET",
    "flow_options",
    "get_flow",
    "json_object",
    "json_value",
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


async def get_flow(shard: Store, key: Key, db: Tx | None = None) -> FlowRow:
    """The flow row for ``key`` (id AND token must match) or a 404."""

    async def read(db: Tx) -> FlowRow | None:
        row: FlowRow | None = await db.get_flow(flow_id=key.id, flow_token=key.token)
        return row

    flow = await (read(db) if db is not None else shard.read(read))
    if flow is None:
        raise NotFoundError("flow not found")
    return flow


def timeout_seconds(timeout: timedelta | float | None, what: str) -> float | None:
    """A caller's timeout as seconds (None = wait forever)."""
    if timeout is None:
        return None
    return as_timedelta(timeout, what).total_seconds()
