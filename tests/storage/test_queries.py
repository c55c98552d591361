"""Generated accessors against live databases: SQLite (file and memory), PostgreSQL and MariaDB.

This module holds the basic behaviour tests (typed reads, list params, claims, the band scan,
search); the harness they share, ``Db``, lives in tests/fixtures/storage.py. The scenarios are
spread by topic: ``_flows`` (flow lifecycle, listing, purge), ``_steps`` (fenced step writes,
callers, resets), ``_dispatch`` (selection, claims, lease recovery, cohorts), ``_roundtrip``
(column types, unicode, big integers, 1 MB payloads, NUL); ``_coverage`` proves that together they
call every accessor.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import pytest

from dwarf._storage._gen.rows import StepScheduleRow
from dwarf.workflow import Status
from tests.fixtures.storage import TOKEN, Db, assert_conforms, near_now

# ----------------------------------------------------------------------------------------------
# Basic behaviour


def test_result_check_rejects_what_a_driver_might_return_instead() -> None:
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    assert_conforms([StepScheduleRow(5, -3)], list[StepScheduleRow], "ok")
    assert_conforms(None, int | None, "ok")
    bad: list[tuple[Any, Any]] = [
        (True, int),
        (1, bool),
        ("running", Status),
        (Decimal(1), int),
        (1, float),
        (b"{}", str),
        (None, str),
        (aware.replace(tzinfo=None), datetime),
        (aware.astimezone(timezone(timedelta(hours=2))), datetime),
        ((5, 3), StepScheduleRow),
        (StepScheduleRow(5, cast(int, 1.5)), StepScheduleRow),
    ]
    for value, hint in bad:
        with pytest.raises(AssertionError):
            assert_conforms(value, hint, "bad")


async def test_flows_read_back_by_exact_key_with_json_text_and_utc_timestamps(db: Db) -> None:
    flow_id = await db.flow(graph='{"entry": "a", "n": [1, 2]}')
    row = await db.q.get_flow(db.conn, flow_id=flow_id, flow_token=TOKEN)
    assert row is not None
    assert row.flow_id == flow_id
    # JSONB normalises key order and spacing: compare the parsed value
    assert json.loads(row.graph) == {"entry": "a", "n": [1, 2]}
    assert row.fairness_weight == 1.0
    assert near_now(row.created_at)
    assert row.created_at == row.started_at == row.updated_at
    assert await db.q.get_flow(db.conn, flow_id=flow_id, flow_token="0" * 16) is None
    # tokens compare exactly: no case folding, no trailing-space padding
    assert await db.q.get_flow(db.conn, flow_id=flow_id, flow_token=TOKEN.upper()) is None
    assert await db.q.get_flow(db.conn, flow_id=flow_id, flow_token=TOKEN[:-1]) is None
    assert await db.q.get_flow_by_id(db.conn, flow_id=flow_id + 1) is None


async def test_claim_wins_only_due_pending_steps_and_bumps_lease_seq(db: Db) -> None:
    flow_id = await db.flow()
    due = await db.step(flow_id)
    later = await db.step(flow_id, delay_ms=3_600_000)
    created = await db.step(flow_id, status=Status.CREATED)
    claimed = await db.q.claim_steps(
        db.conn, step_ids=[due, later, created], lease_owner="me", lease_margin_ms=1000
    )
    assert claimed == 1
    rows = await db.q.select_claimed_steps(db.conn, step_ids=[due, later], lease_owner="me")
    assert [(r.step_id, r.lease_seq, json.loads(r.state)) for r in rows] == [(due, 1, {"x": 1})]
    assert await db.q.select_claimed_steps(db.conn, step_ids=[due], lease_owner="other") == []
    # a second claim of a running step loses
    assert await db.claim(due, owner="other") == 0


async def test_empty_id_lists_match_nothing(db: Db) -> None:
    flow_id = await db.flow()
    step_id = await db.step(flow_id)
    assert await db.q.claim_steps(db.conn, step_ids=[], lease_owner="me", lease_margin_ms=0) == 0
    assert await db.q.select_claimed_steps(db.conn, step_ids=[], lease_owner="") == []
    assert await db.q.delete_flows(db.conn, flow_ids=[]) == 0
    assert await db.q.delete_steps_of_flows(db.conn, flow_ids=[]) == 0
    assert await db.q.delete_steps(db.conn, step_ids=[]) == 0
    progress = await db.q.flows_progress(db.conn, flow_ids=[])
    assert progress is not None
    assert (progress.step_count, progress.max_updated_at) == (0, "")
    assert await db.q.count_flows(db.conn) == 1
    assert (await db.get_step(step_id)).status == "pending"


async def test_band_scan_returns_the_lowest_priority_above_the_threshold(db: Db) -> None:
    flow_id = await db.flow()
    urgent = await db.step(flow_id, priority=1)
    second = await db.step(flow_id, priority=3, fairness_key="tenant", fairness_weight=2.5)
    third = await db.step(flow_id, priority=3)
    await db.step(flow_id, priority=2, delay_ms=3_600_000)  # not due: not a band
    await db.step(flow_id, priority=2, parked=1)  # parked: not a band
    band = await db.q.select_due_band(db.conn, above_priority=0, row_limit=10)
    assert [(r.step_id, r.priority) for r in band] == [(urgent, 1)]
    assert 0 <= band[0].age_ms < 300_000
    next_band = await db.q.select_due_band(db.conn, above_priority=1, row_limit=10)
    assert [(r.step_id, r.fairness_key, r.fairness_weight) for r in next_band] == [
        (second, "tenant", 2.5),
        (third, "", 1.0),
    ]
    assert [
        r.step_id for r in await db.q.select_due_band(db.conn, above_priority=1, row_limit=1)
    ] == [second]
    assert await db.q.select_due_band(db.conn, above_priority=3, row_limit=10) == []


async def test_list_flows_search_escapes_wildcards_case_insensitively(db: Db) -> None:
    wanted = await db.flow(workflow_name="Alpha_1")
    await db.flow(workflow_name="alphaX1")
    await db.flow(workflow_name="alpha%1")
    assert await db.listed(search="%alpha\\_1%") == [wanted]
    percent = await db.listed(search="%\\%%")
    assert len(percent) == 1
    assert (await db.get_flow(percent[0])).workflow_name == "alpha%1"
    backslash = await db.flow(workflow_name="dir\\sub")
    await db.flow(workflow_name="dirxsub")
    assert await db.listed(search="%r\\\\s%") == [backslash]  # an escaped backslash
    found = await db.list_flows(search="%ALPHA\\_1%")
    assert [f.flow_id for f in found] == [wanted]
    assert found[0].task_name == ""
