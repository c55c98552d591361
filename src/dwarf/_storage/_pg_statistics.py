"""PostgreSQL: statistics that keep up with a growing database until autovacuum does.

psycopg prepares a statement after its fifth execution, and PostgreSQL then settles on a
generic plan made on the tables as they are at that moment, which it keeps until their
statistics change. On a fresh database that moment comes while ``dwarf_steps`` is a few pages,
where reading the whole table is the cheapest plan even for a claim by primary key, and the
plan stays while the table grows, until autovacuum first analyzes it (at its next visit, a
minute later by default; never with autovacuum off): every claim then reads every step
(docs/internals/storage.md, S13). So a store looks at the statistics of the engine's two tables
after it has claimed 500 steps, then after 1,000, 2,000 and so on, doubling: a table with more
than twice the rows its statistics know (or none known) is analyzed. An ANALYZE makes every
session plan its prepared statements again, on the table as it is now. Where autovacuum keeps
up, the check finds nothing to do.

Hand-written, not generated: a catalog read and a maintenance command, not a query over the
engine's rows (sqlc cannot parse ANALYZE).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg

from dwarf.errors import DwarfError

__all__ = ["FIRST_CHECK_AFTER", "StatisticsUpkeep"]

FIRST_CHECK_AFTER = 500
"""Steps a store claims before its first look at the statistics. From a few hundred rows up,
the planner's generic claim finds its steps by primary key."""

# Whether either of the engine's tables (by the session's search_path) has at least
# FIRST_CHECK_AFTER rows and more than twice the rows its statistics know (reltuples is -1
# before the first ANALYZE).
_BEHIND = """
SELECT EXISTS (
    SELECT 1 FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.relid IN (to_regclass('dwarf_steps'), to_regclass('dwarf_flows'))
      AND s.n_live_tup >= %(least)s AND s.n_live_tup > 2 * c.reltuples
)
"""
# Both tables: the hot path's statements join them, so their plans want both up to date.
_ANALYZE = "ANALYZE dwarf_steps, dwarf_flows"


class StatisticsUpkeep:
    """Counts a store's claimed steps and analyzes its tables when their statistics fall behind.

    Each check runs as a background task on one of the store's connections, one at a time. It
    is best effort: a failure (a user who may not analyze the tables, a database going away)
    is dropped, since autovacuum takes the same statistics later.
    """

    def __init__(self, connection: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self._connection = connection
        self._claimed = 0
        self._next_check = FIRST_CHECK_AFTER
        self._task: asyncio.Task[None] | None = None

    def claimed(self, count: int) -> None:
        """Note ``count`` more claimed steps; starts a check at each doubling of the total."""
        self._claimed += count
        if self._claimed < self._next_check:
            return
        self._next_check = self._claimed * 2
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._analyze_if_behind())

    async def close(self) -> None:
        """Stop a check that is still running."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _analyze_if_behind(self) -> None:
        with contextlib.suppress(DwarfError, psycopg.Error, OSError):
            async with self._connection() as conn:
                cursor = await conn.execute(_BEHIND, {"least": FIRST_CHECK_AFTER})
                row = await cursor.fetchone()
                if row is not None and row[0]:
                    await conn.execute(_ANALYZE)
