"""Dispatch and cohorts on live databases.

Selection only ever sees due, unparked, pending steps; claims and lease recovery fence the
previous owner; the timer counts what is due; cohort counters, exits and folds follow the
fan-out. The harness is in tests/fixtures/storage.py.
"""

from __future__ import annotations

import json

from dwarf.workflow import Status
from tests.fixtures.storage import Db


async def test_activation_makes_only_that_flows_created_steps_claimable(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow(status=Status.CREATED)
    entry = await db.step(flow_id, status=Status.CREATED)
    second = await db.step(flow_id, status=Status.CREATED, delay_ms=-1000)
    other = await db.step(await db.flow(status=Status.CREATED), status=Status.CREATED)
    assert await db.claim(entry) == 0
    assert await q.activate_flow_steps(conn, flow_id=flow_id) == 2
    assert await q.activate_flow_steps(conn, flow_id=flow_id) == 0
    assert (await db.claim(entry), await db.claim(second)) == (1, 1)
    assert (await db.get_step(other)).status == "created"


async def test_lease_recovery_hands_the_step_on_and_fences_the_old_owner(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    lost = await db.step(flow_id, time_budget_ms=1_000)
    # a negative margin gives a lease that has already expired: no waiting
    assert await db.claim(lost, owner="w1", margin_ms=-60_000) == 1
    caller = await db.step(flow_id, time_budget_ms=1_000)
    assert await db.claim(caller, margin_ms=-60_000) == 1
    await q.park_step_for_subgraph(conn, changes="{}", step_id=caller, lease_seq=1)
    healthy = await db.step(flow_id)
    await db.claim(healthy)

    assert await q.recover_expired_leases(conn) == 1  # parked callers hold no lease
    assert await q.recover_expired_leases(conn) == 0
    row = await db.get_step(lost)
    assert (row.status, row.lease_seq) == ("pending", 1)
    assert await db.claim(lost, owner="w2") == 2
    assert await q.complete_step(conn, changes="{}", goto_next="", step_id=lost, lease_seq=1) == 0
    assert await q.complete_step(conn, changes="{}", goto_next="", step_id=lost, lease_seq=2) == 1
    assert (await db.get_step(caller)).status == "running"
    assert (await db.get_step(healthy)).status == "running"


async def test_due_counts_per_band_skip_parked_delayed_and_leased_steps(db: Db) -> None:
    q, conn = db.q, db.conn
    assert await q.count_due_by_priority(conn) == []
    flow_id = await db.flow()
    await db.step(flow_id, priority=7)
    await db.step(flow_id, priority=7)
    await db.step(flow_id, priority=3)
    await db.step(flow_id, priority=3, parked=1)
    await db.step(flow_id, priority=3, delay_ms=60_000)
    await db.claim(await db.step(flow_id, priority=9))

    rows = await q.count_due_by_priority(conn)
    assert [(row.priority, row.due_count) for row in rows] == [(3, 1), (7, 2)]
    assert all(row.oldest_ms is not None and row.oldest_ms >= 0 for row in rows)
    band = await q.select_due_band(conn, above_priority=0, row_limit=10)
    assert [row.priority for row in band] == [3]
    assert band[0].wait_ms >= 0


async def test_poll_horizon_and_step_schedule_read_the_database_clock(db: Db) -> None:
    q, conn = db.q, db.conn
    horizon = await q.poll_horizon(conn)
    assert horizon is not None
    assert (horizon.due_count, horizon.next_due_ms, horizon.next_lease_ms) == (0, None, None)
    flow_id = await db.flow()
    due = await db.step(flow_id, priority=7)
    await db.step(flow_id)
    await db.step(flow_id, parked=1)  # parked: not due
    soon = await db.step(flow_id, delay_ms=60_000)
    await db.step(flow_id, delay_ms=600_000)  # beyond the 5 minute horizon
    leased = await db.step(flow_id, time_budget_ms=100_000)
    await db.claim(leased, margin_ms=20_000)
    far_lease = await db.step(flow_id, time_budget_ms=900_000)
    await db.claim(far_lease)

    horizon = await q.poll_horizon(conn)
    assert horizon is not None
    assert horizon.due_count == 2
    assert horizon.next_due_ms is not None
    assert 50_000 < horizon.next_due_ms <= 60_000
    assert horizon.next_lease_ms is not None
    assert 110_000 < horizon.next_lease_ms <= 120_000

    now_due = await q.get_step_schedule(conn, step_id=due)
    assert now_due is not None
    assert (now_due.priority, now_due.delay_ms <= 0) == (7, True)
    waiting = await q.get_step_schedule(conn, step_id=soon)
    assert waiting is not None
    assert 50_000 < waiting.delay_ms <= 60_000
    assert await q.get_step_schedule(conn, step_id=far_lease + 99) is None


async def test_cohort_counters_exits_and_fold_order(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    spawn = await db.step(flow_id, task_name="split", state='{"s": 0}', changes='{"k": 1}')
    members = {
        "m_late": await db.step(flow_id, task_name="x", lineage_id=spawn, fan_out_ordinal=2),
        "m_first": await db.step(
            flow_id, task_name="x", lineage_id=spawn, fan_out_ordinal=0, step_depth=3
        ),
        "m_y": await db.step(flow_id, task_name="y", lineage_id=spawn, fan_out_ordinal=1),
    }
    loner = await db.step(flow_id, task_name="x")  # lineage 0: in no cohort

    await q.set_cohort_size(conn, cohort_size=3, step_id=spawn)
    for arrivals, failures in ((1, 0), (1, 0), (1, 1), (-1, 0)):
        assert (
            await q.add_cohort_arrivals(conn, arrivals=arrivals, failures=failures, step_id=spawn)
            == 1
        )
    assert await q.add_cohort_arrivals(conn, arrivals=1, failures=0, step_id=loner + 99) == 0
    # rows are matched rows, also when nothing changes (MariaDB needs CLIENT.FOUND_ROWS for it)
    assert await q.add_cohort_arrivals(conn, arrivals=0, failures=0, step_id=spawn) == 1
    cohort = await q.get_cohort(conn, step_id=spawn)
    assert cohort is not None
    assert (cohort.cohort_size, cohort.cohort_arrivals, cohort.cohort_failures) == (3, 2, 1)
    assert (cohort.lineage_id, cohort.flow_id, cohort.task_name, cohort.step_depth) == (
        0,
        flow_id,
        "split",
        1,
    )
    assert await q.get_cohort(conn, step_id=loner + 99) is None
    base = await q.get_step_input(conn, step_id=spawn)
    assert base is not None
    assert (json.loads(base.state), base.state_base, json.loads(base.changes)) == (
        {"s": 0},
        0,
        {"k": 1},
    )
    assert await q.get_step_input(conn, step_id=loner + 99) is None

    for name, changes in (("m_late", '{"v": "late"}'), ("m_first", '{"v": "first"}')):
        await db.claim(members[name])
        await q.complete_step(
            conn, changes=changes, goto_next="", step_id=members[name], lease_seq=1
        )
    await db.claim(members["m_y"])
    await q.fail_step(conn, error_type="", error="no", step_id=members["m_y"], lease_seq=1)
    await q.set_cohort_size(conn, cohort_size=2, step_id=members["m_late"])  # a nested spawn
    assert await q.get_step_ordinal(conn, step_id=members["m_late"]) == 2
    assert await q.get_step_ordinal(conn, step_id=spawn) == 0
    assert await q.get_step_ordinal(conn, step_id=loner + 99) is None

    # the DAG lists steps by id with their successor links
    fan_in = await db.step(flow_id, task_name="join", step_depth=4)
    await q.set_step_successor(conn, successor_id=fan_in, step_id=members["m_first"])
    dag = {row.step_id: row for row in await q.list_step_dag(conn, flow_id=flow_id)}
    assert list(dag) == sorted(dag)
    assert dag[members["m_first"]].successor_id == fan_in
    assert dag[members["m_late"]].successor_id == 0
    assert dag[loner].successor_id == 0
    assert (dag[spawn].cohort_size, dag[spawn].cohort_arrivals, dag[spawn].cohort_failures) == (
        3,
        2,
        1,
    )
    assert (dag[members["m_late"]].lineage_id, dag[members["m_late"]].fan_out_ordinal) == (spawn, 2)
    assert (dag[members["m_y"]].status, dag[fan_in].step_depth) == ("failed", 4)


async def test_cohort_pages_deltas_and_exit_links(db: Db) -> None:
    # A fan-in reads its cohort in step id pages, its deltas by id, and links exits by id.
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    spawn = await db.step(flow_id, task_name="split")
    members = [
        await db.step(
            flow_id, task_name="x", lineage_id=spawn, fan_out_ordinal=4 - i, step_depth=2 + i
        )
        for i in range(5)
    ]
    other = await db.step(flow_id, task_name="x")  # lineage 0: in no cohort
    for index, step_id in enumerate(members[:3]):
        await db.claim(step_id)
        await q.complete_step(
            conn, changes=f'{{"v": {index}}}', goto_next="", step_id=step_id, lease_seq=1
        )

    first = await q.list_cohort_page(conn, lineage_id=spawn, after_id=0, row_limit=2)
    assert [row.step_id for row in first] == members[:2]
    assert [(row.fan_out_ordinal, row.step_depth, row.task_name) for row in first] == [
        (4, 2, "x"),
        (3, 3, "x"),
    ]
    assert {row.status for row in first} == {Status.COMPLETED}
    assert {(row.successor_id, row.cohort_size) for row in first} == {(0, 0)}
    rest = await q.list_cohort_page(conn, lineage_id=spawn, after_id=members[1], row_limit=2)
    assert [row.step_id for row in rest] == members[2:4]
    last = await q.list_cohort_page(conn, lineage_id=spawn, after_id=members[3], row_limit=2)
    assert [(row.step_id, row.status) for row in last] == [(members[4], Status.PENDING)]
    assert await q.list_cohort_page(conn, lineage_id=0, after_id=0, row_limit=10) == []

    changes = await q.list_step_changes(conn, step_ids=[members[2], members[0], other + 99])
    assert sorted((row.step_id, json.loads(row.changes)) for row in changes) == [
        (members[0], {"v": 0}),
        (members[2], {"v": 2}),
    ]
    assert await q.list_step_changes(conn, step_ids=[]) == []

    # Only steps with no successor yet are linked.
    await q.set_step_successor(conn, successor_id=other, step_id=members[1])
    await q.set_steps_successor(conn, successor_id=spawn, step_ids=members[:3])
    await q.set_steps_successor(conn, successor_id=other, step_ids=[])
    dag = {row.step_id: row.successor_id for row in await q.list_step_dag(conn, flow_id=flow_id)}
    assert [dag[step_id] for step_id in members] == [spawn, other, spawn, 0, 0]
