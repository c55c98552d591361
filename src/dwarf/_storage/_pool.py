"""A small bounded pool of driver connections (PostgreSQL, MySQL/MariaDB, SQL Server).

At most ``size`` connections; idle ones are reused, dead ones dropped and replaced on demand. A
connection goes back to the pool after a failed transaction too (it was rolled back): only one
the driver reports closed is dropped. At checkout an idle connection is also dropped when it
shows, without a round trip, that the server ended it (a terminated backend or a restart leaves
a message or EOF waiting on its socket): the work then gets a fresh connection instead of a
dead one (docs/internals/storage.md, "Database faults").

Hand-written rather than ``psycopg_pool.AsyncConnectionPool`` for PostgreSQL: measured side by
side in ``benches/``, psycopg_pool cost about 7 % of PostgreSQL's steps/s (medians of six runs
each, with runs up to 25 % slower), more than the 5 % its health checks and recycling were
worth on the hot path (docs/internals/storage.md, "Connection pools").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from dwarf.errors import UnavailableError

__all__ = ["Pool"]

C = TypeVar("C")


class Pool(Generic[C]):
    """At most ``size`` connections made by ``make``; ``alive`` says whether one is reusable."""

    def __init__(
        self,
        make: Callable[[], Awaitable[C]],
        size: int,
        *,
        close: Callable[[C], Awaitable[None]],
        alive: Callable[[C], bool],
        idle_ok: Callable[[C], bool] = lambda conn: True,
    ) -> None:
        self._make = make
        self._close_conn = close
        self._alive = alive
        self._idle_ok = idle_ok
        self._slots = asyncio.Semaphore(max(1, size))
        self._idle: list[C] = []
        self._all: list[C] = []
        self._closed = False

    async def warm(self) -> None:
        """Open one connection now so a bad DSN fails at startup, not on first use."""
        conn = await self._make()
        self._all.append(conn)
        self._idle.append(conn)

    def connection(self) -> _Borrowed[C]:
        """Borrow a connection for one unit of work: ``async with pool.connection() as conn``."""
        return _Borrowed(self)

    async def _checkout(self) -> C:
        """A connection for the holder of a slot: an idle one that looks alive, or a new one."""
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the likeliest to be alive
            if self._alive(conn) and self._idle_ok(conn):
                return conn
            self._forget(conn)
            with contextlib.suppress(Exception):
                await self._close_conn(conn)
        conn = await self._make()
        self._all.append(conn)
        return conn

    async def _checkin(self, conn: C) -> None:
        """Take back a borrowed connection: idle again if alive, else closed and forgotten."""
        if not self._closed and self._alive(conn):
            self._idle.append(conn)
            return
        self._forget(conn)
        with contextlib.suppress(Exception):
            await self._close_conn(conn)

    def _forget(self, conn: C) -> None:
        with contextlib.suppress(ValueError):
            self._all.remove(conn)

    async def close(self) -> None:
        """Close every connection, borrowed ones included (a straggler gets a closed one)."""
        self._closed = True
        self._idle = []
        every, self._all = self._all, []
        for conn in every:
            with contextlib.suppress(Exception):
                await self._close_conn(conn)


class _Borrowed(Generic[C]):
    """One borrowing of a pool's connection, as an async context manager.

    A class rather than ``contextlib.asynccontextmanager``: every statement borrows a connection,
    and the generator-based manager cost about twice as much per borrowing.
    """

    __slots__ = ("_conn", "_pool")

    def __init__(self, pool: Pool[C]) -> None:
        self._pool = pool
        self._conn: C | None = None

    async def __aenter__(self) -> C:
        pool = self._pool
        await pool._slots.acquire()
        try:
            if pool._closed:
                raise UnavailableError("the database pool is closed")
            self._conn = await pool._checkout()
        except BaseException:
            pool._slots.release()
            raise
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        pool, conn = self._pool, self._conn
        self._conn = None
        try:
            if conn is not None:
                await pool._checkin(conn)
        finally:
            pool._slots.release()
