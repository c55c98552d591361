"""Dispatch, breaker, gauges and cohorts on live databases.

Selection only ever sees due, unparked, pending steps; claims and lease recovery fence the
previous owner; the breaker parks, probes and unparks a task's steps; the timer and gauges
count what is due; cohort counters, exits and folds follow the fan-out. The harness is in
test_queries.py.
"""

from __future__ import annotations

import json

from tests.storage.test_queries import Db


async def test_activation_makes_only_that_flows_created_steps_claimable(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow(status="created")
    entry = await db.step(flow_id, status="created")
    second = await db.step(flow_id, status="created", delay_ms=-1000)
    other = await db.step(await db.flow(status="created"), status="created")
    assert await db.claim(entry) == 0
    assert await q.activate_flow_steps(conn, flow_id=flow_id) == 2
    assert await q.activate_flow_steps(conn, flow_id=flow_id) == 0
    assert (await db.claim(entry), await db.claim(second)) == (1, 1)
    assert (await db.get_step(other)).status == "created"


async def test_the_breaker_parks_probes_and_unparks_a_task(db: Db) -> None:
    q, conn = db.q, db.conn
    tripped, healthy = await db.flow(), await db.flow()
    mine = await db.step(tripped, task_name="t")
    theirs = await db.step(healthy, task_name="t")
    later = await db.step(healthy, task_name="t", delay_ms=3_600_000)
    running = await db.step(healthy, task_name="t")
    other_task = await db.step(healthy, task_name="u")
    await db.claim(running)
    await db.backdate("dwarf_steps", theirs, "created_at", 60)

    assert await q.park_flow_steps_of_task(conn, flow_id=tripped, task_name="t") == 1
    assert (await db.get_step(mine)).parked == 2
    assert (await db.get_step(theirs)).parked == 0
    # bulk park: every pending unparked step of the task, due or not; running ones keep going
    assert await q.park_pending_steps_of_task(conn, task_name="t") == 2
    assert await q.park_pending_steps_of_task(conn, task_name="t") == 0
    parked = {s: (await db.get_step(s)).parked for s in (mine, theirs, later, running, other_task)}
    assert parked == {mine: 2, theirs: 2, later: 2, running: 0, other_task: 0}
    assert [r.task_name for r in await q.distinct_parked_tasks(conn)] == ["t"]
    assert [r.step_id for r in await q.select_due_band(conn, above_priority=0, row_limit=10)] == [
        other_task
    ]
    assert await db.claim(mine) == 0

    # the probe is the oldest pending step of the task, parked or not
    assert await q.oldest_pending_step_of_task(conn, task_name="t") == theirs
    assert await q.oldest_pending_step_of_task(conn, task_name="none") is None
    assert await q.schedule_probe(conn, delay_ms=0, step_id=theirs) == 1
    assert await q.schedule_probe(conn, delay_ms=0, step_id=theirs) == 0  # no longer parked
    assert await q.schedule_probe(conn, delay_ms=0, step_id=other_task) == 0  # never parked
    assert await db.claim(theirs) == 1
    assert await q.schedule_probe(conn, delay_ms=60_000, step_id=mine) == 1
    schedule = await q.get_step_schedule(conn, step_id=mine)
    assert schedule is not None
    assert 50_000 < schedule.delay_ms <= 60_000
    assert await db.claim(mine) == 0  # elevated but not due yet

    await q.park_pending_steps_of_task(conn, task_name="u")
    assert [r.task_name for r in await q.distinct_parked_tasks(conn)] == ["t", "u"]
    assert await q.unpark_steps_of_task(conn, task_name="t") == 1  # `later`; `mine` was elevated
    assert await q.unpark_steps_of_task(conn, task_name="t") == 0
    assert [r.task_name for r in await q.distinct_parked_tasks(conn)] == ["u"]
    assert (await db.get_step(later)).parked == 0


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


async def test_poll_horizon_and_step_schedule_read_the_database_clock(db: Db) -> None:
    q, conn = db.q, db.conn
    horizon = await q.poll_horizon(conn)
    assert horizon is not None
    assert (horizon.due_count, horizon.next_due_ms, horizon.next_lease_ms) == (0, None, None)
    flow_id = await db.flow()
    due = await db.step(flow_id, priority=7)
    await db.step(flow_id)
    await db.step(flow_id, parked=2)  # parked: not due
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


async def test_gauges_count_due_pending_by_priority_and_running_by_task(db: Db) -> None:
    q, conn = db.q, db.conn
    assert await q.pending_by_priority(conn) == []
    assert await q.running_by_task(conn) == []
    flow_id = await db.flow()
    oldest = await db.step(flow_id, priority=1)
    await db.step(flow_id, priority=1)
    await db.step(flow_id, priority=4)
    await db.step(flow_id, priority=1, delay_ms=60_000)  # not due
    await db.step(flow_id, priority=1, parked=2)  # parked
    await db.backdate("dwarf_steps", oldest, "created_at", 3600)
    for task in ("a", "a", "b", "c"):
        await db.claim(await db.step(flow_id, task_name=task, priority=9))
    waiting = await db.step(flow_id, task_name="c")
    await db.claim(waiting)
    await q.park_step_for_subgraph(conn, changes="{}", step_id=waiting, lease_seq=1)

    gauges = await q.pending_by_priority(conn)
    assert [(g.priority, g.pending_count) for g in gauges] == [(1, 2), (4, 1)]
    assert gauges[0].oldest_age_ms is not None
    assert 3_600_000 <= gauges[0].oldest_age_ms < 3_900_000
    assert gauges[1].oldest_age_ms is not None
    assert 0 <= gauges[1].oldest_age_ms < 300_000
    running = await q.running_by_task(conn)
    assert [(r.task_name, r.running_count) for r in running] == [("a", 2), ("b", 1), ("c", 1)]


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
    assert (json.loads(cohort.state), json.loads(cohort.changes)) == ({"s": 0}, {"k": 1})
    assert await q.get_cohort(conn, step_id=loner + 99) is None

    for name, changes in (("m_late", '{"v": "late"}'), ("m_first", '{"v": "first"}')):
        await db.claim(members[name])
        await q.complete_step(
            conn, changes=changes, goto_next="", step_id=members[name], lease_seq=1
        )
    await db.claim(members["m_y"])
    await q.fail_step(conn, error="no", step_id=members["m_y"], lease_seq=1)
    fold = await q.list_cohort_changes(conn, lineage_id=spawn)
    assert [(f.step_id, f.task_name, f.fan_out_ordinal) for f in fold] == [
        (members["m_first"], "x", 0),
        (members["m_late"], "x", 2),
    ]
    assert [json.loads(f.changes) for f in fold] == [{"v": "first"}, {"v": "late"}]
    assert await q.list_cohort_changes(conn, lineage_id=0) == []
    await q.set_cohort_size(conn, cohort_size=2, step_id=members["m_late"])  # a nested spawn
    folded = await q.list_cohort_members(conn, lineage_id=spawn)
    assert [(m.step_id, m.fan_out_ordinal, m.cohort_size) for m in folded] == [
        (members["m_first"], 0, 0),
        (members["m_late"], 2, 2),
    ]
    assert [json.loads(m.changes) for m in folded] == [{"v": "first"}, {"v": "late"}]
    assert await q.list_cohort_members(conn, lineage_id=0) == []
    assert await q.get_step_ordinal(conn, step_id=members["m_late"]) == 2
    assert await q.get_step_ordinal(conn, step_id=spawn) == 0
    assert await q.get_step_ordinal(conn, step_id=loner + 99) is None
    assert await q.max_cohort_depth(conn, lineage_id=spawn) == 3
    assert await q.max_cohort_depth(conn, lineage_id=0) == 0
    assert await q.max_cohort_depth(conn, lineage_id=loner + 99) == 0

    # exits of the cohort (by task name, no successor yet) point at the fan-in once
    fan_in = await db.step(flow_id, task_name="join", step_depth=4)
    await q.set_step_successor(conn, successor_id=fan_in, step_id=members["m_first"])
    await q.set_cohort_exit_successors(
        conn, successor_id=loner, lineage_id=spawn, task_names=[]
    )  # an empty list matches nothing
    await q.set_cohort_exit_successors(
        conn, successor_id=fan_in, lineage_id=spawn, task_names=["x", "z"]
    )
    await q.set_cohort_exit_successors(
        conn, successor_id=loner, lineage_id=spawn, task_names=["x", "y"]
    )
    await q.set_cohort_exit_successors(conn, successor_id=spawn, lineage_id=0, task_names=["x"])
    dag = {row.step_id: row for row in await q.list_step_dag(conn, flow_id=flow_id)}
    assert list(dag) == sorted(dag)
    assert dag[members["m_first"]].successor_id == fan_in
    assert dag[members["m_late"]].successor_id == fan_in
    assert dag[members["m_y"]].successor_id == loner  # only the later call named y
    assert dag[loner].successor_id == 0  # lineage 0 is no cohort
    assert (dag[spawn].cohort_size, dag[spawn].cohort_arrivals, dag[spawn].cohort_failures) == (
        3,
        2,
        1,
    )
    assert (dag[members["m_late"]].lineage_id, dag[members["m_late"]].fan_out_ordinal) == (spawn, 2)
    assert (dag[members["m_y"]].status, dag[fan_in].step_depth) == ("failed", 4)
