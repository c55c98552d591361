"""MySQL / MariaDB: asyncmy connections, and two-table writes on the hot path.

Fast paths (sql/queries/mysql/fastpath.sql): a step-to-successor transition is the successor's
INSERT plus one multi-table UPDATE (the completion and the flow row: both match and change, or
neither) in a transaction, rolled back when the UPDATE matched nothing. A start is one
multi-table UPDATE and a read, without BEGIN/COMMIT. A flow's last step takes the portable
transaction: as one multi-table UPDATE it would write the flow's final state through an on-disk
temporary table (storage.md S12b).
"""

from __future__ import annotations

from typing import Any

from dwarf._storage._connect import connect_mysql
from dwarf._storage._dsn import Dsn
from dwarf._storage._gen import mysql as my
from dwarf._storage._gen.tx import Tx
from dwarf._storage._pool import Pool
from dwarf._storage._records import Completion, NewStep, StartedFlow
from dwarf._storage._store import Store

__all__ = ["MysqlStore"]


class _NothingWritten(Exception):
    """The fenced two-table UPDATE matched nothing: roll the transaction back."""


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

    async def advance_to_successor(self, done: Completion, successor: NewStep) -> int:
        async def insert_and_complete(conn: Any) -> int:
            successor_id = await self.insert_step(Tx(my, conn), successor)
            written = await my.complete_step_linked_and_touch(
                conn,
                changes=done.changes,
                goto_next=done.goto_next,
                successor_id=successor_id,
                step_id=done.step_id,
                lease_seq=done.lease_seq,
            )
            if not written:
                raise _NothingWritten
            return successor_id

        try:
            return await self._transact_on_connection(insert_and_complete)
        except _NothingWritten:
            return 0


async def _close(conn: Any) -> None:
    conn.close()


def _open(conn: Any) -> bool:
    """asyncmy reads its socket in the background: a killed connection's transport is closing."""
    transport = getattr(conn, "_transport", None)
    return transport is None or not transport.is_closing()
