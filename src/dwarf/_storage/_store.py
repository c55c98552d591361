"""Shards: one database each, with its dialect's accessors, a bounded pool and transactions.

Why it looks like this:
- Every multi-statement change runs in ``transact(fn)``: the whole closure re-runs on lock
  contention (deadlock, serialization failure, lock wait timeout, SQLite busy), because a
  transaction that lost such a race is rolled back whole by the database and retrying the
  closure is the only correct recovery (ENGINE.md §12 pitfall 4).
- A failed statement poisons its transaction: we always roll back on any exception, so no
  partial transaction commits on MySQL or SQLite (pitfall 7).
- SQLite allows one writer: a shard holds ONE connection behind an asyncio lock, and each write
  transaction starts with ``BEGIN IMMEDIATE`` (read-first deferred transactions deadlock on lock
  upgrade). In-memory test databases are shared within the process by name so two engines can
  act as two replicas of one database.
- Connection use is bounded by ``max_open_conns`` per shard; nothing holds a connection while a
  task runs (callers acquire per transaction).
- PostgreSQL and MySQL also offer fast paths (``pg_fast``, ``mysql_fast``): statements that
  stand in for several portable ones on the hot path, run with ``autocommit`` when one
  statement does the whole job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from dwarf._storage._connect import connect_mysql, connect_postgresql, connect_sqlite
from dwarf._storage._dsn import Dsn, scrub
from dwarf._storage._gen.queries import MysqlFastPaths, PostgresqlFastPaths, Queries
from dwarf._storage._sqlite_inline import InlineSqlite, open_inline_sqlite
from dwarf.errors import DwarfError, UnavailableError

__all__ = ["Shard", "StorageError", "is_contention", "open_shard"]

T = TypeVar("T")

MAX_TX_ATTEMPTS = 12

# MySQL/MariaDB: deadlock found, lock wait timeout.
_MYSQL_CONTENTION = frozenset({1213, 1205})
# PostgreSQL SQLSTATEs: serialization failure, deadlock detected, lock not available.
_POSTGRES_CONTENTION = frozenset({"40001", "40P01", "55P03"})


class StorageError(DwarfError):
    """A database statement failed for a reason other than lock contention."""


def is_contention(exc: BaseException) -> bool:
    """True for errors that mean "another transaction won a race; run the closure again"."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate in _POSTGRES_CONTENTION
    code = exc.args[0] if exc.args else None
    return isinstance(code, int) and code in _MYSQL_CONTENTION


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__.split(".")[0]
    return module in {"psycopg", "asyncmy", "sqlite3", "aiosqlite", "pymysql"}


@dataclass(eq=False)
class Shard:
    """One database: its index, dialect, generated accessors ``q`` and connection handling."""

    index: int
    dsn: Dsn
    q: Queries
    _acquire: Callable[[], contextlib.AbstractAsyncContextManager[Any]]
    _begin: Callable[[Any], Awaitable[None]]
    _commit: Callable[[Any], Awaitable[None]]
    _rollback: Callable[[Any], Awaitable[None]]
    _close: Callable[[], Awaitable[None]]
    pg_fast: PostgresqlFastPaths | None = None
    """PostgreSQL's single-statement fast paths (None on other dialects)."""
    mysql_fast: MysqlFastPaths | None = None
    """MySQL's two-table fast paths (None on other dialects)."""
    _closed: bool = field(default=False)

    @property
    def dialect(self) -> str:
        """ "postgresql", "mysql" or "sqlite"."""
        return self.dsn.dialect

    async def transact(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` in one transaction, re-running it whole on lock contention."""
        return await self._retrying(self._once, fn)

    async def read(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run read-only ``fn(conn)`` outside a transaction (connections are in autocommit).

        A read needs no BEGIN/COMMIT round trips; a read that must see several rows as of one
        instant belongs in ``transact`` instead.
        """
        return await self._retrying(self._bare, fn)

    async def autocommit(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` with each statement committing on its own (no BEGIN/COMMIT).

        For a write that is one statement (the fast paths chain their writes in one), or
        statements that need not be atomic together. Re-run on lock contention like a
        transaction, so ``fn`` must be safe to repeat.
        """
        return await self._retrying(self._bare, fn)

    async def _retrying(
        self,
        run: Callable[[Callable[[Any], Awaitable[T]]], Awaitable[T]],
        fn: Callable[[Any], Awaitable[T]],
    ) -> T:
        for attempt in range(MAX_TX_ATTEMPTS):
            try:
                return await run(fn)
            except Exception as exc:
                if not is_contention(exc) or attempt == MAX_TX_ATTEMPTS - 1:
                    translated = self._translate(exc)
                    if translated is exc:
                        raise
                    raise translated from exc
            await asyncio.sleep(random.uniform(0.002, 0.004) * (2 ** min(attempt, 6)))
        raise AssertionError("unreachable")

    async def _bare(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        if self._closed:
            raise UnavailableError(f"shard {self.index} is closed")
        async with self._acquire() as conn:
            return await fn(conn)

    async def _once(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        if self._closed:
            raise UnavailableError(f"shard {self.index} is closed")
        async with self._acquire() as conn:
            await self._begin(conn)
            try:
                result = await fn(conn)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self._rollback(conn)
                raise
            await self._commit(conn)
            return result

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, DwarfError) or not _is_driver_error(exc):
            return exc
        first = (str(exc).strip().splitlines() or [""])[0]
        return StorageError(
            f"shard {self.index} ({self.dialect}): {scrub(first, self.dsn.secrets())}"
        )

    async def close(self) -> None:
        """Close the shard's connections (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._close()


async def open_shard(index: int, dsn: Dsn, *, max_open_conns: int) -> Shard:
    """Open shard ``index`` at ``dsn`` (already expanded for the shard)."""
    if dsn.dialect == "postgresql":
        return await _open_postgresql(index, dsn, max_open_conns)
    if dsn.dialect == "mysql":
        return await _open_mysql(index, dsn, max_open_conns)
    if dsn.dialect == "sqlite":
        return await _open_sqlite(index, dsn)
    raise UnavailableError("no SQL Server driver installed: the engine cannot run on SQL Server")


# --- PostgreSQL: a small bounded pool of psycopg connections --------------------------------


async def _open_postgresql(index: int, dsn: Dsn, size: int) -> Shard:
    from dwarf._storage._gen import postgresql as q

    async def make() -> Any:
        conn = await connect_postgresql(dsn)
        try:
            await q.configure_connection(conn)
            # Autocommit: reads cost one round trip; transactions say BEGIN/COMMIT explicitly.
            await conn.set_autocommit(True)
        except BaseException:
            await conn.close()
            raise
        return conn

    pool = _Pool(make, size, close=_close_async, alive=lambda conn: not conn.closed)

    async def begin(conn: Any) -> None:
        await conn.execute("BEGIN")

    async def commit(conn: Any) -> None:
        await conn.execute("COMMIT")

    async def rollback(conn: Any) -> None:
        await conn.execute("ROLLBACK")

    await pool.warm()
    return Shard(index, dsn, q, pool.connection, begin, commit, rollback, pool.close, pg_fast=q)


# --- MySQL / MariaDB --------------------------------------------------------------------------


async def _open_mysql(index: int, dsn: Dsn, size: int) -> Shard:
    from dwarf._storage._gen import mysql as q

    async def make() -> Any:
        conn = await connect_mysql(dsn)
        # Autocommit: reads cost one round trip; transactions say BEGIN/COMMIT explicitly.
        await conn.autocommit(True)
        return conn

    async def close(conn: Any) -> None:
        conn.close()

    pool = _Pool(make, size, close=close, alive=lambda conn: bool(conn.connected))

    async def begin(conn: Any) -> None:
        await conn.begin()

    async def commit(conn: Any) -> None:
        await conn.commit()

    async def rollback(conn: Any) -> None:
        await conn.rollback()

    await pool.warm()
    return Shard(index, dsn, q, pool.connection, begin, commit, rollback, pool.close, mysql_fast=q)


# --- SQLite: one connection, one writer ------------------------------------------------------


@dataclass(eq=False)
class _SqliteHandle:
    conn: InlineSqlite
    lock: asyncio.Lock
    users: int = 0


_shared_sqlite: dict[str, _SqliteHandle] = {}


def _sqlite_key(dsn: Dsn) -> str:
    """Which in-process connection a DSN shares ("" = its own private one)."""
    if dsn.is_memory:
        return "" if dsn.path == ":memory:" else dsn.path
    return os.path.abspath(dsn.path)


def _sqlite_target(dsn: Dsn) -> tuple[str, bool]:
    params = {k: v for k, v in dsn.params.items() if k in {"mode", "cache"}}
    if dsn.path == ":memory:" and not params:
        return ":memory:", False
    target = "file:" + quote(dsn.path, safe="/:")
    if params:
        target += "?" + urlencode(params)
    return target, True


async def _open_sqlite(index: int, dsn: Dsn) -> Shard:
    from dwarf._storage._gen import sqlite as q

    # Engines in one process share one connection per database (memory or file): SQLite has
    # one writer, and a second connection in the same process would only wait on the first.
    key = _sqlite_key(dsn)
    handle = _shared_sqlite.get(key) if key else None
    if handle is None:
        # Let connect_sqlite validate the DSN and create the file with its settings, then drive
        # the database inline (no thread hop per statement).
        probe = await connect_sqlite(dsn)
        await probe.close()
        target, uri = _sqlite_target(dsn)
        conn = open_inline_sqlite(target, uri=uri, memory=dsn.is_memory)
        handle = _SqliteHandle(conn, asyncio.Lock())
        if key:
            _shared_sqlite[key] = handle
    handle.users += 1

    @contextlib.asynccontextmanager
    async def acquire() -> AsyncIterator[Any]:
        # Inline statements never yield to the event loop: yield once per transaction so the
        # engine's other coroutines (and other engines on this loop) get their turn.
        await asyncio.sleep(0)
        async with handle.lock:
            yield handle.conn

    async def begin(conn: Any) -> None:
        await conn.execute("BEGIN IMMEDIATE")

    async def commit(conn: Any) -> None:
        await conn.execute("COMMIT")

    async def rollback(conn: Any) -> None:
        await conn.execute("ROLLBACK")

    async def close() -> None:
        handle.users -= 1
        if handle.users == 0:
            if key:
                _shared_sqlite.pop(key, None)
            await handle.conn.close()

    return Shard(index, dsn, q, acquire, begin, commit, rollback, close)


# --- a tiny bounded pool (psycopg_pool's extra machinery buys nothing here) ------------------


async def _close_async(conn: Any) -> None:
    await conn.close()


class _Pool:
    """At most ``size`` connections; idle ones are reused, dead ones dropped and replaced.

    A connection goes back to the pool after a failed transaction too (it was rolled back):
    only one the driver reports closed is dropped.
    """

    def __init__(
        self,
        make: Callable[[], Awaitable[Any]],
        size: int,
        *,
        close: Callable[[Any], Awaitable[None]],
        alive: Callable[[Any], bool],
    ) -> None:
        self._make = make
        self._close_conn = close
        self._alive = alive
        self._slots = asyncio.Semaphore(max(1, size))
        self._idle: list[Any] = []
        self._all: set[Any] = set()
        self._closed = False

    async def warm(self) -> None:
        """Open one connection now so a bad DSN fails at startup, not on first use."""
        conn = await self._make()
        self._all.add(conn)
        self._idle.append(conn)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """Borrow a connection for one transaction."""
        async with self._slots:
            if self._closed:
                raise UnavailableError("the database pool is closed")
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = await self._make()
                self._all.add(conn)
            try:
                yield conn
            finally:
                if not self._closed and self._alive(conn):
                    self._idle.append(conn)
                else:
                    self._all.discard(conn)
                    with contextlib.suppress(Exception):
                        await self._close_conn(conn)

    async def close(self) -> None:
        """Close every connection, borrowed ones included (a straggler gets a closed one)."""
        self._closed = True
        self._idle = []
        every, self._all = list(self._all), set()
        for conn in every:
            with contextlib.suppress(Exception):
                await self._close_conn(conn)
