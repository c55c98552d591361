"""The pytest plugin dwarf registers (entry point ``pytest11: dwarf``): fixtures, nothing else.

``dwarf_registry`` is an empty ``Registry`` for the test to fill with graphs and handlers;
``dwarf_engine`` is a started engine serving it on fresh databases (``started_engine``), shut
down and dropped after the test. The engine fixture is async, so it needs pytest-asyncio; without
it, only a test that asks for ``dwarf_engine`` fails (pytest says why); other suites are
untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import pytest

from dwarf.engine import Engine, Registry
from dwarf.testing._kit import started_engine

__all__ = ["dwarf_engine", "dwarf_registry"]

_F = TypeVar("_F", bound=Callable[..., Any])


@pytest.fixture
def dwarf_registry() -> Registry:
    """An empty registry of graphs and task handlers; ``dwarf_engine`` serves it."""
    return Registry()


def _async_fixture() -> Callable[[_F], _F]:
    """pytest-asyncio's fixture decorator, or pytest's when it is missing.

    Without pytest-asyncio, pytest itself fails a test that asks for an async fixture and says
    so; importing pytest_asyncio unconditionally would instead break every suite on import.
    """
    try:
        import pytest_asyncio
    except ImportError:
        return cast(Callable[[_F], _F], pytest.fixture)
    return cast(Callable[[_F], _F], pytest_asyncio.fixture)


@_async_fixture()
async def dwarf_engine(dwarf_registry: Registry) -> AsyncIterator[Engine]:
    """A started engine on fresh databases (``DWARF_TEST_DSN`` or SQLite in memory)."""
    async with started_engine(dwarf_registry) as engine:
        yield engine
