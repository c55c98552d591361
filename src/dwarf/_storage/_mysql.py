"""MySQL / MariaDB: asyncmy connections, and the hot path in one round trip per operation.

Fast paths (sql/queries/mysql/fastpath.sql, storage.md S12b, S12c): a start is one multi-table
UPDATE (the flow and its created steps) and a read, sent as one query. A create, a step-to-successor
transition and a flow's last step are stored procedures (sql/schema/mysql/0008), each running its
own transaction with the fences of the statements it replaces (a lost lease or an ended flow
writes nothing); each is called with the read of the answer it leaves in a user variable as one
query (``_mysql_script``).
"""

from __future__ import annotations

from typing import Any

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
from dwarf._storage._mysql_script import Script, replay
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
from dwarf.workflow import Status

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
        if _over_script_limit(*_documents(new)):
            return await super().create_flow(new, start=start)
        # Sent as one query, a create cut off may have committed: never sent twice (S10).
        with replay_unsafe():
            created = await self._autocommit_on_connection(
                lambda conn: _create(conn, new, start, None), self.create_flow
            )
        return FlowIds(created.flow_id, created.step_id)

    async def create_flow_claiming_entry(self, new: NewFlow, lease: Lease) -> ClaimedStep:
        """``create_flow(new, start=True)`` with the entry inserted claimed (D13): one query, the
        procedure's CALL with the lease and the read of what it left, as for a pending entry.

        Too large for one script, the portable transaction inserts the flow and claims its entry
        before it commits. A reply lost after the commit reads the entry back by its token.
        """

        async def write() -> ClaimedStep:
            if _over_script_limit(*_documents(new)):
                return await self._create_claiming_portably(new, lease)
            with replay_unsafe():
                created = await self._autocommit_on_connection(
                    lambda conn: _create(conn, new, True, lease), self.create_flow
                )
            return claimed_entry(new, created)

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
        if _over_script_limit(successor.state, done.changes):
            return await super().advance_to_successor(done, successor)

        async def advance(conn: Any) -> int:
            # One query: the procedure runs its own transaction; the read takes its answer.
            script = Script(conn)
            await _call_advance(script, done, successor, None)
            await my.advanced_successor(script)
            _, read = await script.run()
            return await my.advanced_successor(replay(read)) or 0

        # Fenced: a re-run after a lost reply finds the step completed and writes nothing.
        return await self._autocommit_on_connection(advance, self.advance_to_successor)

    async def advance_claiming_successor(
        self, done: Completion, successor: NewStep, lease: Lease, flow: FlowRow
    ) -> ClaimedStep | int:
        """``advance_to_successor`` with the successor inserted claimed (D13): one query, the
        procedure's CALL with the lease and the read of what it left, as for a pending one."""
        if _over_script_limit(successor.state, done.changes):
            return await self.advance_to_successor(done, successor)

        async def advance(conn: Any) -> ClaimedStep | None:
            # One query: the CALL and the read of what it left, as for a pending successor.
            script = Script(conn)
            await _call_advance(script, done, successor, lease)
            await my.claimed_successor(script)
            _, read = await script.run()
            left = await my.claimed_successor(replay(read))
            if left is None or not left.successor_id:
                return None  # nothing written
            return claimed_successor(
                done,
                successor,
                Advanced(
                    left.successor_id,
                    left.created_at,
                    left.base_lease_seq,
                    left.flow_status,
                    left.flow_breakpoints,
                    left.flow_updated_at,
                ),
                flow,
            )

        return await claimed_or_read_back(
            lambda: self._autocommit_on_connection(advance, self.advance_to_successor),
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
        if _over_script_limit(done.changes, final_state):
            return await super().finish_flow(done, flow_id, final_state)

        async def finish(conn: Any) -> bool:
            # One query: the procedure runs its own transaction; the read takes its answer.
            script = Script(conn)
            await my.finish_by_procedure(
                script,
                step_id=done.step_id,
                lease_seq=done.lease_seq,
                changes=done.changes,
                goto_next=done.goto_next,
                flow_id=flow_id,
                final_state=final_state,
            )
            await my.finished(script)
            _, read = await script.run()
            return await my.finished(replay(read)) == 1

        # Fenced: a re-run after a lost reply finds the step completed and writes nothing.
        return await self._autocommit_on_connection(finish, self.finish_flow)


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


def _documents(new: NewFlow) -> tuple[str, ...]:
    """The JSON documents a create's script carries."""
    return new.graph, new.baggage, new.breakpoints, new.state


async def _close(conn: Any) -> None:
    conn.close()


def _open(conn: Any) -> bool:
    """asyncmy reads its socket in the background: a killed connection's transport is closing."""
    transport = getattr(conn, "_transport", None)
    return transport is None or not transport.is_closing()


async def _create(conn: Any, new: NewFlow, start: bool, lease: Lease | None) -> Created:
    """Create ``new`` in one query: dwarf_create's CALL and the read of what it left."""
    script = Script(conn)
    thread_id, thread_token = new.thread or (0, "")
    await my.create_by_procedure(
        script,
        flow_token=new.token,
        workflow_name=new.workflow_name,
        graph=new.graph,
        baggage=new.baggage,
        flow_status=Status.RUNNING if start else Status.CREATED,
        surgraph_flow_id=new.parent_flow_id,
        surgraph_step_depth=new.caller_depth,
        surgraph_step_id=new.caller_step_id,
        root_flow_id=new.root_flow_id,
        thread_id=thread_id,
        thread_token=thread_token,
        trace_parent=new.trace_parent,
        breakpoints=new.breakpoints,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        time_budget_ms=new.time_budget_ms,
        delete_on_completion=new.delete_on_completion,
        step_depth=new.caller_depth + 1,
        step_token=new.entry_token,
        task_name=new.entry,
        state=new.state,
        step_status=Status.PENDING if start else Status.CREATED,
        step_time_budget_ms=new.entry_time_budget_ms,
        delay_ms=new.delay_ms,
        lease_owner=lease.owner if lease else "",
        lease_margin_ms=lease.margin_ms if lease else 0,
    )
    await my.created_flow(script)
    _, read = await script.run()
    created = await my.created_flow(replay(read))
    if created is None:  # a SELECT of variables always answers one row
        raise RuntimeError("dwarf_create left no answer")
    return Created(created.flow_id, created.step_id, created.created_at)


async def _call_advance(
    script: Script, done: Completion, successor: NewStep, lease: Lease | None
) -> None:
    """Record dwarf_advance's CALL in ``script``: the successor pending, or claimed (D13)."""
    await my.advance_by_procedure(
        script,
        step_id=done.step_id,
        lease_seq=done.lease_seq,
        changes=done.changes,
        goto_next=done.goto_next,
        flow_id=successor.flow_id,
        step_depth=successor.depth,
        step_token=successor.token,
        task_name=successor.task_name,
        state=successor.state,
        state_base=successor.state_base,
        time_budget_ms=successor.time_budget_ms,
        lineage_id=successor.lineage_id,
        fan_out_ordinal=successor.ordinal,
        predecessor_id=successor.predecessor_id,
        priority=successor.priority,
        fairness_key=successor.fairness_key,
        fairness_weight=successor.fairness_weight,
        delay_ms=successor.delay_ms,
        lease_owner=lease.owner if lease else "",
        lease_margin_ms=lease.margin_ms if lease else 0,
    )
