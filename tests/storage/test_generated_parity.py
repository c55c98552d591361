"""The committed generated modules (src/dwarf/_storage/_gen/) agree across dialects and are current.

The generator enforces parity when it runs; these tests hold the committed output to the same
contract, so a hand edit or a stale regeneration cannot slip through: every query (but the
optional fast paths) exists in all four dialect modules with identical keyword parameters and
return annotations, every annotation resolves, and the embedded migrations match the schema
files byte for byte.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from codegen import check
from dwarf._storage._gen import migrations, mysql, postgresql, rows, sqlite, sqlserver
from dwarf._storage._gen.queries import MysqlFastPaths, PostgresqlFastPaths, SqliteFastPaths
from tests.fixtures.storage import protocol_members

REPO = Path(__file__).resolve().parents[2]
MODULES: dict[str, ModuleType] = {
    "postgresql": postgresql,
    "mysql": mysql,
    "sqlite": sqlite,
    "sqlserver": sqlserver,
}
NOT_ACCESSORS = {"configure_connection"}


def accessors(module: ModuleType) -> dict[str, Callable[..., Any]]:
    """The module's public query functions."""
    return {
        name: func
        for name, func in vars(module).items()
        if inspect.iscoroutinefunction(func)
        and func.__module__ == module.__name__
        and not name.startswith("_")
        and name not in NOT_ACCESSORS
    }


def fast_path_names() -> set[str]:
    """The accessors the fast-path protocols declare (each exists only where it is defined)."""
    return (
        set(protocol_members(PostgresqlFastPaths))
        | set(protocol_members(MysqlFastPaths))
        | set(protocol_members(SqliteFastPaths))
    )


def test_every_query_exists_in_every_dialect() -> None:
    names = {dialect: set(accessors(module)) for dialect, module in MODULES.items()}
    reference = names["postgresql"]
    assert len(reference) > 50
    portable = reference - fast_path_names()
    for dialect, found in names.items():
        assert found - fast_path_names() == portable, dialect


@pytest.mark.parametrize("dialect", ["mysql", "sqlite", "sqlserver"])
def test_signatures_match_postgresql(dialect: str) -> None:
    reference = accessors(postgresql)
    for name, func in accessors(MODULES[dialect]).items():
        if name not in reference:
            continue  # a fast path PostgreSQL lacks (test_queries_protocol checks it)
        mine = inspect.signature(func, eval_str=True)
        theirs = inspect.signature(reference[name], eval_str=True)
        # the first parameter is the dialect's connection type; everything after must match
        assert list(mine.parameters.values())[1:] == list(theirs.parameters.values())[1:], name
        assert mine.return_annotation == theirs.return_annotation, name


def test_accessor_params_are_keyword_only_after_the_connection() -> None:
    for name, func in accessors(postgresql).items():
        params = list(inspect.signature(func).parameters.values())
        assert params[0].name == "conn", name
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:]), name


def test_row_classes_are_immutable_named_tuples() -> None:
    for name in rows.__all__:
        cls = getattr(rows, name)
        assert issubclass(cls, tuple), name
        assert cls._fields, name
        row = cls(*range(len(cls._fields)))
        with pytest.raises(AttributeError):
            setattr(row, cls._fields[0], -1)
        assert all("Any" not in str(a) for a in cls.__annotations__.values()), name


def test_migrations_present_for_all_dialects_with_matching_versions() -> None:
    table = migrations.MIGRATIONS
    assert sorted(table) == ["mysql", "postgresql", "sqlite", "sqlserver"]
    reference = [(m.version, m.name) for m in table["postgresql"]]
    assert reference[0][0] == 1
    for dialect, entries in table.items():
        assert [(m.version, m.name) for m in entries] == reference, dialect


def test_migrations_match_schema_files() -> None:
    for dialect, entries in migrations.MIGRATIONS.items():
        files = sorted((REPO / "sql" / "schema" / dialect).glob("*.sql"))
        assert len(files) == len(entries), dialect
        for path, migration in zip(files, entries, strict=True):
            assert path.name == f"{migration.version:04d}_{migration.name}.sql"
            assert migration.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
            # A dialect with nothing to change has a comment-only file (0004_nopad_keys).
            assert migration.statements or path.read_text().startswith("--"), path
            for statement in migration.statements:
                assert statement == statement.strip()
                assert not statement.endswith(";"), path


def test_committed_generated_code_is_up_to_date() -> None:
    assert check(REPO) == ""
