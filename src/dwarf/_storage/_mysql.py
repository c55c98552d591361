"""MySQL / MariaDB: asyncmy connections, and the hot path in one round trip per operation.

Fast paths (sql/queries/mysql/fastpath.sql, storage.md S12b, S12c, S12d): a start is one
multi-table UPDATE (the flow and its created steps) and a read, sent as one query. Creates,
step-to-successor transitions and flows' last steps go through a ``GroupCommit`` each: alone, a
stored procedure's CALL (sql/schema/mysql/0008) with the read of the answer it leaves in a user
variable, as one query (``_mysql_script``); several at once, one CALL of a batch procedure
(0011) that writes them all in one transaction. Either way each item keeps the fences of the
statements it replaces (a lost lease or an ended flow writes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dwarf._storage._batch_items import (
    AdvanceItem,
    CreateItem,
    Finish,
    advance_weight,
    create_weight,
    finish_weight,
    flow_documents,
    heavy_advance,
    heavy_finish,
)
from dwarf._storage._claims import (
    Advanced,
    Created,
    claimed_entry,
    claimed_or_read_back,
    claimed_successor,
    written_or_found,
)
from dwarf._storage._connect import connect_mysql
from dwarf._storage._dsn import Dsn
from dwarf._storage._faults import replay_unsafe
from dwarf._storage._gen import mysql as my
from dwarf._storage._gen.rows import FlowRow
from dwarf._storage._gen.tx import Tx
from dwarf._storage._group_commit import GroupCommit
from dwarf._storage._mysql_script import Script, replay
from dwarf._storage._mysql_writes import (
    advance_many,
    advance_one,
    create_many,
    create_one,
    finish_many,
    finish_one,
)
from dwarf._storage._pool import Pool
from dwarf._storage._records import (
    ClaimedStep,
    Completion,
    FlowIds,
    Lease,
    NewFlow,
    NewStep,
    StartedFlow,
)
from dwarf._storage._store import Store
from dwarf.errors import UnavailableError

__all__ = ["MysqlStore"]


class MysqlStore(Store):
    """A MySQL/MariaDB shard: a bounded pool of asyncmy connections in autocommit."""

    dialect = "mysql"
    claims_successors = True
    claims_entries = True

    def __init__(self, index: int, dsn: Dsn, size: int) -> None:
        super().__init__(index, dsn, my)
        self._pool: Pool[Any] = Pool(
            self._connect,
            size,
            close=_close,
            alive=lambda conn: bool(conn.connected),
            idle_ok=_open,
        )
        # Each in a writer task of its own, as on PostgreSQL; a batch is one procedure's CALL
        # in one packet, so its documents are bounded as a script's are.
        self._creates = GroupCommit(
            self._create_one,
            self._create_many,
            weight=create_weight,
            capacity=SCRIPT_DOCUMENT_LIMIT,
        )
        self._advances = GroupCommit(
            self._advance_one,
            self._advance_many,
            heavy_advance,
            weight=advance_weight,
            capacity=SCRIPT_DOCUMENT_LIMIT,
        )
        self._finishes = GroupCommit(
            self._finish_one,
            self._finish_many,
            heavy_finish,
            weight=finish_weight,
            capacity=SCRIPT_DOCUMENT_LIMIT,
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
            # One query: the UPDATE commits on its own, the read after it sees what it wrote.
            script = Script(conn)
            await my.start_flow_and_steps(
                script, flow_id=flow_id, flow_token=flow_token, notify_hostname=hostname
            )
            await my.get_entry_schedule(script, flow_id=flow_id)
            written, read = await script.run()
            if not written.rowcount:
                return None
            entry = await my.get_entry_schedule(replay(read), flow_id=flow_id)
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

    async def create_flow(self, new: NewFlow, *, start: bool) -> FlowIds:
        """Insert a new flow with its entry step, with the creates of the moment (S12d)."""
        if _over_script_limit(*flow_documents(new)):
            return await super().create_flow(new, start=start)
        created = await self._creates.write((new, start, None))
        return FlowIds(created.flow_id, created.step_id)

    async def create_flow_claiming_entry(self, new: NewFlow, lease: Lease) -> ClaimedStep:
        """``create_flow(new, start=True)`` with the entry inserted claimed (D13), batched too.

        Too large for one script, the portable transaction inserts the flow and claims its entry
        before it commits. A reply lost after the commit reads the entry back by its token.
        """

        async def write() -> ClaimedStep:
            if _over_script_limit(*flow_documents(new)):
                return await self._create_claiming_portably(new, lease)
            return claimed_entry(new, await self._creates.write((new, True, lease)))

        return await written_or_found(
            write,
            lambda: self._found_claimed(
                lambda conn: my.find_claimed_entry(
                    conn, lease_owner=lease.owner, step_token=new.entry_token
                ),
                lease.owner,
            ),
        )

    async def _create_claiming_portably(self, new: NewFlow, lease: Lease) -> ClaimedStep:
        async def create_and_claim(db: Tx) -> int:
            ids = await self.insert_flow(db, new, start=True)
            # Uncommitted, the entry is this transaction's alone: the claim cannot miss it.
            await db.claim_steps(
                step_ids=[ids.entry_step_id],
                lease_owner=lease.owner,
                lease_margin_ms=lease.margin_ms,
            )
            return ids.entry_step_id

        with replay_unsafe():
            entry_id = await self.transact(create_and_claim, self.create_flow)
        claimed = await self._read_back_claimed([entry_id], lease.owner)
        if not claimed:  # cancelled or deleted since: as a claim that lost the step
            raise UnavailableError(f"shard {self.index}: the new flow's entry step is gone")
        return claimed[0]

    async def advance_to_successor(self, done: Completion, successor: NewStep) -> int:
        """Complete a claimed step and insert its successor, with the advances of the moment."""
        if _over_script_limit(successor.state, done.changes):
            return await super().advance_to_successor(done, successor)
        advanced = await self._advances.write((done, successor, None))
        return advanced.successor_id if advanced is not None else 0

    async def advance_claiming_successor(
        self, done: Completion, successor: NewStep, lease: Lease, flow: FlowRow
    ) -> ClaimedStep | int:
        """``advance_to_successor`` with the successor inserted claimed (D13), in the same batch.

        Whenever it writes, the successor is claimed (0: nothing written).
        """
        if _over_script_limit(successor.state, done.changes):
            return await self.advance_to_successor(done, successor)

        async def write() -> ClaimedStep | None:
            advanced = await self._advances.write((done, successor, lease))
            return None if advanced is None else claimed_successor(done, successor, advanced, flow)

        return await claimed_or_read_back(
            write,
            lambda: self._found_claimed(
                lambda conn: my.find_claimed_successor(
                    conn,
                    flow_id=successor.flow_id,
                    predecessor_id=done.step_id,
                    step_token=successor.token,
                    lease_owner=lease.owner,
                ),
                lease.owner,
            ),
        )

    async def finish_flow(self, done: Completion, flow_id: int, final_state: str) -> bool:
        """Complete a flow's last step and the flow, with the finishes of the moment (S12d)."""
        if _over_script_limit(done.changes, final_state):
            return await super().finish_flow(done, flow_id, final_state)
        return await self._finishes.write((done, flow_id, final_state))

    # Creates are not fenced: a batch of them, or one, sent as one query and cut off may have
    # committed, so it is never sent twice (S10). Advances and finishes are fenced: a re-run
    # after a lost reply finds its steps completed and writes nothing.

    async def _create_one(self, item: CreateItem) -> Created:
        with replay_unsafe():
            return await self._autocommit_on_connection(
                lambda conn: create_one(conn, item), self.create_flow
            )

    async def _create_many(self, items: Sequence[CreateItem]) -> list[Created]:
        with replay_unsafe():
            return await self._autocommit_on_connection(
                lambda conn: create_many(conn, items), self.create_flow
            )

    async def _advance_one(self, item: AdvanceItem) -> Advanced | None:
        return await self._autocommit_on_connection(
            lambda conn: advance_one(conn, item), self.advance_to_successor
        )

    async def _advance_many(self, items: Sequence[AdvanceItem]) -> list[Advanced | None]:
        return await self._autocommit_on_connection(
            lambda conn: advance_many(conn, items), self.advance_to_successor
        )

    async def _finish_one(self, item: Finish) -> bool:
        return await self._autocommit_on_connection(
            lambda conn: finish_one(conn, item), self.finish_flow
        )

    async def _finish_many(self, items: Sequence[Finish]) -> list[bool]:
        return await self._autocommit_on_connection(
            lambda conn: finish_many(conn, items), self.finish_flow
        )


SCRIPT_DOCUMENT_LIMIT = 2_000_000
"""Most characters of JSON a script carries; one that would carry more takes the portable path.

A script is one packet, and MariaDB refuses a packet over ``max_allowed_packet`` (16 MiB by
default). ``MAX_STATE_BYTES`` keeps one statement's documents under it, but a script joins its
statements' documents: kept under 2,000,000 characters (at most 4 bytes each once escaped), a
script stays under half the default packet, and a larger write goes statement by statement in
the portable transaction (storage.md S12b).
"""


def _over_script_limit(*documents: str) -> bool:
    """Whether ``documents`` together are too large for one script (``SCRIPT_DOCUMENT_LIMIT``)."""
    return sum(map(len, documents)) > SCRIPT_DOCUMENT_LIMIT


async def _close(conn: Any) -> None:
    conn.close()


def _open(conn: Any) -> bool:
    """asyncmy reads its socket in the background: a killed connection's transport is closing."""
    transport = getattr(conn, "_transport", None)
    return transport is None or not transport.is_closing()
