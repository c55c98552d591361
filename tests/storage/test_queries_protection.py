"""The circuit breaker's parking queries on live databases (docs/internals/protection.md).

``parked = 2`` is the breaker backlog: these scenarios show a trip parks only the tripped task's
visible pending steps (and its failing step, fenced), a probe candidate is the visible step if
there is one and else the oldest parked one, and unparking releases exactly the backlog.
"""

from __future__ import annotations

from dwarf.workflow import Status
from tests.fixtures.storage import Db


async def test_a_trip_parks_the_task_and_its_failing_step_and_nothing_else(db: Db) -> None:
    q, conn = db.q, db.conn
    flow = await db.flow()
    failing = await db.step(flow, task_name="dead")
    waiting = await db.step(flow, task_name="dead")
    other = await db.step(flow, task_name="alive")
    seq = await db.claim(failing)

    assert await q.park_step_for_breaker(conn, step_id=failing, lease_seq=seq + 1) == 0
    assert await q.park_step_for_breaker(conn, step_id=failing, lease_seq=seq) == 1
    assert await q.park_pending_steps_of_task(conn, task_name="dead") == 1
    parked = await db.get_step(failing)
    assert (parked.status, parked.parked) == (Status.PENDING, 2)
    assert (await db.get_step(waiting)).parked == 2
    assert (await db.get_step(other)).parked == 0
    assert [row.task_name for row in await q.select_parked_tasks(conn)] == ["dead"]


async def test_new_steps_of_one_flow_are_parked_by_flow_and_task(db: Db) -> None:
    q, conn = db.q, db.conn
    mine, theirs = await db.flow(), await db.flow()
    step = await db.step(mine, task_name="dead")
    elsewhere = await db.step(theirs, task_name="dead")

    assert await q.park_pending_steps_of_flow_task(conn, flow_id=mine, task_name="dead") == 1
    assert await q.park_pending_steps_of_flow_task(conn, flow_id=mine, task_name="dead") == 0
    assert (await db.get_step(step)).parked == 2
    assert (await db.get_step(elsewhere)).parked == 0


async def test_a_probe_prefers_a_visible_step_then_the_oldest_parked_one(db: Db) -> None:
    q, conn = db.q, db.conn
    flow = await db.flow()
    assert await q.select_probe_candidate(conn, task_name="dead") is None
    oldest = await db.step(flow, task_name="dead")
    newer = await db.step(flow, task_name="dead")
    await q.park_pending_steps_of_task(conn, task_name="dead")

    candidate = await q.select_probe_candidate(conn, task_name="dead")
    assert candidate is not None
    assert (candidate.step_id, candidate.parked) == (oldest, 2)
    assert await q.unpark_step(conn, step_id=oldest) == 1
    assert await q.unpark_step(conn, step_id=oldest) == 0
    candidate = await q.select_probe_candidate(conn, task_name="dead")
    assert candidate is not None
    assert (candidate.step_id, candidate.parked) == (oldest, 0)

    assert await q.unpark_steps_of_task(conn, task_name="dead") == 1
    assert (await db.get_step(newer)).parked == 0
    assert await q.select_parked_tasks(conn) == []
