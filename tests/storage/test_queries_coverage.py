"""Every generated accessor is exercised by the live query tests.

The behaviour tests of the ``test_queries*`` modules are ``async def test_x(db)`` scenarios
that make the same accessor calls on every backend (only their assertions differ per dialect).
This test runs each of them once more on a fresh in-memory SQLite database, through the
recording ``Db.q``, and requires the union of the accessors they called to be exactly the
queries the ``Queries`` protocol declares: a new query without a live test fails here.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any

from dwarf._storage._gen.queries import Queries
from tests.fixtures.storage import Db, open_db, protocol_members

HERE = Path(__file__).parent
# modules of the test_queries* family that hold no live scenarios
NOT_SCENARIOS = {"test_queries_coverage", "test_queries_protocol"}


def scenario_modules() -> list[ModuleType]:
    """Every ``test_queries*`` module with live scenarios (new ones are picked up by name)."""
    names = sorted(p.stem for p in HERE.glob("test_queries*.py") if p.stem not in NOT_SCENARIOS)
    return [importlib.import_module(f"tests.storage.{name}") for name in names]


Scenario = Callable[[Db], Coroutine[Any, Any, None]]


def scenarios() -> dict[str, Scenario]:
    """The ``test_*(db)`` coroutines of the scenario modules, by qualified name."""
    found: dict[str, Scenario] = {}
    for module in scenario_modules():
        for name, func in vars(module).items():
            if (
                name.startswith("test_")
                and inspect.iscoroutinefunction(func)
                and list(inspect.signature(func).parameters) == ["db"]
            ):
                found[f"{module.__name__}.{name}"] = func
    return found


def declared_queries() -> set[str]:
    """The accessor names ``Queries`` declares."""
    return set(protocol_members(Queries))


async def test_the_live_scenarios_call_every_accessor() -> None:
    found = scenarios()
    assert len(found) >= 25
    called: set[str] = set()
    for scenario in found.values():
        async with open_db("sqlite-memory", ":memory:") as db:
            await scenario(db)
            called |= db.recorder.called
    declared = declared_queries()
    assert len(declared) > 70
    missing = sorted(declared - called)
    assert not missing, f"no live test calls: {', '.join(missing)}"
    assert called == declared
