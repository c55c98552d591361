"""PostgreSQL claims their steps by primary key, even when its statistics say nothing is pending.

A claim names the step ids it wants, and its CAS also checks that each is pending. Planned on
statistics taken before a burst of pending steps (a wide fan-out, a backlog), the planner
reckoned the partial selection index would return one row and scanned it: every claim then read
every pending step, and a fan-out of 20,000 branches spent most of its statement time in
claims that grew with the width. The plans are checked as the engine runs them: generic plans
of prepared statements, made on a table analyzed empty that then received thousands of pending
steps.
"""

from __future__ import annotations

import re

import pytest

from dwarf._storage._gen import postgresql as generated
from tests.fixtures.storage import Db, backend_dsn

PENDING = 3000

# Each claim statement (a generated constant) and the arguments of its EXECUTE.
CLAIMS = {
    "_CLAIM_STEPS": "'w1', 60000, ARRAY[1, 2, 3]::bigint[]",
    "_CLAIM_STEPS_WITH_FLOWS": "'w1', 60000, ARRAY[1, 2, 3]::bigint[]",
    "_SELECT_CLAIMED_STEPS": "ARRAY[1, 2, 3]::bigint[], 'w1'",
}


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """PostgreSQL only: the plans are its planner's."""
    return backend_dsn(request)


async def _copies(db: Db, count: int, status: str = "status") -> None:
    """``count`` copies of a new step; ``status`` is SQL over ``n``, the copy's number."""
    flow_id = await db.flow()
    template = await db.step(flow_id)
    cursor = await db.conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'dwarf_steps' AND column_name NOT IN ('step_id', 'status')"
    )
    listed = ", ".join(row[0] for row in await cursor.fetchall())
    await db.execute(
        f"INSERT INTO dwarf_steps ({listed}, status) SELECT {listed}, {status} "
        f"FROM dwarf_steps, generate_series(1, {count}) AS n WHERE step_id = %s",
        (template,),
    )


async def _burst_after_analyze(db: Db) -> None:
    """Statistics of an empty table, then ``PENDING`` pending steps the planner never saw."""
    await db.execute("ANALYZE dwarf_steps")
    await _copies(db, PENDING)


async def _plan(db: Db, name: str, arguments: str, mode: str = "force_generic_plan") -> str:
    """The plan of the generated statement ``name`` under ``plan_cache_mode = mode``."""
    sql: str = getattr(generated, name)
    order: list[str] = []
    for param in re.findall(r"%\((\w+)\)s", sql):
        if param not in order:
            order.append(param)
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${order.index(m.group(1)) + 1}", sql)
    await db.execute(f"SET plan_cache_mode = {mode}")
    await db.execute(f"PREPARE planned AS {numbered}")
    try:
        cursor = await db.conn.execute(f"EXPLAIN EXECUTE planned({arguments})")
        return "\n".join(row[0] for row in await cursor.fetchall())
    finally:
        await db.execute("DEALLOCATE planned")
        await db.execute("RESET plan_cache_mode")


@pytest.mark.parametrize("name", sorted(CLAIMS))
async def test_a_claim_finds_its_steps_by_primary_key(db: Db, name: str) -> None:
    await _burst_after_analyze(db)
    plan = await _plan(db, name, CLAIMS[name])
    # The claimed rows: by primary key, never a scan of the pending set or the table.
    assert re.search(r"dwarf_steps_pkey.*\n\s*Index Cond: \(step_id = ANY", plan), plan
    assert "idx_dwarf_steps_selection" not in plan, plan
    assert "Seq Scan on dwarf_steps" not in plan, plan


async def _fan_out_analyzed(db: Db, finished: int, pending: int) -> None:
    """A wide fan-out's table as ANALYZE sees it: finished steps first, pending ones after."""
    await _copies(
        db, finished + pending, f"CASE WHEN n <= {finished} THEN 'completed' ELSE 'pending' END"
    )
    await db.execute("ANALYZE dwarf_steps")


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
async def test_the_band_scan_walks_the_selection_index_on_fresh_statistics(
    db: Db, mode: str
) -> None:
    await _fan_out_analyzed(db, finished=14_000, pending=6_000)
    plan = await _plan(db, "_SELECT_DUE_BAND", "0, 64", mode)  # above_priority, row_limit
    # The band's rows from the partial index in (priority, step_id) order, never a walk of the
    # primary key past every finished step.
    assert "dwarf_steps_pkey" not in plan, plan
    assert "Seq Scan" not in plan, plan
    assert re.search(
        r"Limit.*\n.*InitPlan(.*\n)+.*Index Scan using idx_dwarf_steps_selection on dwarf_steps  ",
        plan,
    ), plan
