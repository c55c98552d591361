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
from collections.abc import AsyncIterator, Awaitable, Callable
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

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[C]:
        """Borrow a connection for one unit of work."""
        async with self._slots:
            if self._closed:
                raise UnavailableError("the database pool is closed")
            conn = await self._reusable()
            if conn is None:
                conn = await self._make()
                self._all.append(conn)
            try:
                yield conn
            finally:
                if not self._closed and self._alive(conn):
                    self._idle.append(conn)
                else:
                    self._forget(conn)
                    with contextlib.suppress(Exception):
                        await self._close_conn(conn)

    async def _reusable(self) -> C | None:
        """The most recently used idle connection that still looks alive, or None."""
        while self._idle:
            conn = self._idle.pop()
            if self._alive(conn) and self._idle_ok(conn):
                return conn
            self._forget(conn)
            with contextlib.suppress(Exception):
                await self._close_conn(conn)
        return None

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
