"""The bookkeeping table ``dwarf_migrations`` per dialect, and the DDL script for review.

``dwarf_migrations(version PK, name, checksum, applied_at)`` records each migration applied to a
database. ``applied_at`` comes from the database clock (docs/internals/engine.md#e1) and is NULL
only on MySQL, for a migration that started and did not finish: MySQL commits each DDL statement
on its own, so the row is written first and stamped after the last statement.

``ddl`` renders the same statements the migrator runs, plus the bookkeeping writes, so a DBA who
applies the script by hand leaves the database exactly as ``dwarf migrate`` would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from dwarf._migrate._types import MigrationLike
from dwarf._storage._dsn import Dialect

__all__ = ["TABLE", "bookkeeping_ddl", "now_utc", "record_sql", "render_ddl"]

TABLE: Final = "dwarf_migrations"

_BOOKKEEPING: Final[Mapping[Dialect, str]] = {
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n"
        "    version INTEGER PRIMARY KEY,\n"
        "    name VARCHAR(256) NOT NULL,\n"
        "    checksum CHAR(64) NOT NULL,\n"
        "    applied_at TIMESTAMPTZ NULL\n"
        ")"
    ),
    "mysql": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n"
        "    version INT NOT NULL PRIMARY KEY,\n"
        "    name VARCHAR(256) NOT NULL,\n"
        "    checksum CHAR(64) NOT NULL,\n"
        "    applied_at DATETIME(3) NULL\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    ),
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n"
        "    version INTEGER PRIMARY KEY,\n"
        "    name TEXT NOT NULL,\n"
        "    checksum TEXT NOT NULL,\n"
        "    applied_at DATETIME NULL\n"
        ")"
    ),
    "sqlserver": (
        f"IF OBJECT_ID(N'dbo.{TABLE}', N'U') IS NULL\n"
        f"CREATE TABLE {TABLE} (\n"
        "    version INT NOT NULL PRIMARY KEY,\n"
        "    name NVARCHAR(256) NOT NULL,\n"
        "    checksum CHAR(64) NOT NULL,\n"
        "    applied_at DATETIME2(3) NULL\n"
        ")"
    ),
}

_NOW_UTC: Final[Mapping[Dialect, str]] = {
    "postgresql": "NOW()",
    "mysql": "UTC_TIMESTAMP(3)",
    "sqlite": "STRFTIME('%Y-%m-%d %H:%M:%f', 'now')",
    "sqlserver": "SYSUTCDATETIME()",
}

_TRANSACTIONAL: Final = frozenset({"postgresql", "sqlite", "sqlserver"})


def bookkeeping_ddl(dialect: Dialect) -> str:
    """The idempotent statement that creates ``dwarf_migrations``."""
    return _BOOKKEEPING[dialect]


def now_utc(dialect: Dialect) -> str:
    """The SQL expression for the database's current UTC time."""
    return _NOW_UTC[dialect]


def record_sql(dialect: Dialect, migration: MigrationLike) -> str:
    """A literal INSERT recording ``migration`` as applied now (for the printed script)."""
    name = _literal(migration.name, unicode=dialect == "sqlserver")
    return (
        f"INSERT INTO {TABLE} (version, name, checksum, applied_at) VALUES "
        f"({int(migration.version)}, {name}, {_literal(migration.checksum)}, {now_utc(dialect)})"
    )


def render_ddl(dialect: Dialect, migrations: Sequence[MigrationLike], *, heading: str) -> str:
    """A reviewable script: the bookkeeping table, then each migration and its record."""
    end = ";\nGO" if dialect == "sqlserver" else ";"
    lines = [f"-- {heading}", bookkeeping_ddl(dialect) + end, ""]
    for migration in migrations:
        lines.append(f"-- {migration.version:04d} {migration.name} (sha256 {migration.checksum})")
        if dialect in _TRANSACTIONAL:
            lines.append("BEGIN TRANSACTION;" if dialect == "sqlserver" else "BEGIN;")
        else:
            lines.append(
                "-- MySQL cannot roll back DDL: if a statement fails, this migration is "
                "partially applied"
            )
        lines.extend(_rendered(dialect, statement, end) for statement in migration.statements)
        lines.append(record_sql(dialect, migration) + end)
        if dialect in _TRANSACTIONAL:
            lines.append("COMMIT" + end)
        lines.append("")
    return "\n".join(lines)


_COMPOUND: Final = re.compile(
    r"^\s*CREATE\s+(?:DEFINER\s*=\s*\S+\s+)?(?:PROCEDURE|FUNCTION|TRIGGER|EVENT)\b",
    re.IGNORECASE | re.MULTILINE,
)


def _rendered(dialect: Dialect, statement: str, end: str) -> str:
    """``statement`` as the script shows it: a MySQL stored program between DELIMITER lines,
    since its body holds ``;`` of its own (the mysql client would split on them)."""
    if dialect == "mysql" and _COMPOUND.search(statement):
        return f"DELIMITER $$\n{_terminated(statement)} $$\nDELIMITER ;"
    return _terminated(statement) + end


def _terminated(statement: str) -> str:
    return statement.strip().rstrip(";").rstrip()


def _literal(text: str, *, unicode: bool = False) -> str:
    quoted = "'" + text.replace("'", "''") + "'"
    return ("N" + quoted) if unicode else quoted
