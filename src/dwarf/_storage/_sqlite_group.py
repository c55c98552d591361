"""Group commit for SQLite: the units of work of one event-loop turn share one COMMIT.

In WAL mode a COMMIT appends every page its transaction changed to the log. Thirty-two flows
advancing in the same turn of the event loop change the same few pages (the newest leaves of
``dwarf_steps`` and of its indexes), so committing them one by one writes those pages again and
again. Sharing the turn's transaction writes them once: under py-spy, over
``benches/profile_throughput.py --dialect sqlite``, COMMIT fell from 13 % of the process's
samples to 2 % (docs/internals/storage.md, S5a).

Hand-written because it is the connection's own discipline: SQLite has no group commit, and the
sqlite3 module none either.

- The first unit of work of a turn opens the group (``BEGIN IMMEDIATE``) and schedules its
  COMMIT as a task, which runs after every callback already ready in that turn: an idle engine
  waits no longer than that turn.
- Each transaction runs inside a SAVEPOINT: its failure rolls back its own writes and raises to
  its own caller; the other members' writes stand.
- Every member returns only once the group has committed, so nobody acts on, or reports, a write
  that is not durable yet. A failed COMMIT rolls the group back and fails every member with the
  COMMIT's error: their work is undone, and contention re-runs it (S1).
- A read or an autocommit write while a group is open runs inside it (on the one connection it
  would see the group's rows anyway) and waits for the COMMIT too; with no group open it runs on
  its own, with no BEGIN.
- SQLite ends the whole transaction on some errors (a full disk, an I/O error). Such an error
  loses the group: every member that had joined it fails with that error, and the next unit of
  work opens a new group.
- A member cancelled while it waits still waits for the COMMIT before it re-raises: its writes
  may be committed, as with a COMMIT in flight to a server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dwarf._storage._sqlite_inline import InlineSqlite
from dwarf.errors import UnavailableError

__all__ = ["SharedSqlite"]

T = TypeVar("T")


class _Group:
    """One open write transaction shared by the units of work of one loop turn.

    Each member waits on a future of its own, which the COMMIT resolves. One shared future
    awaited through ``asyncio.shield`` did the same with a second future and two more callbacks
    per member, a tenth of a SQLite flow's event-loop callbacks (docs/internals/storage.md, S5a).
    """

    __slots__ = ("done", "error", "lost", "task", "waiters")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None
        """The error that failed the COMMIT, once ``done``."""
        self.lost: BaseException | None = None
        """The error that ended the transaction before its COMMIT, if one did."""
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[asyncio.Future[None]] = []

    def settle(self, error: BaseException | None) -> None:
        """The group ended: committed when ``error`` is None, else failed with it."""
        self.done = True
        self.error = error
        for waiter in self.waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        self.waiters.clear()

    async def committed(self) -> None:
        """Return once the group has committed (raise its error if it failed).

        A member cancelled meanwhile still waits for the group to end, then re-raises: its
        writes may be committed, as with a COMMIT in flight to a server.
        """
        try:
            await self._settled()
        except asyncio.CancelledError:
            while not self.done:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._settled()
            raise
        if self.error is not None:
            raise self.error

    async def _settled(self) -> None:
        if not self.done:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            with contextlib.suppress(Exception):
                await waiter


class SharedSqlite:
    """The process's one connection to a SQLite database: its lock and its open commit group."""

    def __init__(self, conn: InlineSqlite) -> None:
        self.conn = conn
        self.users = 0
        """Stores sharing the connection; the last one to close closes it."""
        self._lock = asyncio.Lock()
        self._group: _Group | None = None

    async def transaction(self, fn: Callable[[InlineSqlite], Awaitable[T]]) -> T:
        """Run ``fn`` atomically in the turn's group; return once the group has committed."""
        async with self._lock:
            group = await self._joined()
            await self.conn.execute("SAVEPOINT member")
            try:
                result = await fn(self.conn)
            except BaseException as exc:
                if self._survives(group, exc):
                    await self.conn.execute("ROLLBACK TO member")
                    await self.conn.execute("RELEASE member")
                raise
            await self.conn.execute("RELEASE member")
        await group.committed()
        return result

    async def statements(self, fn: Callable[[InlineSqlite], Awaitable[T]]) -> T:
        """Run ``fn``'s statements outside a transaction of their own.

        With no group open each statement commits by itself; inside an open group they join it,
        and this returns once the group has committed.
        """
        async with self._lock:
            group = self._group
            if group is None:
                return await fn(self.conn)
            try:
                result = await fn(self.conn)
            except BaseException as exc:
                self._survives(group, exc)
                raise
        await group.committed()
        return result

    async def settle(self) -> None:
        """Wait for the open group's COMMIT, if there is one (before closing the connection)."""
        group = self._group
        if group is not None:
            with contextlib.suppress(Exception):
                await group.committed()

    async def _joined(self) -> _Group:
        group = self._group
        if group is None:
            await self.conn.begin()
            group = self._group = _Group()
            group.task = asyncio.ensure_future(self._commit(group))
            group.task.add_done_callback(lambda _: self._abandon(group))
        return group

    def _survives(self, group: _Group, exc: BaseException) -> bool:
        """Whether the group's transaction outlived ``exc``; if not, the group is lost."""
        if self.conn.in_transaction:
            return True
        group.lost = exc
        self._group = None
        return False

    async def _commit(self, group: _Group) -> None:
        async with self._lock:
            if self._group is group:
                self._group = None
            if group.lost is not None:
                group.settle(group.lost)
                return
            try:
                await self.conn.commit()
            except asyncio.CancelledError:
                # InlineSqlite.commit re-raises a cancellation only once its COMMIT succeeded.
                group.settle(None)
                raise
            except Exception as exc:
                with contextlib.suppress(Exception):
                    self.conn.rollback()
                group.settle(exc)
                return
            group.settle(None)

    def _abandon(self, group: _Group) -> None:
        """After the COMMIT task ended: fail the members if it never reached the COMMIT.

        That happens only when the task is cancelled before it runs (a loop shutting down). The
        lock is free then: it is held across a suspension only by a large COMMIT in a worker
        thread, which belongs to an earlier group and ends before a new group can open.
        """
        if group.done:
            return
        if self._group is group:
            self._group = None
        if self.conn.in_transaction and not self._lock.locked():
            with contextlib.suppress(Exception):
                self.conn.rollback()
        group.settle(
            UnavailableError("the SQLite transaction was rolled back: its COMMIT was cancelled")
        )
