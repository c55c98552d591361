"""Static parity: each generated dialect module must type-check as a ``Queries``.

A dialect with fast paths must also type-check as its ``<Dialect>FastPaths`` protocol.

This module is checked by ``mypy --strict tests`` in CI; it has no tests of its own. A dialect
accessor whose keyword params, their types or its return type drift from the protocol (or that is
missing) makes the assignment below a type error. The runtime twin is
``tests/storage/test_queries_protocol.py``.
"""

from __future__ import annotations

from dwarf._storage._gen import mysql, postgresql, sqlite, sqlserver
from dwarf._storage._gen.queries import MysqlFastPaths, PostgresqlFastPaths, Queries

POSTGRESQL: Queries = postgresql
MYSQL: Queries = mysql
SQLITE: Queries = sqlite
SQLSERVER: Queries = sqlserver
POSTGRESQL_FAST: PostgresqlFastPaths = postgresql
MYSQL_FAST: MysqlFastPaths = mysql
