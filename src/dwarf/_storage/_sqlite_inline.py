"""A SQLite connection driven directly on the event loop thread.

A thread-per-connection driver (aiosqlite) hands every statement to a worker thread and back:
two thread switches (and a GIL hand-off) per statement dominate a step's cost, since SQLite itself
answers in microseconds.
The engine serializes each shard's SQLite work behind one asyncio lock anyway, so running the
statements inline is both faster and no less concurrent.

The one blocking risk is another process holding the database lock: ``busy_timeout`` is kept
short, and the shard's transaction helper retries contention with async back-off instead.
Only the two calls the generated accessors make are provided: ``execute`` (awaitable and an
async context manager exposing ``rowcount``) and ``execute_fetchall``; plus ``begin``,
``commit`` and ``rollback`` for the commit group (``_sqlite_group``). The COMMIT of a large
transaction (a fan-out inserting 100,000 steps) writes its pages for hundreds of milliseconds:
such a commit runs in a worker thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Generator, Sequence
from types import TracebackType
from typing import Any

__all__ = [
    "INLINE_BUSY_TIMEOUT_MS",
    "INLINE_CACHE_KIB",
    "THREADED_COMMIT_ROWS",
    "InlineCursor",
    "InlineSqlite",
    "open_inline_sqlite",
    "wait_out",
]

INLINE_BUSY_TIMEOUT_MS = 50
"""How long a statement may block the event loop waiting for another process's lock."""

INLINE_CACHE_KIB = 65536
"""The connection's page cache, at most (SQLite's default is 2 MiB). It fills only as pages are
read, so a small database never uses it. With a million finished flows, the inner pages of the
tables' and indexes' B-trees alone outgrow the default, every lookup then reads pages back from
the OS (benches/test_history.py compares such a database with an empty one)."""

THREADED_COMMIT_ROWS = 1000
"""A transaction that changed more rows than this commits in a worker thread: the thread hop
costs far less than its COMMIT would hold the event loop (a step's own commit stays inline)."""


class InlineCursor:
    """The result of ``execute``: its ``rowcount``, usable with ``async with`` or ``await``."""

    __slots__ = ("_conn", "_params", "_sql", "rowcount")

    def __init__(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> None:
        self._conn = conn
        self._sql = sql
        self._params = params
        self.rowcount = -1

    def _run(self) -> InlineCursor:
        cursor = self._conn.execute(self._sql, self._params)
        self.rowcount = cursor.rowcount
        cursor.close()
        return self

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        return self._run()
        yield  # pragma: no cover - makes this a generator, as __await__ must be

    async def __aenter__(self) -> InlineCursor:
        return self._run()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class InlineSqlite:
    """The ``SqliteConnection`` the generated accessors use (``_gen.sqlite``), run inline."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._changes_at_begin = 0

    async def begin(self) -> None:
        """Open a write transaction (``BEGIN IMMEDIATE``)."""
        self._conn.execute("BEGIN IMMEDIATE")
        self._changes_at_begin = self._conn.total_changes

    async def commit(self) -> None:
        """Commit; a large transaction in a worker thread, the event loop running meanwhile.

        The caller holds the shard's lock throughout, so nothing else uses the connection while
        the thread commits; a cancelled caller still waits for the commit to finish before it
        lets the connection go.
        """
        if self._conn.total_changes - self._changes_at_begin <= THREADED_COMMIT_ROWS:
            self._conn.execute("COMMIT")
            return
        await wait_out(asyncio.ensure_future(asyncio.to_thread(self._conn.execute, "COMMIT")))

    def rollback(self) -> None:
        """Roll back the open transaction, inline."""
        self._conn.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (SQLite ends one by itself on some errors)."""
        return self._conn.in_transaction

    def execute(self, sql: str, params: Sequence[Any] = ()) -> InlineCursor:
        """Run one statement (when awaited or entered)."""
        return InlineCursor(self._conn, sql, params)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement and return all its rows."""
        cursor = self._conn.execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    async def close(self) -> None:
        """Close the connection."""
        self._conn.close()


async def wait_out(future: asyncio.Future[Any]) -> None:
    """Await ``future``; a caller cancelled meanwhile still waits for it to end, then re-raises.

    For work on the connection that must finish before anyone else touches it: a COMMIT in a
    worker thread, a commit group's COMMIT (``_sqlite_group``).
    """
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(future)
        raise


def open_inline_sqlite(target: str, *, uri: bool, memory: bool) -> InlineSqlite:
    """Open ``target`` with explicit transactions, a short busy timeout, WAL for files."""
    conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA cache_size = -{INLINE_CACHE_KIB}")
        if not memory:
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: durable across process crashes without an fsync per commit; an OS
            # crash or power loss can roll back the newest commits.
            conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return InlineSqlite(conn)
