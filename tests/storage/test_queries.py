"""Generated accessors against live databases: SQLite (file), PostgreSQL and MariaDB.

Each test gets a fresh database (tests.fixtures.databases), applies the embedded MIGRATIONS
statements directly, and drives the accessors the engine will call. These are the first of the
per-query behaviour tests: typed round trips, placeholder mapping on real drivers, list params
(including empty ones), lease fencing and the band scan.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import aiosqlite
import asyncmy
import psycopg
import pytest
from asyncmy.constants import CLIENT

from dwarf._storage._gen import mysql, postgresql, sqlite
from dwarf._storage._gen.migrations import MIGRATIONS


@dataclass
class Db:
    """One dialect's accessor module and an open autocommit connection."""

    dialect: str
    q: ModuleType
    conn: Any


async def _apply(dialect: str, execute: Any) -> None:
    for migration in MIGRATIONS[dialect]:
        for statement in migration.statements:
            await execute(statement)


@pytest.fixture
async def db(database_dsn: str) -> AsyncIterator[Db]:
    """A migrated database of each dialect in turn, with its accessor module."""
    parts = urlsplit(database_dsn)
    if parts.scheme == "sqlite":
        async with aiosqlite.connect(parts.path, isolation_level=None) as lite:
            await _apply("sqlite", lite.execute)
            yield Db("sqlite", sqlite, lite)
    elif parts.scheme.startswith("postgres"):
        async with await psycopg.AsyncConnection.connect(database_dsn, autocommit=True) as pg:
            await postgresql.configure_connection(pg)
            await _apply("postgresql", pg.execute)
            yield Db("postgresql", postgresql, pg)
    else:
        maria = await asyncmy.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            db=parts.path.lstrip("/"),
            autocommit=True,
            # count matched rows, not changed rows, in :execrows (see the mysql module)
            client_flag=CLIENT.FOUND_ROWS,
        )
        try:
            async with maria.cursor() as cur:
                await _apply("mysql", cur.execute)
            yield Db("mysql", mysql, maria)
        finally:
            await maria.ensure_closed()


FLOW: dict[str, Any] = {
    "workflow_name": "wf",
    "graph": '{"entry": "a"}',
    "baggage": "{}",
    "status": "created",
    "surgraph_flow_id": 0,
    "surgraph_step_depth": 0,
    "surgraph_step_id": 0,
    "root_flow_id": 0,
    "thread_id": 0,
    "thread_token": "",
    "forked_from_step": 0,
    "trace_parent": "",
    "breakpoints": "{}",
    "priority": 5,
    "fairness_key": "",
    "fairness_weight": 1.0,
    "time_budget_ms": 60_000,
    "delete_on_completion": 0,
}


async def new_flow(db: Db, token: str = "f" * 16, **overrides: Any) -> int:
    """Insert a flow row; return its id."""
    return int(await db.q.insert_flow(db.conn, **{**FLOW, "flow_token": token, **overrides}))


async def new_step(db: Db, flow_id: int, **overrides: Any) -> int:
    """Insert a pending, due step; return its id."""
    values: dict[str, Any] = {
        "flow_id": flow_id,
        "step_depth": 1,
        "step_token": "s" * 16,
        "task_name": "a",
        "state": '{"x": 1}',
        "changes": "{}",
        "status": "pending",
        "time_budget_ms": 60_000,
        "lineage_id": 0,
        "fan_out_ordinal": 0,
        "predecessor_id": 0,
        "priority": 5,
        "fairness_key": "",
        "fairness_weight": 1.0,
        "parked": 0,
        "delay_ms": 0,
    }
    return int(await db.q.insert_step(db.conn, **{**values, **overrides}))


async def test_flow_round_trips_json_text_and_utc_timestamps(db: Db) -> None:
    flow_id = await new_flow(db, graph='{"entry": "a", "n": [1, 2]}')
    row = await db.q.get_flow(db.conn, flow_id=flow_id, flow_token="f" * 16)
    assert row is not None
    assert row.flow_id == flow_id
    assert isinstance(row.graph, str)
    # JSONB normalises key order and spacing: compare the parsed value
    assert json.loads(row.graph) == {"entry": "a", "n": [1, 2]}
    assert row.fairness_weight == 1.0
    assert row.created_at.utcoffset() == timedelta(0)
    assert abs(row.created_at - datetime.now(UTC)) < timedelta(minutes=5)


async def test_wrong_token_reads_as_missing(db: Db) -> None:
    flow_id = await new_flow(db)
    assert await db.q.get_flow(db.conn, flow_id=flow_id, flow_token="0" * 16) is None
    assert await db.q.get_flow_by_id(db.conn, flow_id=flow_id + 1) is None


async def test_claim_wins_only_due_pending_steps_and_bumps_lease_seq(db: Db) -> None:
    flow_id = await new_flow(db)
    due = await new_step(db, flow_id)
    later = await new_step(db, flow_id, delay_ms=3_600_000)
    claimed = await db.q.claim_steps(
        db.conn, step_ids=[due, later], lease_owner="me", lease_margin_ms=1000
    )
    assert claimed == 1
    rows = await db.q.select_claimed_steps(db.conn, step_ids=[due, later], lease_owner="me")
    assert [(r.step_id, r.lease_seq, json.loads(r.state)) for r in rows] == [(due, 1, {"x": 1})]
    assert await db.q.select_claimed_steps(db.conn, step_ids=[due], lease_owner="other") == []


async def test_empty_id_lists_match_nothing(db: Db) -> None:
    flow_id = await new_flow(db)
    await new_step(db, flow_id)
    assert await db.q.claim_steps(db.conn, step_ids=[], lease_owner="me", lease_margin_ms=0) == 0
    assert await db.q.delete_flows(db.conn, flow_ids=[]) == 0
    assert await db.q.count_flows(db.conn) == 1


async def test_completion_is_fenced_by_lease_seq(db: Db) -> None:
    step_id = await new_step(db, await new_flow(db))
    await db.q.claim_steps(db.conn, step_ids=[step_id], lease_owner="me", lease_margin_ms=0)
    stale = await db.q.complete_step(
        db.conn, step_id=step_id, lease_seq=0, changes='{"y": 2}', goto_next=""
    )
    fresh = await db.q.complete_step(
        db.conn, step_id=step_id, lease_seq=1, changes='{"y": 2}', goto_next=""
    )
    assert (stale, fresh) == (0, 1)
    row = await db.q.get_step_by_id(db.conn, step_id=step_id)
    assert row.status == "completed"
    assert json.loads(row.changes) == {"y": 2}


async def test_band_scan_returns_the_lowest_priority_above_the_threshold(db: Db) -> None:
    flow_id = await new_flow(db)
    urgent = await new_step(db, flow_id, priority=1)
    await new_step(db, flow_id, priority=3)
    await new_step(db, flow_id, priority=3)
    band = await db.q.select_due_band(db.conn, above_priority=0, row_limit=10)
    assert [(r.step_id, r.priority) for r in band] == [(urgent, 1)]
    assert band[0].age_ms >= 0
    next_band = await db.q.select_due_band(db.conn, above_priority=1, row_limit=1)
    assert [r.priority for r in next_band] == [3]


async def test_poll_horizon_is_empty_when_idle(db: Db) -> None:
    horizon = await db.q.poll_horizon(db.conn)
    assert (horizon.due_count, horizon.next_due_ms, horizon.next_lease_ms) == (0, None, None)
    await new_step(db, await new_flow(db), delay_ms=60_000)
    horizon = await db.q.poll_horizon(db.conn)
    assert horizon.due_count == 0
    assert 0 < horizon.next_due_ms <= 60_000


async def test_list_flows_search_escapes_wildcards_case_insensitively(db: Db) -> None:
    wanted = await new_flow(db, token="a" * 16, workflow_name="Alpha_1")
    await new_flow(db, token="b" * 16, workflow_name="alphaX1")
    found = await db.q.list_flows(
        db.conn,
        status="",
        workflow_name="",
        thread_id=0,
        task_name="",
        fairness_key="",
        priority=0,
        older_than_ms=0,
        newer_than_ms=0,
        before_flow_id=0,
        search="%alpha\\_1%",
        row_limit=10,
    )
    assert [f.flow_id for f in found] == [wanted]
    assert found[0].task_name == ""


async def test_delete_flows_removes_only_listed_rows_that_are_not_running(db: Db) -> None:
    keep = await new_flow(db, token="a" * 16)
    gone = await new_flow(db, token="b" * 16)
    running = await new_flow(db, token="c" * 16)
    assert await db.q.start_flow(db.conn, flow_id=running, notify_hostname="") == 1
    assert await db.q.delete_flows(db.conn, flow_ids=[gone, running]) == 1
    assert await db.q.get_flow_by_id(db.conn, flow_id=keep) is not None
    assert await db.q.get_flow_by_id(db.conn, flow_id=gone) is None
    assert await db.q.get_flow_by_id(db.conn, flow_id=running) is not None
