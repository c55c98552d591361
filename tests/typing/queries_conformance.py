"""Static parity: each generated dialect module must type-check as a ``Queries``.

A dialect with fast paths must also type-check as its ``<Dialect>FastPaths`` protocol, and each
connection the engine uses must be what its module's accessors take: asyncmy's ``Connection`` is
checked against the ``MySQLConnection`` protocol the mysql module declares, and the inline SQLite
connection against the sqlite module's ``SqliteConnection`` (psycopg is named directly in its
module; aioodbc, under the sqlserver module's protocol, is untyped).

This module is checked by ``mypy --strict tests`` in CI; it has no tests of its own. A dialect
accessor whose keyword params, their types or its return type drift from the protocol (or that is
missing) makes the assignment below a type error. The runtime twin is
``tests/storage/test_queries_protocol.py``.
"""

from __future__ import annotations

from typing import Any

import asyncmy
import psycopg

from dwarf._storage._gen import mysql, postgresql, sqlite, sqlserver
from dwarf._storage._gen.queries import (
    MysqlFastPaths,
    PostgresqlFastPaths,
    Queries,
    SqliteFastPaths,
)
from dwarf._storage._sqlite_inline import InlineSqlite

POSTGRESQL: Queries = postgresql
MYSQL: Queries = mysql
SQLITE: Queries = sqlite
SQLSERVER: Queries = sqlserver
POSTGRESQL_FAST: PostgresqlFastPaths = postgresql
MYSQL_FAST: MysqlFastPaths = mysql
SQLITE_FAST: SqliteFastPaths = sqlite


async def drivers_connect_to_their_modules(
    pg: psycopg.AsyncConnection[Any], maria: asyncmy.Connection, lite: InlineSqlite
) -> None:
    """Each driver's connection is accepted by its module's accessors (mypy checks the calls)."""
    await postgresql.get_flow_by_id(pg, flow_id=1)
    await mysql.get_flow_by_id(maria, flow_id=1)
    await sqlite.get_flow_by_id(lite, flow_id=1)
