"""Rewind queries on live databases: step copies, subgraph tree walks and drops, row locks.

The harness is in tests/fixtures/storage.py. These scenarios follow its convention (``async def
test_x(db)``), so tests/storage/test_queries_coverage.py can replay them once its
``SCENARIO_MODULES`` lists this module.
"""

from __future__ import annotations

import json
from datetime import timedelta

from dwarf.workflow import Status
from tests.fixtures.storage import Db, near_now


async def test_a_step_copy_keeps_payloads_and_timestamps_by_age(db: Db) -> None:
    q, conn = db.q, db.conn
    origin = await db.flow()
    source = await db.step(
        origin, state='{"s": "é"}', changes='{"c": [1, 2]}', status=Status.COMPLETED
    )
    await db.backdate("dwarf_steps", source, "created_at", 3600)
    await db.backdate("dwarf_steps", source, "started_at", 1800)
    [row] = await q.list_steps_for_copy(conn, flow_id=origin)
    assert row.step_id == source
    assert 3_595_000 <= row.created_age_ms <= 3_605_000
    assert 1_795_000 <= row.started_age_ms <= 1_805_000
    assert 0 <= row.updated_age_ms < 300_000

    target = await db.flow()
    copy_id = await q.insert_step_copy(
        conn,
        flow_id=target,
        step_depth=row.step_depth,
        step_token="0000111122223333",
        task_name=row.task_name,
        state=row.state,
        changes=row.changes,
        interrupt_payload='{"p": 1}',
        status=Status.CANCELLED,
        goto_next="next",
        error="boom",
        time_budget_ms=row.time_budget_ms,
        breakpoint_hit=True,
        attempt=2,
        lineage_id=7,
        cohort_size=3,
        cohort_arrivals=2,
        cohort_failures=1,
        fan_out_ordinal=4,
        predecessor_id=5,
        priority=9,
        fairness_key="tenant",
        fairness_weight=2.5,
        interrupt_done=True,
        resume_data='{"r": 1}',
        subgraph_done=True,
        subgraph_result='{"out": 1}',
        subgraph_error="child",
        created_age_ms=row.created_age_ms,
        started_age_ms=row.started_age_ms,
        updated_age_ms=row.updated_age_ms,
    )
    original, copy = await db.get_step(source), await db.get_step(copy_id)
    assert copy.flow_id == target
    assert json.loads(copy.state) == {"s": "é"}
    assert json.loads(copy.changes) == {"c": [1, 2]}
    assert (copy.status, copy.error, copy.goto_next, copy.parked) == (
        "cancelled",
        "boom",
        "next",
        0,
    )
    assert (copy.lineage_id, copy.predecessor_id, copy.successor_id) == (7, 5, 0)
    assert (copy.cohort_size, copy.cohort_arrivals, copy.cohort_failures) == (3, 2, 1)
    assert (copy.subgraph_done, json.loads(copy.subgraph_result)) == (1, {"out": 1})
    assert abs(copy.created_at - original.created_at) < timedelta(seconds=2)
    assert abs(copy.started_at - original.started_at) < timedelta(seconds=2)
    assert near_now(copy.lease_expires)
    assert near_now(copy.not_before)


async def test_child_flows_are_listed_per_level_and_dropped_whatever_their_status(db: Db) -> None:
    q, conn = db.q, db.conn
    root = await db.flow()
    other = await db.flow()
    first = await db.flow(surgraph_flow_id=root, surgraph_step_id=11, status=Status.RUNNING)
    second = await db.flow(surgraph_flow_id=root, surgraph_step_id=12, status=Status.COMPLETED)
    grandchild = await db.flow(surgraph_flow_id=first, surgraph_step_id=21)
    stray = await db.flow(surgraph_flow_id=other, surgraph_step_id=31)
    for flow_id in (first, second, grandchild):
        await db.step(flow_id, status=Status.RUNNING)

    level = await q.list_child_flows_of(conn, flow_ids=[root])
    assert [(c.flow_id, c.surgraph_flow_id, c.surgraph_step_id, c.status) for c in level] == [
        (first, root, 11, "running"),
        (second, root, 12, "completed"),
    ]
    below = await q.list_child_flows_of(conn, flow_ids=[first, second])
    assert [c.flow_id for c in below] == [grandchild]

    tree = [first, second, grandchild]
    assert await q.drop_steps_of_flows(conn, flow_ids=tree) == 3
    assert await q.drop_flows(conn, flow_ids=tree) == 3
    for flow_id in tree:
        assert await q.get_flow_by_id(conn, flow_id=flow_id) is None
    assert await q.list_child_flows_of(conn, flow_ids=[other]) != []
    assert (await db.get_flow(stray)).surgraph_flow_id == other


async def test_lock_flow_changes_nothing_and_clear_step_error_forgets_the_failure(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    before = await db.get_flow(flow_id)
    assert await q.lock_flow(conn, flow_id=flow_id) == 1
    assert await q.lock_flow(conn, flow_id=flow_id + 1000) == 0
    assert await db.get_flow(flow_id) == before

    step_id = await db.step(flow_id, status=Status.FAILED)
    await db.execute(
        "UPDATE dwarf_steps SET error = 'boom', goto_next = 'x' WHERE step_id = "
        + ("%s" if db.dialect in ("postgresql", "mysql") else "?"),
        (step_id,),
    )
    await q.clear_step_error(conn, step_id=step_id)
    step = await db.get_step(step_id)
    assert (step.error, step.goto_next, step.status) == ("", "", "failed")
