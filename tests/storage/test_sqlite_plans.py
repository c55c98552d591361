"""SQLite's scans of live steps use the partial indexes instead of reading the whole table.

SQLite uses a partial index only when the query's WHERE contains the index's own condition
(``status IN ('pending', 'running')``); ``status = 'pending'`` alone does not let it infer it. A
scan that misses the index reads every row, finished steps and their states included, so a
dispatcher poll over a wide fan-out (thousands of rows, each holding the forEach array) took
~15 ms and blocked the event loop. The plans are checked on a table with finished and live
steps whose states are large, as after a fan-out.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from dwarf._storage._gen import sqlite as generated
from dwarf._storage._gen.migrations import MIGRATIONS

SCANS = (
    "SELECT_DUE_BAND",
    "COUNT_DUE_BY_PRIORITY",
    "POLL_HORIZON",
    "RECOVER_EXPIRED_LEASES",
    "RECOVER_ORPHANED_STEPS",
    "PARK_PENDING_STEPS_OF_TASK",
    "UNPARK_STEPS_OF_TASK",
    "SELECT_PARKED_TASKS",
    "SELECT_PROBE_CANDIDATE",
)


@pytest.fixture(scope="module")
def fanned_out() -> sqlite3.Connection:
    """A schema-complete database after a fan-out: 2,000 finished and 1,000 pending steps."""
    conn = sqlite3.connect(":memory:")
    for migration in MIGRATIONS["sqlite"]:
        for statement in migration.statements:
            conn.execute(statement)
    state = json.dumps({"items": list(range(3000))})
    conn.executemany(
        "INSERT INTO dwarf_steps (flow_id, step_depth, step_token, task_name, state, status, "
        "time_budget_ms) VALUES (1, 2, ?, 'Work', ?, ?, 1000)",
        [(f"t{i}", state, "completed" if i < 2000 else "pending") for i in range(3000)],
    )
    conn.execute("ANALYZE")
    return conn


@pytest.mark.parametrize("query", SCANS)
def test_a_scan_of_live_steps_searches_an_index(fanned_out: sqlite3.Connection, query: str) -> None:
    sql = getattr(generated, f"_{query}")
    plan = fanned_out.execute(f"EXPLAIN QUERY PLAN {sql}", [1] * sql.count("?")).fetchall()
    steps_reads = [
        detail for *_, detail in plan if re.search(r"\bdwarf_steps\b|\b[bdnl]\b", detail)
    ]
    assert steps_reads, plan
    for detail in steps_reads:
        assert re.match(r"SEARCH \w+ USING (COVERING )?INDEX idx_dwarf_steps_", detail), plan
