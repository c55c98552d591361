"""Scratch databases for ``Engine.run_in_test``: in memory, or on the ``DWARF_TEST_DSN`` server.

A test suite that wants its engine tests on the database it runs in production sets
``DWARF_TEST_DSN`` to a server DSN (PostgreSQL or MariaDB/MySQL, a user allowed to create
databases). Each ``run_in_test`` label then gets fresh databases on that server, one per shard,
named ``dwarf_scratch_<hash of the label>_<shard>``; engines entering with the same label share
them (two replicas in one test), and the last one out drops them. Without the variable the databases
are private in-memory SQLite ones (docs/internals/engine.md#e9).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from typing import Final
from urllib.parse import urlsplit

from dwarf._storage._connect import connect_mysql, connect_postgresql
from dwarf._storage._dsn import SHARD_PLACEHOLDER, memory_dsn, parse_dsn
from dwarf.errors import BadRequestError

__all__ = ["TEST_DSN_ENV", "test_databases"]

TEST_DSN_ENV: Final = "DWARF_TEST_DSN"
"""The environment variable naming a server for ``run_in_test`` (unset: in-memory SQLite)."""

_users: dict[str, int] = {}
_ready: dict[str, asyncio.Task[None]] = {}


@contextlib.asynccontextmanager
async def test_databases(label: str, num_shards: int) -> AsyncIterator[str]:
    """The DSN of ``label``'s scratch databases, created on entry and dropped by the last exit."""
    server = os.environ.get(TEST_DSN_ENV, "")
    if not server:
        yield memory_dsn(label)
        return
    name = "dwarf_scratch_" + hashlib.sha256(label.encode()).hexdigest()[:16]
    # Counted before any await, so engines entering together agree on who creates the databases;
    # the others wait for that creation.
    _users[name] = _users.get(name, 0) + 1
    if name not in _ready:
        _ready[name] = asyncio.ensure_future(_recreate(server, name, num_shards))
    try:
        await asyncio.shield(_ready[name])
        yield _with_database(server, f"{name}_{SHARD_PLACEHOLDER}")
    finally:
        _users[name] -= 1
        if _users[name] == 0:
            del _users[name]
            _ready.pop(name, None)
            for shard in range(1, num_shards + 1):
                with contextlib.suppress(Exception):
                    await _execute(server, f"DROP DATABASE IF EXISTS {name}_{shard}")


async def _recreate(server: str, name: str, num_shards: int) -> None:
    for shard in range(1, num_shards + 1):
        await _execute(server, f"DROP DATABASE IF EXISTS {name}_{shard}")
        await _execute(server, f"CREATE DATABASE {name}_{shard}")


def _with_database(server: str, database: str) -> str:
    """``server`` with its database replaced (userinfo and parameters kept as written)."""
    return urlsplit(server)._replace(path="/" + database).geturl()


async def _execute(server: str, statement: str) -> None:
    """Run one statement outside a transaction on the database ``server`` names."""
    dsn = parse_dsn(server)
    if dsn.dialect == "postgresql":
        pg = await connect_postgresql(dsn)
        try:
            await pg.set_autocommit(True)
            await pg.execute(statement.encode())
        finally:
            await pg.close()
    elif dsn.dialect == "mysql":
        my = await connect_mysql(dsn)
        try:
            async with my.cursor() as cursor:
                await cursor.execute(statement)
        finally:
            my.close()
    else:
        raise BadRequestError(
            f"{TEST_DSN_ENV} must name a PostgreSQL or MariaDB/MySQL server "
            f"(a user that may create databases), got a {dsn.dialect} DSN"
        )
