"""The running flow's baggage, readable anywhere inside a task or graph loader.

Baggage is an opaque JSON value a host attaches to a flow at creation (``FlowOptions.baggage``) and
gets back wherever the engine calls host code for that flow. It lives in a ``ContextVar`` rather
than a parameter so that code deep inside a task (an HTTP client adding a tenant header) can read
it without threading it through every call. A ``ContextVar`` is copied into each asyncio task
created inside the scope, and ``asyncio.to_thread`` copies the context into the worker thread, so
the value follows the work wherever it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["baggage_scope", "current_baggage"]

_baggage: ContextVar[Any] = ContextVar("dwarf_baggage", default=None)


def current_baggage() -> Any:
    """The baggage of the flow whose task or graph loader is running, or None outside one."""
    return _baggage.get()


@contextmanager
def baggage_scope(value: Any) -> Iterator[None]:
    """Make ``value`` the current baggage for the duration of the block (engine-facing).

    The previous value is restored on exit, also when the block raises.
    """
    token = _baggage.set(value)
    try:
        yield
    finally:
        _baggage.reset(token)
