"""A PostgreSQL store analyzes its tables when they outgrow their statistics (storage.md, S13),
and its connections prepare a statement on its second execution (S14).

The store's connections prepare the claim early and PostgreSQL keeps the generic plan it
makes soon after. Made while ``dwarf_steps`` was a few rows, that plan reads the whole table; on a
fresh database nothing replaces it until autovacuum's first visit, and every claim reads every
step. The store analyzes the tables once it has claimed enough steps to see them grow, which
makes its connections plan the claim again on the table as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from dwarf._storage._dsn import parse_dsn
from dwarf._storage._open import open_store
from dwarf._storage._pg_statistics import FIRST_CHECK_AFTER
from dwarf._storage._postgresql import PostgresqlStore
from dwarf._storage._store import Store
from tests.fixtures.storage import Db, backend_dsn

pytestmark = pytest.mark.postgres

# Rows the table holds when the claim's plan is first made, and the burst that follows.
FEW = 15
BURST = 3 * FIRST_CHECK_AFTER
BATCH = 10


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """PostgreSQL only: plans and statistics are its planner's."""
    return backend_dsn(request)


async def _pending_steps(db: Db, flow_id: int, count: int) -> list[int]:
    """``count`` new pending steps of ``flow_id``, copies of one, in id order."""
    template = await db.step(flow_id)
    cursor = await db.conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'dwarf_steps' AND column_name NOT IN ('step_id', 'step_token')"
    )
    listed = ", ".join(row[0] for row in await cursor.fetchall())
    cursor = await db.conn.execute(
        f"INSERT INTO dwarf_steps ({listed}, step_token) "
        f"SELECT {listed}, 'copy-' || n FROM dwarf_steps, generate_series(1, %s) AS n "
        "WHERE step_id = %s RETURNING step_id",
        (count - 1, template),
    )
    return [template, *sorted(row[0] for row in await cursor.fetchall())]


async def _table_stats(db: Db) -> tuple[int, int, int, bool]:
    """dwarf_steps' (live rows, sequential scans, index scans, analyzed at all) as counted."""
    cursor = await db.conn.execute(
        "SELECT n_live_tup, seq_scan, COALESCE(idx_scan, 0), "
        "last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL "
        "FROM pg_stat_user_tables WHERE relid = 'dwarf_steps'::regclass"
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), bool(row[3])


async def _reported(conn: Any) -> None:
    """Make ``conn``'s backend report its counters now, not up to ten seconds later.

    A backend reports when it goes idle, at most once a second, else after ten idle seconds;
    forced, it reports before it answers this statement.
    """
    await conn.execute("SELECT pg_stat_force_next_flush()")


async def _store_reported(store: Store) -> None:
    """``_reported`` on the store's one connection."""
    async with store._acquire() as conn:
        await _reported(conn)


async def _analyzed(db: Db) -> None:
    """Wait for the store's background check to have analyzed ``dwarf_steps``."""
    for _ in range(150):
        if (await _table_stats(db))[3]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"dwarf_steps was never analyzed: {await _table_stats(db)}")


async def _claim_in_batches(store: Store, step_ids: Sequence[int]) -> None:
    for start in range(0, len(step_ids), BATCH):
        batch = step_ids[start : start + BATCH]
        claimed = await store.claim(batch, "w1", 60_000)
        assert sorted(step.row.step_id for step in claimed) == list(batch)


async def test_claims_on_a_grown_fresh_table_stop_reading_all_of_it(
    db: Db, backend: tuple[str, str]
) -> None:
    flow_id = await db.flow()
    few = await _pending_steps(db, flow_id, FEW)
    # One connection, so every claim runs the same prepared statement.
    store = await open_store(0, parse_dsn(backend[1]), max_open_conns=1)
    try:
        # Its generic plan is made here, on a table of a few rows: it reads the whole table.
        for step_id in few:
            assert await store.claim([step_id], "w1", 60_000)
        burst = await _pending_steps(db, flow_id, BURST)
        await _reported(db.conn)  # the check reads the table's live rows from the counters

        await _claim_in_batches(store, burst[: FIRST_CHECK_AFTER + BATCH])
        await _analyzed(db)
        await _store_reported(store)
        before = await _table_stats(db)

        # The claims after the analyze find their steps through the primary key alone.
        rest = burst[FIRST_CHECK_AFTER + BATCH :][: 20 * BATCH]
        await _claim_in_batches(store, rest)
        await _store_reported(store)
        after = await _table_stats(db)
        assert after[2] >= before[2] + len(rest) // BATCH, (before, after)
        assert after[1] == before[1], f"{after[1] - before[1]} claims read the whole table"
    finally:
        await store.close()


async def test_a_table_its_statistics_know_is_left_alone(db: Db, backend: tuple[str, str]) -> None:
    flow_id = await db.flow()
    steps = await _pending_steps(db, flow_id, BURST)
    await db.execute("ANALYZE dwarf_steps, dwarf_flows")
    await _reported(db.conn)
    cursor = await db.conn.execute(
        "SELECT last_analyze FROM pg_stat_user_tables WHERE relid = 'dwarf_steps'::regclass"
    )
    analyzed = await cursor.fetchone()
    store = await open_store(0, parse_dsn(backend[1]), max_open_conns=1)
    try:
        await _claim_in_batches(store, steps[: FIRST_CHECK_AFTER + BATCH])
        # The check runs in the background: give it the time it would need to analyze.
        await asyncio.sleep(1.0)
    finally:
        await store.close()
    cursor = await db.conn.execute(
        "SELECT last_analyze FROM pg_stat_user_tables WHERE relid = 'dwarf_steps'::regclass"
    )
    assert await cursor.fetchone() == analyzed


async def test_a_statement_is_prepared_on_its_second_execution(
    db: Db, backend: tuple[str, str]
) -> None:
    # S14: psycopg's default prepares on the sixth; the hot path is a few statements run often.
    flow_id = await db.flow()
    store = await open_store(0, parse_dsn(backend[1]), max_open_conns=1)
    try:
        assert isinstance(store, PostgresqlStore)
        assert await store.read(lambda tx: tx.get_flow_by_id(flow_id=flow_id)) is not None
        assert await _prepared(store) == 0
        assert await store.read(lambda tx: tx.get_flow_by_id(flow_id=flow_id)) is not None
        assert await _prepared(store) == 1
    finally:
        await store.close()


async def _prepared(store: PostgresqlStore) -> int:
    """How many statements the store's one connection has prepared."""
    async with store._pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%dwarf_flows%'",
            prepare=False,
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])
