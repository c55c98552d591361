"""SQLite: one connection per database in the process, one writer, driven inline.

SQLite allows one writer: a store holds ONE connection behind an asyncio lock, and each write
transaction starts with ``BEGIN IMMEDIATE`` (read-first deferred transactions deadlock on lock
upgrade). Engines in one process share one connection per database (memory or file), so two
engines can act as two replicas of one database; a second connection in the same process
would only wait on the first. The units of work of one turn of the event loop share one
transaction and one COMMIT (``_sqlite_group``). A statement is a local call, not a round trip,
so writing an operation in fewer statements saves little: SQLite's only fast paths are the
writes that insert a step already claimed (dispatch D13), which save a claim, its read-backs
and a refill (``_sqlite_claims``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from dwarf._storage._connect import connect_sqlite
from dwarf._storage._dsn import Dsn
from dwarf._storage._faults import replay_unsafe
from dwarf._storage._gen import sqlite as lite
from dwarf._storage._gen.rows import FlowRow
from dwarf._storage._hot_path import NothingWritten
from dwarf._storage._records import ClaimedStep, Completion, Lease, NewFlow, NewStep
from dwarf._storage._sqlite_claims import advance_claiming, create_claiming
from dwarf._storage._sqlite_group import SharedSqlite
from dwarf._storage._sqlite_inline import open_inline_sqlite
from dwarf._storage._store import Store

__all__ = ["SqliteStore"]

T = TypeVar("T")


_shared: dict[str, SharedSqlite] = {}


def _key(dsn: Dsn) -> str:
    """Which in-process connection a DSN shares ("" = its own private one)."""
    if dsn.is_memory:
        return "" if dsn.path == ":memory:" else dsn.path
    return os.path.abspath(dsn.path)


def _target(dsn: Dsn) -> tuple[str, bool]:
    params = {k: v for k, v in dsn.params.items() if k in {"mode", "cache"}}
    if dsn.path == ":memory:" and not params:
        return ":memory:", False
    target = "file:" + quote(dsn.path, safe="/:")
    if params:
        target += "?" + urlencode(params)
    return target, True


class SqliteStore(Store):
    """A SQLite shard: the process's one connection to its database file (or memory)."""

    dialect = "sqlite"
    claims_successors = True
    claims_entries = True

    def __init__(self, index: int, dsn: Dsn, handle: SharedSqlite, key: str) -> None:
        super().__init__(index, dsn, lite)
        self._handle = handle
        self._key = key

    @classmethod
    async def open(cls, index: int, dsn: Dsn) -> SqliteStore:
        """Open shard ``index``, sharing the process's connection to the same database."""
        key = _key(dsn)
        handle = _shared.get(key) if key else None
        if handle is None:
            # Let connect_sqlite validate the DSN and create the file with its settings, then
            # drive the database inline (no thread hop per statement).
            probe = await connect_sqlite(dsn)
            probe.close()
            target, uri = _target(dsn)
            handle = SharedSqlite(open_inline_sqlite(target, uri=uri, memory=dsn.is_memory))
            if key:
                _shared[key] = handle
        handle.users += 1
        return cls(index, dsn, handle, key)

    # Inline statements never yield to the event loop: each unit of work yields once first, so
    # the engine's other coroutines (and other engines on this loop) get their turn.

    async def _once(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        self._check_open()
        await asyncio.sleep(0)
        return await self._handle.transaction(fn)

    async def _bare(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        self._check_open()
        await asyncio.sleep(0)
        return await self._handle.statements(fn)

    async def advance_claiming_successor(
        self, done: Completion, successor: NewStep, lease: Lease, flow: FlowRow
    ) -> ClaimedStep | int:
        """``advance_to_successor`` with the successor inserted claimed (D13), in one
        transaction: the same three writes, the insert claiming and the flow's touch returning
        what a claim would read. 0 when nothing was written.

        No lost reply to recover from: the call is local, and the transaction either commits
        with the successor or rolls back without it.
        """
        try:
            return await self._transact_on_connection(
                lambda conn: advance_claiming(conn, done, successor, lease, flow),
                self.advance_to_successor,
            )
        except NothingWritten:
            return 0

    async def create_flow_claiming_entry(self, new: NewFlow, lease: Lease) -> ClaimedStep:
        """``create_flow(new, start=True)`` with the entry step inserted claimed (D13), in one
        transaction; the entry as a claim of it would have read it, with its flow."""
        with replay_unsafe():  # as every create (S10): never inserted twice
            return await self._transact_on_connection(
                lambda conn: create_claiming(conn, new, lease), self.create_flow
            )

    async def _close(self) -> None:
        handle = self._handle
        handle.users -= 1
        if handle.users == 0:
            if self._key:
                _shared.pop(self._key, None)
            await handle.settle()
            await handle.conn.close()
