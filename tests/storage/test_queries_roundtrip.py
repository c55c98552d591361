"""Values round trip through the accessors on live databases, at the limits of each column type.

What comes back, per dialect:

- Integers: BIGINT columns hold the full signed 64-bit range (ids beyond 2**53 included), INT
  columns the signed 32-bit range; both come back as exact ``int``. Floats come back bit-exact.
- JSON payload columns travel as text. SQLite (TEXT) and MariaDB (JSON = LONGTEXT) return the
  exact text that was written; PostgreSQL (JSONB) returns an equivalent normalised text (key order
  and spacing change, ``\\uXXXX`` escapes come back as the characters). Parsed values are equal
  everywhere, including astral-plane characters and integers far beyond 2**64 (JSONB keeps JSON
  numbers as exact numerics).
- 1 MB payloads round trip in every JSON column kind (flow graph/final state, step state/changes).
- NUL: the JSON escape ``\\u0000`` is valid JSON, but PostgreSQL JSONB rejects it
  (``UntranslatableCharacter``, SQLSTATE 22P05) and a NUL character in a TEXT/VARCHAR value is
  refused by psycopg before sending (``DataError``); in both cases nothing is written. SQLite and
  MariaDB store and return both exactly. Hosts that need binary data in state should base64 it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from dwarf.workflow import Status
from tests.fixtures.storage import FLOW_DEFAULTS, Db, near_now

BIG = 2**63 - 1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

PAYLOAD: dict[str, Any] = {
    "text": 'Grüße 世界 שלום مرحبا e\u0301 \u2028\u2029 tab\t quote" backslash\\ slash/',
    "astral": "😀 👩\u200d👩\u200d👧\u200d👦 𝄞 🜚 \U0010fffd",
    "😀": {"ключ": ["𐍈", "\ufeff", ""]},
    "beyond_2_53": 2**53 + 1,
    "min64": -(2**63),
    "max64": 2**63 - 1,
    "beyond_64": 2**64 + 1,
    "huge": 10**30 + 7,
    "float": 0.1,
    "nested": {"empty": {}, "list": [], "null": None, "bools": [True, False]},
}
# the same value as raw UTF-8 text and as pure ASCII with \\uXXXX escapes (surrogate pairs)
UTF8_TEXT = json.dumps(PAYLOAD, ensure_ascii=False)
ASCII_TEXT = json.dumps(PAYLOAD)

NUL_JSON = '{"a": "x\\u0000y"}'


def check_json(db: Db, stored: str, written: str) -> None:
    """``stored`` (read back) holds ``written``: exactly on text dialects, equivalently on JSONB."""
    assert json.loads(stored) == json.loads(written)
    # big integers come back as written, never through a float
    assert "9007199254740993" in stored
    assert "1000000000000000000000000000007" in stored
    if db.dialect == "postgresql":
        assert "😀" in stored  # JSONB resolves escapes to the characters
    else:
        assert stored == written


async def test_every_flow_column_round_trips_at_its_limits(db: Db) -> None:
    q, conn = db.q, db.conn
    values: dict[str, Any] = {
        "flow_token": "AbCdEfGh01234567",
        "workflow_name": "wf-" + "𐍈" * 509,  # 512 characters of 4 UTF-8 bytes
        "graph": '{"entry": "a", "nodes": {"a": {}}}',
        "baggage": '{"tenant": "ω"}',
        "status": Status.CREATED,
        "surgraph_flow_id": BIG,
        "surgraph_step_depth": INT_MAX,
        "surgraph_step_id": BIG - 1,
        "root_flow_id": BIG - 2,
        "thread_id": BIG - 3,
        "thread_token": "ZyXwVuTs98765432",
        "forked_from_step": BIG - 4,
        "trace_parent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "breakpoints": '{"a": true}',
        "priority": INT_MIN,
        "fairness_key": "ключ-" + "😀" * 251,  # 256 characters
        "fairness_weight": 1 / 3,
        "time_budget_ms": INT_MAX,
        "delete_on_completion": True,
    }
    flow_id = await db.flow(**values)
    assert await q.start_flow(conn, flow_id=flow_id, notify_hostname="höst-" + "🜁" * 251) == 1
    row = await q.get_flow(conn, flow_id=flow_id, flow_token="AbCdEfGh01234567")
    assert row is not None
    json_columns = {"graph", "baggage", "breakpoints"}
    for name, value in values.items():
        if name in json_columns:
            assert json.loads(getattr(row, name)) == json.loads(value), name
        elif name != "status":
            assert getattr(row, name) == value, name
    assert (row.flow_id, row.status, row.notify_hostname) == (
        flow_id,
        "running",
        "höst-" + "🜁" * 251,
    )
    assert near_now(row.created_at)

    # big ids bind exactly in lookups too
    assert [c.flow_id for c in await q.list_child_flows(conn, surgraph_flow_id=BIG)] == [flow_id]
    assert await q.list_child_flows(conn, surgraph_flow_id=BIG - 1) == []
    child = await q.get_child_flow_of_step(conn, surgraph_step_id=BIG - 1)
    assert child is not None
    assert child.flow_id == flow_id
    latest = await q.get_latest_thread_flow(
        conn, thread_id=BIG - 3, thread_token="ZyXwVuTs98765432"
    )
    assert latest is not None
    assert latest.flow_id == flow_id

    # long unicode texts in TEXT columns (MariaDB TEXT holds up to 65,535 bytes)
    error = "E: " + "😀" * 16_000
    reason = "warum? " + "ß" * 10_000
    error_type = "Ünïcode" + "Error" * 38  # 195 characters of the 200 the column holds
    failed = await q.fail_flow(
        conn, error_type=error_type, error=error, final_state='{"f": 1}', flow_id=flow_id
    )
    assert failed == 1
    other = await db.flow(flow_token="1" * 16)
    assert await q.cancel_flow(conn, cancel_reason=reason, final_state="{}", flow_id=other) == 1
    assert (await db.get_flow(flow_id)).error == error
    assert (await db.get_flow(flow_id)).error_type == error_type
    assert (await db.get_flow(other)).cancel_reason == reason


async def test_every_step_column_round_trips_at_its_limits(db: Db) -> None:
    q, conn = db.q, db.conn
    values: dict[str, Any] = {
        "flow_id": BIG,
        "step_depth": INT_MAX,
        "step_token": "QwErTy0987654321",
        "task_name": "задача-" + "😀" * 505,  # 512 characters
        "state": '{"s": [1, 2.5, "ü"]}',
        "changes": '{"c": null}',
        "status": Status.PENDING,
        "time_budget_ms": INT_MAX,
        "lineage_id": BIG - 1,
        "fan_out_ordinal": INT_MAX,
        "predecessor_id": BIG - 2,
        "priority": INT_MAX,
        "fairness_key": "k" * 256,
        "fairness_weight": 1e-300,
        "parked": 0,
        "delay_ms": -86_400_000,
    }
    step_id = await db.step(**values)
    row = await db.get_step(step_id)
    for name, value in values.items():
        if name in ("state", "changes"):
            assert json.loads(getattr(row, name)) == json.loads(value), name
        elif name != "delay_ms":
            assert getattr(row, name) == value, name
    assert row.not_before - row.created_at == timedelta(days=-1)
    assert (row.lease_seq, row.attempt, row.successor_id) == (0, 0, 0)

    band = await q.select_due_band(conn, above_priority=INT_MAX - 1, row_limit=1)
    assert [(b.step_id, b.priority, b.fairness_weight) for b in band] == [
        (step_id, INT_MAX, 1e-300)
    ]
    # the longest lease: an INT budget of ~24.8 days plus the margin, to the millisecond
    assert await db.claim(step_id, margin_ms=1_000) == 1
    row = await db.get_step(step_id)
    assert row.lease_expires - row.updated_at == timedelta(milliseconds=INT_MAX + 1_000)
    claimed = await q.select_claimed_steps(conn, step_ids=[step_id], lease_owner="w1")
    assert [(c.flow_id, c.lineage_id, c.predecessor_id) for c in claimed] == [
        (BIG, BIG - 1, BIG - 2)
    ]

    await q.set_cohort_size(conn, cohort_size=INT_MAX, step_id=step_id)
    await q.add_cohort_arrivals(conn, arrivals=INT_MAX, failures=INT_MAX, step_id=step_id)
    await q.set_step_successor(conn, successor_id=BIG - 5, step_id=step_id)
    cohort = await q.get_cohort(conn, step_id=step_id)
    assert cohort is not None
    assert (cohort.cohort_size, cohort.cohort_arrivals, cohort.cohort_failures) == (
        INT_MAX,
        INT_MAX,
        INT_MAX,
    )
    assert (cohort.lineage_id, cohort.flow_id) == (BIG - 1, BIG)
    dag = await q.list_step_dag(conn, flow_id=BIG)
    assert [(d.step_id, d.successor_id, d.predecessor_id) for d in dag] == [
        (step_id, BIG - 5, BIG - 2)
    ]
    assert [s.step_id for s in await q.list_steps_of_flows(conn, flow_ids=[BIG])] == [step_id]


async def test_json_payloads_keep_unicode_and_exact_big_integers_in_every_json_column(
    db: Db,
) -> None:
    q, conn = db.q, db.conn
    for text in (UTF8_TEXT, ASCII_TEXT):
        flow_id = await db.flow(graph=text, baggage=text, breakpoints=text)
        assert await q.complete_flow(conn, final_state=text, flow_id=flow_id) == 1
        flow = await db.get_flow(flow_id)
        for stored in (flow.graph, flow.baggage, flow.breakpoints, flow.final_state):
            check_json(db, stored, text)

        step_id = await db.step(flow_id, state=text, changes=text)
        assert await db.claim(step_id) == 1
        (claimed,) = await q.select_claimed_steps(conn, step_ids=[step_id], lease_owner="w1")
        check_json(db, claimed.state, text)
        check_json(db, claimed.changes, text)
        await q.park_step_for_subgraph(conn, changes=text, step_id=step_id, lease_seq=1)
        await q.revive_caller_step(conn, subgraph_result=text, subgraph_error="", step_id=step_id)
        assert await db.claim(step_id) == 2
        await q.interrupt_leaf_step(
            conn, changes=text, interrupt_payload=text, step_id=step_id, lease_seq=2
        )
        await q.resume_leaf_step(conn, resume_data=text, step_id=step_id)
        step = await db.get_step(step_id)
        for stored in (step.changes, step.subgraph_result, step.resume_data):
            check_json(db, stored, text)
        assert await db.claim(step_id) == 3
        assert await q.interrupt_caller_step(conn, interrupt_payload=text, step_id=step_id) == 1
        (paused,) = await q.get_interrupted_steps(conn, flow_id=flow_id)
        check_json(db, paused.interrupt_payload, text)


async def test_a_megabyte_payload_round_trips(db: Db) -> None:
    q, conn = db.q, db.conn
    big: dict[str, Any] = {
        "blob": "é😀abc" * 60_000,
        "numbers": list(range(2**53, 2**53 + 40_000)),
        "names": {f"k{i}": "ü" * 10 for i in range(5_000)},
    }
    text = json.dumps(big, ensure_ascii=False)
    assert len(text.encode()) > 2**20
    flow_id = await db.flow(graph=text)
    step_id = await db.step(flow_id, state=text)
    assert await db.claim(step_id) == 1
    assert (
        await q.complete_step(conn, changes=text, goto_next="", step_id=step_id, lease_seq=1) == 1
    )
    assert await q.complete_flow(conn, final_state=text, flow_id=flow_id) == 1
    flow = await db.get_flow(flow_id)
    step = await db.get_step(step_id)
    for stored in (flow.graph, flow.final_state, step.state, step.changes):
        assert json.loads(stored) == big
    tails = await q.select_tail_steps(conn, flow_id=flow_id)
    assert [json.loads(t.changes) == big for t in tails] == [True]


async def test_nul_is_rejected_by_postgresql_and_kept_by_sqlite_and_mariadb(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    step_id = await db.step(flow_id)
    assert await db.claim(step_id) == 1
    if db.dialect == "postgresql":
        with pytest.raises(psycopg.errors.UntranslatableCharacter):
            await q.insert_flow(conn, **{**FLOW_DEFAULTS, "graph": NUL_JSON})
        assert await q.count_flows(conn) == 1
        with pytest.raises(psycopg.errors.UntranslatableCharacter):
            await q.complete_flow(conn, final_state=NUL_JSON, flow_id=flow_id)
        with pytest.raises(psycopg.errors.UntranslatableCharacter):
            await q.complete_step(
                conn, changes=NUL_JSON, goto_next="", step_id=step_id, lease_seq=1
            )
        flow = await db.get_flow(flow_id)
        assert (flow.status, json.loads(flow.final_state)) == ("running", {})
        step = await db.get_step(step_id)
        assert (step.status, json.loads(step.changes)) == ("running", {})
        # the lease is intact: a clean payload still completes the step
        assert (
            await q.complete_step(conn, changes="{}", goto_next="", step_id=step_id, lease_seq=1)
            == 1
        )
    else:
        stored_id = await db.flow(flow_token="1" * 16, graph=NUL_JSON)
        assert await q.complete_flow(conn, final_state=NUL_JSON, flow_id=flow_id) == 1
        assert (
            await q.complete_step(
                conn, changes=NUL_JSON, goto_next="", step_id=step_id, lease_seq=1
            )
            == 1
        )
        values = [
            (await db.get_flow(stored_id)).graph,
            (await db.get_flow(flow_id)).final_state,
            (await db.get_step(step_id)).changes,
        ]
        assert values == [NUL_JSON] * 3
        assert {json.loads(v)["a"] for v in values} == {"x\x00y"}

    # a NUL character in a text column
    flow_id = await db.flow(flow_token="2" * 16)
    step_id = await db.step(flow_id)
    assert await db.claim(step_id) == 1
    if db.dialect == "postgresql":
        with pytest.raises(psycopg.DataError, match="NUL"):
            await q.fail_flow(
                conn, error_type="", error="a\x00b", final_state="{}", flow_id=flow_id
            )
        with pytest.raises(psycopg.DataError, match="NUL"):
            await q.fail_step(conn, error_type="", error="a\x00b", step_id=step_id, lease_seq=1)
        assert ((await db.get_flow(flow_id)).status, (await db.get_step(step_id)).status) == (
            "running",
            "running",
        )
    else:
        assert (
            await q.fail_flow(
                conn, error_type="", error="a\x00b", final_state="{}", flow_id=flow_id
            )
            == 1
        )
        assert (
            await q.fail_step(conn, error_type="", error="c\x00d", step_id=step_id, lease_seq=1)
            == 1
        )
        assert (await db.get_flow(flow_id)).error == "a\x00b"
        assert await q.first_failed_step_error(conn, flow_id=flow_id) == "c\x00d"
