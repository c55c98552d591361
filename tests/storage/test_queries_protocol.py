"""Runtime twin of tests/typing/queries_conformance.py: every dialect module matches ``Queries``.

mypy proves the static conformance; these tests hold the committed files to it at runtime, so a
stale ``queries.py`` or a module missing an accessor fails pytest too: same member set both ways,
and for each member the same keyword-only params (names, kinds, annotations) and return type.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from dwarf._storage._gen import mysql, postgresql, sqlite, sqlserver
from dwarf._storage._gen.queries import MysqlFastPaths, PostgresqlFastPaths, SqliteFastPaths
from tests.fixtures.storage import protocol_members

MODULES: dict[str, ModuleType] = {
    "postgresql": postgresql,
    "mysql": mysql,
    "sqlite": sqlite,
    "sqlserver": sqlserver,
}
NOT_ACCESSORS = {"configure_connection"}


# Each dialect's fast paths (optional queries), as the protocol its module also satisfies.
FAST_PATHS: dict[str, type] = {
    "postgresql": PostgresqlFastPaths,
    "mysql": MysqlFastPaths,
    "sqlite": SqliteFastPaths,
}


def module_accessors(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """The public query functions defined in ``module``."""
    return {
        name: func
        for name, func in vars(module).items()
        if inspect.iscoroutinefunction(func)
        and func.__module__ == module.__name__
        and not name.startswith("_")
        and name not in NOT_ACCESSORS
    }


def test_protocol_declares_every_query() -> None:
    assert len(protocol_members()) > 50


@pytest.mark.parametrize("dialect", sorted(MODULES))
def test_every_protocol_member_exists_in_the_module_and_nothing_else(dialect: str) -> None:
    expected = set(protocol_members())
    if dialect in FAST_PATHS:
        expected |= set(protocol_members(FAST_PATHS[dialect]))
    assert set(module_accessors(MODULES[dialect])) == expected


@pytest.mark.parametrize("dialect", sorted(MODULES))
def test_module_signatures_match_the_protocol_after_the_connection(dialect: str) -> None:
    accessors = module_accessors(MODULES[dialect])
    members = protocol_members()
    if dialect in FAST_PATHS:
        members |= protocol_members(FAST_PATHS[dialect])
    for name, method in members.items():
        declared = inspect.signature(method, eval_str=True)
        actual = inspect.signature(accessors[name], eval_str=True)
        declared_params = list(declared.parameters.values())
        actual_params = list(actual.parameters.values())
        assert [p.name for p in declared_params[:2]] == ["self", "conn"], name
        assert actual_params[0].name == "conn", name
        assert actual_params[1:] == declared_params[2:], f"{dialect}.{name}"
        assert actual.return_annotation == declared.return_annotation, f"{dialect}.{name}"
