"""PostgreSQL: psycopg connections, and the hot path as one statement per operation.

Fast paths (sql/queries/postgresql/fastpath.sql): create(+start), start, a step-to-one-
successor transition and a flow's last step (each also as a batch of the callers of the
moment, S12), and a batch's claim with its steps and their flows read back, are ONE statement
each, run in autocommit (data-modifying CTEs). A statement cannot roll itself back after
seeing a row count, so each write is conditioned on the one before (completion -> flow row ->
successor), and the completion requires the flow to be live: "lease lost" and "flow ended"
write nothing (docs/internals/storage.md, rule S7).
"""

from __future__ import annotations

import select
from collections.abc import AsyncIterator, Callable, Sequence
from operator import attrgetter
from typing import Any

import psycopg
import psycopg.sql
from psycopg import AsyncConnection

from dwarf._storage._batch_items import (
    AdvanceItem,
    CreateItem,
    Finish,
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
from dwarf._storage._connect import connect_postgresql
from dwarf._storage._dsn import Dsn
from dwarf._storage._faults import replay_unsafe
from dwarf._storage._gen import postgresql as pg
from dwarf._storage._gen.rows import (
    ClaimDueBandRow,
    ClaimedStepRow,
    ClaimStepsWithFlowsRow,
    FlowRow,
    LeasedStepRow,
)
from dwarf._storage._group_commit import GroupCommit
from dwarf._storage._pg_arrays import FlatListDumper
from dwarf._storage._pg_creates import create_many, create_one
from dwarf._storage._pg_statistics import StatisticsUpkeep
from dwarf._storage._pg_successors import advance_many, advance_one
from dwarf._storage._pool import Pool
from dwarf._storage._records import (
    BandClaim,
    ClaimedStep,
    Completion,
    FlowIds,
    Lease,
    NewFlow,
    NewStep,
    StartedFlow,
)
from dwarf._storage._store import Store
from dwarf.errors import DwarfError, UnavailableError

__all__ = ["PostgresqlStore"]

Connection = AsyncConnection[Any]


class PostgresqlStore(Store):
    """A PostgreSQL shard: a bounded pool of psycopg connections in autocommit."""

    dialect = "postgresql"
    claims_due_bands = True
    claims_successors = True
    claims_entries = True

    def __init__(self, index: int, dsn: Dsn, size: int) -> None:
        super().__init__(index, dsn, pg)
        self._pool: Pool[Connection] = Pool(
            self._connect, size, close=_close, alive=lambda conn: not conn.closed, idle_ok=_quiet
        )
        # Each in a writer task of its own: no caller's cancellation cuts a batch off, which
        # could have committed the others' writes (a create sent again would insert its flow
        # twice; a start would find it running and answer 409).
        self._creates = GroupCommit(self._create_one, self._create_many)
        self._starts = GroupCommit(self._start_one, self._start_many)
        self._advances = GroupCommit(self._advance_one, self._advance_many, heavy_advance)
        self._finishes = GroupCommit(self._finish_one, self._finish_many, heavy_finish)
        self._statistics = StatisticsUpkeep(self._pool.connection)

    @classmethod
    async def open(cls, index: int, dsn: Dsn, size: int) -> PostgresqlStore:
        """Open shard ``index`` with up to ``size`` connections; fails now on a bad DSN."""
        store = cls(index, dsn, size)
        await store._pool.warm()
        return store

    async def _connect(self) -> Connection:
        conn = await connect_postgresql(self.dsn)
        conn.prepare_threshold = PREPARE_THRESHOLD
        # The batch statements' array parameters, in one pass each (_pg_arrays).
        conn.adapters.register_dumper(list, FlatListDumper)
        try:
            await pg.configure_connection(conn)
            # Autocommit: reads cost one round trip; transactions say BEGIN/COMMIT explicitly.
            await conn.set_autocommit(True)
        except BaseException:
            await conn.close()
            raise
        return conn

    def _acquire(self) -> Any:
        return self._pool.connection()

    async def _begin(self, conn: Connection) -> None:
        await conn.execute("BEGIN")

    async def _commit(self, conn: Connection) -> None:
        await conn.execute("COMMIT")

    async def _rollback(self, conn: Connection) -> None:
        await conn.execute("ROLLBACK")

    async def _close(self) -> None:
        await self._statistics.close()
        await self._pool.close()

    # --- signals: LISTEN/NOTIFY on the shard's own database ------------------------------

    carries_signals = True

    async def signal(self, channel: str, payload: str) -> None:
        """``pg_notify``: delivered to every listener once the (autocommit) statement ends."""
        async with self._pool.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    async def signals(self, channel: str) -> AsyncIterator[str]:
        """``LISTEN`` on a dedicated connection; any failure ends it with ``UnavailableError``."""
        try:
            conn = await connect_postgresql(self.dsn)
        except DwarfError as exc:
            raise UnavailableError(f"shard {self.index}: cannot listen: {exc}") from None
        try:
            await conn.set_autocommit(True)
            await conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
            async for notice in conn.notifies():
                yield notice.payload
        except (psycopg.Error, OSError) as exc:
            raise UnavailableError(f"shard {self.index}: listening stopped: {exc}") from None
        finally:
            await _close(conn)

    # --- fast paths -----------------------------------------------------------------------

    async def create_flow(self, new: NewFlow, *, start: bool) -> FlowIds:
        """Insert a new flow with its entry step, with the creates of the moment (S12)."""
        created = await self._creates.write((new, start, None))
        return FlowIds(created.flow_id, created.step_id)

    async def create_flow_claiming_entry(self, new: NewFlow, lease: Lease) -> ClaimedStep:
        """``create_flow(new, start=True)`` with the entry inserted claimed (D13), batched too.

        A reply lost after the commit finds the entry by its token among what the owner holds.
        """

        async def write() -> ClaimedStep:
            return claimed_entry(new, await self._creates.write((new, True, lease)))

        async def find() -> ClaimedStep | None:
            leased = await self._patiently(
                lambda: self._autocommit_on_connection(
                    lambda conn: pg.list_leased_steps(conn, lease_owner=lease.owner)
                )
            )
            mine = [row.step_id for row in leased if row.step_token == new.entry_token]
            found = await self._read_back_claimed(mine, lease.owner) if mine else []
            return found[0] if found else None

        return await written_or_found(write, find)

    async def advance_to_successor(self, done: Completion, successor: NewStep) -> int:
        """Complete a claimed step and insert its successor, with the advances of the moment."""
        advanced = await self._advances.write((done, successor, None))
        return advanced.successor_id if advanced is not None else 0

    async def advance_claiming_successor(
        self, done: Completion, successor: NewStep, lease: Lease, flow: FlowRow
    ) -> ClaimedStep | int:
        """``advance_to_successor`` with the successor inserted claimed (D13), in the same batch.

        One statement: whenever it writes, the successor is claimed (0: nothing written).
        """

        async def write() -> ClaimedStep | None:
            advanced = await self._advances.write((done, successor, lease))
            return None if advanced is None else claimed_successor(done, successor, advanced, flow)

        return await claimed_or_read_back(
            write,
            lambda: self._found_claimed(
                lambda conn: pg.find_claimed_successor(
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
        """Complete a flow's last step and the flow, with the finishes of the moment (S12)."""
        return await self._finishes.write((done, flow_id, final_state))

    async def _create_one(self, item: CreateItem) -> Created:
        with replay_unsafe():
            return await self._autocommit_on_connection(
                lambda conn: create_one(conn, item), self.create_flow
            )

    async def _create_many(self, items: Sequence[CreateItem]) -> list[Created]:
        # One statement for the whole batch (S12), as _advance_many. A fault that may have hit
        # its commit is UnavailableError for every caller in it (replay-unsafe, S10).
        with replay_unsafe():
            return await self._autocommit_on_connection(
                lambda conn: create_many(conn, items), self.create_flow
            )

    async def claim(self, step_ids: Sequence[int], owner: str, margin_ms: int) -> list[ClaimedStep]:
        attempts = 0

        async def claim(conn: Connection) -> list[ClaimStepsWithFlowsRow]:
            nonlocal attempts
            attempts += 1
            return await pg.claim_steps_with_flows(
                conn, step_ids=step_ids, lease_owner=owner, lease_margin_ms=margin_ms
            )

        try:
            rows = await self._autocommit_on_connection(claim)
        except UnavailableError:
            rows = None  # unknown: the UPDATE may have committed before its connection went
        if rows is None or attempts > 1:
            # What a first run committed is read back by owner, as the portable claim does
            # (docs/internals/storage.md, S10).
            return await self._read_back_claimed(step_ids, owner)
        # Prepared plans made on a much smaller table read all of it (S13).
        self._statistics.claimed(len(rows))
        return [_claimed(row) for row in rows]

    async def claim_due_band(
        self, wanted: int, owner: str, margin_ms: int, held: Callable[[LeasedStepRow], bool]
    ) -> list[BandClaim]:
        """The best due band in one statement when it fits ``wanted`` (ClaimDueBand, D12)."""
        attempts = 0

        async def claim(conn: Connection) -> list[ClaimDueBandRow]:
            nonlocal attempts
            attempts += 1
            return await pg.claim_due_band(
                conn, row_limit=wanted + 1, lease_owner=owner, lease_margin_ms=margin_ms
            )

        try:
            rows = await self._autocommit_on_connection(claim)
        except UnavailableError:
            rows = None  # unknown: the claim may have committed before its connection went
        if rows is None or attempts > 1:
            # The band's ids are unknown here: what a lost reply won is every step this owner
            # holds running that the dispatcher does not know it holds, or will (storage.md,
            # S10; a step claimed as it was inserted, D13, is known once its write returns).
            leased = await self._patiently(
                lambda: self._autocommit_on_connection(
                    lambda conn: pg.list_leased_steps(conn, lease_owner=owner)
                )
            )
            orphans = [row.step_id for row in leased if not held(row)]
            won = await self._read_back_claimed(orphans, owner) if orphans else []
            return [BandClaim(step, 0) for step in won]
        self._statistics.claimed(len(rows))
        return [BandClaim(_claimed(row), row.wait_ms) for row in rows]

    async def start_flow(self, flow_id: int, flow_token: str, hostname: str) -> StartedFlow:
        # Written with the starts of other callers at the same moment (S12).
        started = await self._starts.write((flow_id, flow_token, hostname))
        if started is None:
            # Not started: the portable transaction says why (404, 409) or wins a race.
            return await super().start_flow(flow_id, flow_token, hostname)
        return started

    async def _start_one(self, item: tuple[int, str, str]) -> StartedFlow | None:
        flow_id, flow_token, hostname = item
        started = await self._autocommit_on_connection(
            lambda conn: pg.start_created_flow(
                conn, flow_id=flow_id, flow_token=flow_token, notify_hostname=hostname
            ),
            self.start_flow,
        )
        if started is None:
            return None
        return StartedFlow(started.step_id, started.delay_ms, started.workflow_name)

    async def _start_many(self, items: Sequence[tuple[int, str, str]]) -> list[StartedFlow | None]:
        rows = await self._autocommit_on_connection(
            lambda conn: pg.start_created_flows(
                conn,
                flow_ids=[flow_id for flow_id, _, _ in items],
                flow_tokens=[flow_token for _, flow_token, _ in items],
                notify_hostnames=[hostname for _, _, hostname in items],
            ),
            self.start_flow,
        )
        return [
            StartedFlow(row.step_id, row.delay_ms, row.workflow_name) if row.started else None
            for row in rows
        ]

    async def _advance_one(self, item: AdvanceItem) -> Advanced | None:
        return await self._autocommit_on_connection(
            lambda conn: advance_one(conn, item), self.advance_to_successor
        )

    async def _advance_many(self, items: Sequence[AdvanceItem]) -> list[Advanced | None]:
        # One statement for the whole batch (S12): an array per field, an element per item.
        return await self._autocommit_on_connection(
            lambda conn: advance_many(conn, items), self.advance_to_successor
        )

    async def _finish_one(self, item: Finish) -> bool:
        done, flow_id, final_state = item
        result = await self._autocommit_on_connection(
            lambda conn: pg.finish_with_step(
                conn,
                changes=done.changes,
                goto_next=done.goto_next,
                step_id=done.step_id,
                lease_seq=done.lease_seq,
                flow_id=flow_id,
                final_state=final_state,
            ),
            self.finish_flow,
        )
        # finished = 0 with completed = 1: the flow ended under the statement (see above).
        return result is not None and result.completed and result.finished

    async def _finish_many(self, items: Sequence[Finish]) -> list[bool]:
        # One statement for the whole batch (S12), as _advance_many.
        rows = await self._autocommit_on_connection(
            lambda conn: pg.finish_with_steps(
                conn,
                step_ids=[done.step_id for done, _, _ in items],
                lease_seqs=[done.lease_seq for done, _, _ in items],
                flow_ids=[flow_id for _, flow_id, _ in items],
                step_changes=[done.changes for done, _, _ in items],
                gotos=[done.goto_next for done, _, _ in items],
                final_states=[final_state for _, _, final_state in items],
            ),
            self.finish_flow,
        )
        return [row.completed and row.finished for row in rows]


PREPARE_THRESHOLD = 1
"""Executions of a statement on a connection before psycopg prepares it there (its default: 5).

The hot path's statements are few and run thousands of times; each unprepared run is parsed and
planned again, and a pool of connections pays that five times per statement and connection:
about one execution in six of a fresh engine's first thousand flows. At 1 a statement run once
(a listing's filters) is never prepared (docs/internals/storage.md, S14, with its measure)."""


# A claimed row's two parts, by field name: the step's columns, and its flow's as flow_<name>.
_STEP_PART = attrgetter(*ClaimedStepRow._fields)
_FLOW_PART = attrgetter(*(f"flow_{name}" for name in FlowRow._fields))


def _claimed(row: ClaimStepsWithFlowsRow | ClaimDueBandRow) -> ClaimedStep:
    """A claimed step and its flow (None when the flow is gone) from one row of the claim."""
    flow = None if row.flow_flow_id is None else FlowRow(*_FLOW_PART(row))
    return ClaimedStep(ClaimedStepRow(*_STEP_PART(row)), flow)


async def _close(conn: Connection) -> None:
    await conn.close()


def _quiet(conn: Connection) -> bool:
    """An idle connection has nothing to read; a terminated one has its FATAL message or EOF.

    libpq reads only when asked, so a readable socket on an idle connection means the server
    spoke first, which on a connection without LISTEN only happens when it ends the session.
    """
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return False
    return not readable
