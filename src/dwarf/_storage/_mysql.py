"""MySQL / MariaDB: asyncmy connections, and two-table writes on the hot path.

Fast paths (sql/queries/mysql/fastpath.sql): the completion and the flow-row write are one
multi-table UPDATE (both rows match and change, or neither). A flow's last step is that
statement alone, in autocommit; a step-to-successor transition is the successor's INSERT plus
that UPDATE in a transaction, rolled back when the UPDATE matched nothing. A start is one
multi-table UPDATE and a read, without BEGIN/COMMIT. Batches (``_group_commit``) run these
statements for every item in ONE transaction, and no item needs a savepoint: each finish is one
all-or-nothing UPDATE, and an advance inserts its successor only while its lease and its flow
hold (``InsertSuccessorOfLeased``), so a fenced-out item writes nothing. Should the lease or the
flow change between that INSERT and the UPDATE after it, the UPDATE matches nothing and the
batch rolls back whole, its items then written alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dwarf._storage._connect import connect_mysql
from dwarf._storage._dsn import Dsn
from dwarf._storage._gen import mysql as my
from dwarf._storage._hot_path import Advance, Finish, NothingWritten
from dwarf._storage._pool import Pool
from dwarf._storage._records import StartedFlow
from dwarf._storage._store import Store

__all__ = ["MysqlStore"]


class MysqlStore(Store):
    """A MySQL/MariaDB shard: a bounded pool of asyncmy connections in autocommit."""

    dialect = "mysql"

    def __init__(self, index: int, dsn: Dsn, size: int) -> None:
        super().__init__(index, dsn, my)
        self._pool: Pool[Any] = Pool(
            self._connect,
            size,
            close=_close,
            alive=lambda conn: bool(conn.connected),
            idle_ok=_open,
        )

    @classmethod
    async def open(cls, index: int, dsn: Dsn, size: int) -> MysqlStore:
        """Open shard ``index`` with up to ``size`` connections; fails now on a bad DSN."""
        store = cls(index, dsn, size)
        await store._pool.warm()
        return store

    async def _connect(self) -> Any:
        conn = await connect_mysql(self.dsn)
        # Autocommit: reads cost one round trip; transactions say BEGIN/COMMIT explicitly.
        await conn.autocommit(True)
        return conn

    def _acquire(self) -> Any:
        return self._pool.connection()

    async def _begin(self, conn: Any) -> None:
        await conn.begin()

    async def _commit(self, conn: Any) -> None:
        await conn.commit()

    async def _rollback(self, conn: Any) -> None:
        await conn.rollback()

    async def _close(self) -> None:
        await self._pool.close()

    # --- fast paths -----------------------------------------------------------------------

    async def start_flow(self, flow_id: int, flow_token: str, hostname: str) -> StartedFlow:
        async def start_and_read(conn: Any) -> StartedFlow | None:
            written = await my.start_flow_and_steps(
                conn, flow_id=flow_id, flow_token=flow_token, notify_hostname=hostname
            )
            if not written:
                return None
            entry = await my.get_entry_schedule(conn, flow_id=flow_id)
            # Started; with no entry row to ring (deleted meanwhile) there is nothing to run.
            if entry is None:
                return StartedFlow(0, 0)
            return StartedFlow(entry.step_id, entry.delay_ms, entry.workflow_name)

        # Only the UPDATE can lose a lock race, and then it wrote nothing: a re-run is safe.
        started = await self._autocommit_on_connection(start_and_read)
        if started is None:
            # Not started: the portable transaction says why (404, 409) or wins a race.
            return await super().start_flow(flow_id, flow_token, hostname)
        return started

    async def _advance_one(self, item: Advance) -> int:
        try:
            return await self._transact_on_connection(
                lambda conn: _advance(conn, item), self.advance_to_successor
            )
        except NothingWritten:
            return 0

    async def _advance_many(self, items: Sequence[Advance]) -> list[int]:
        # NothingWritten here (the lease or the flow changed between an item's two statements)
        # fails the batch as a whole: its items are then written alone.
        async def advance_each(conn: Any) -> list[int]:
            return [await _advance(conn, item) for item in items]

        return await self._transact_on_connection(advance_each, self.advance_to_successor)

    async def _finish_one(self, item: Finish) -> bool:
        return bool(
            await self._autocommit_on_connection(lambda conn: _finish(conn, item), self.finish_flow)
        )

    async def _finish_many(self, items: Sequence[Finish]) -> list[bool]:
        async def finish_each(conn: Any) -> list[bool]:
            return [bool(await _finish(conn, item)) for item in items]

        return await self._transact_on_connection(finish_each, self.finish_flow)


async def _advance(conn: Any, item: Advance) -> int:
    """The fenced successor INSERT, then the two-table UPDATE linking to it: its id (0: none)."""
    done, successor = item
    successor_id = await my.insert_successor_of_leased(
        conn,
        step_depth=successor.depth,
        step_token=successor.token,
        task_name=successor.task_name,
        state=successor.state,
        time_budget_ms=successor.time_budget_ms,
        lineage_id=successor.lineage_id,
        fan_out_ordinal=successor.ordinal,
        priority=successor.priority,
        fairness_key=successor.fairness_key,
        fairness_weight=successor.fairness_weight,
        state_base=successor.state_base,
        delay_ms=successor.delay_ms,
        predecessor_id=done.step_id,
        lease_seq=done.lease_seq,
    )
    if not successor_id:
        return 0
    written = await my.complete_step_linked_and_touch(
        conn,
        changes=done.changes,
        goto_next=done.goto_next,
        successor_id=successor_id,
        step_id=done.step_id,
        lease_seq=done.lease_seq,
    )
    if not written:
        raise NothingWritten
    return successor_id


async def _finish(conn: Any, item: Finish) -> int:
    """The fenced two-table UPDATE completing the step and its flow: rows changed (0: none)."""
    done, _flow_id, final_state = item
    return await my.complete_step_and_flow(
        conn,
        changes=done.changes,
        goto_next=done.goto_next,
        final_state=final_state,
        step_id=done.step_id,
        lease_seq=done.lease_seq,
    )


async def _close(conn: Any) -> None:
    conn.close()


def _open(conn: Any) -> bool:
    """asyncmy reads its socket in the background: a killed connection's transport is closing."""
    transport = getattr(conn, "_transport", None)
    return transport is None or not transport.is_closing()
