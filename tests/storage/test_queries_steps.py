"""Step rows on live databases: fenced writes, caller propagation, resumes, resets and reads.

Every write a worker makes after running a task carries ``lease_seq`` (fencing): these tests show
each one applies with the current lease and is a no-op (0 rows, row unchanged) with a stale one
or once the step left ``running``. The harness is in tests/fixtures/storage.py.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

from dwarf._storage._gen.rows import StepRow
from dwarf.workflow import Status
from tests.fixtures.storage import STEP_TOKEN, Db, near_now


async def fenced(db: Db, step_id: int, write: Callable[[int], Awaitable[int]]) -> StepRow:
    """Claim the step, then show ``write(lease_seq)`` is fenced; return the row it left."""
    assert await db.claim(step_id) == 1
    before = await db.get_step(step_id)
    assert await write(0) == 0  # a stale lease changes nothing
    assert await db.get_step(step_id) == before
    assert await write(1) == 1
    after = await db.get_step(step_id)
    assert await write(1) == 0  # applied once: its guard no longer holds
    assert await db.get_step(step_id) == after
    return after


async def test_post_execution_writes_are_fenced_by_lease_seq_and_status(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()

    async def new_step() -> int:
        return await db.step(flow_id)

    step = await new_step()
    row = await fenced(
        db,
        step,
        lambda seq: q.complete_step(
            conn, changes='{"c": 1}', goto_next="next", step_id=step, lease_seq=seq
        ),
    )
    assert (row.status, row.goto_next, json.loads(row.changes), row.parked) == (
        "completed",
        "next",
        {"c": 1},
        0,
    )

    step = await new_step()
    successor = await new_step()
    row = await fenced(
        db,
        step,
        lambda seq: q.complete_step_linked(
            conn,
            changes='{"l": 1}',
            goto_next="",
            successor_id=successor,
            step_id=step,
            lease_seq=seq,
        ),
    )
    assert (row.status, row.successor_id, json.loads(row.changes)) == (
        "completed",
        successor,
        {"l": 1},
    )

    step = await new_step()
    row = await fenced(
        db,
        step,
        lambda seq: q.fail_step(conn, error_type="", error="bad", step_id=step, lease_seq=seq),
    )
    assert (row.status, row.error) == ("failed", "bad")

    step = await new_step()
    row = await fenced(
        db,
        step,
        lambda seq: q.retry_step(
            conn, changes='{"r": 1}', delay_ms=3_600_000, step_id=step, lease_seq=seq
        ),
    )
    assert (row.status, row.attempt, json.loads(row.changes)) == ("pending", 1, {"r": 1})
    # the backoff is added to the database clock of the same statement
    assert row.not_before - row.updated_at == timedelta(hours=1)
    schedule = await q.get_step_schedule(conn, step_id=step)
    assert schedule is not None
    assert 3_000_000 < schedule.delay_ms <= 3_600_000
    assert await db.claim(step) == 0  # not due before its backoff

    step = await new_step()
    row = await fenced(
        db, step, lambda seq: q.defer_step(conn, step_id=step, lease_seq=seq, delay_ms=3_600_000)
    )
    assert (row.status, row.attempt) == ("pending", 0)  # no attempt consumed
    assert await db.claim(step) == 0  # not due before the delay

    step = await new_step()
    row = await fenced(
        db,
        step,
        lambda seq: q.park_step_for_subgraph(conn, changes='{"p": 1}', step_id=step, lease_seq=seq),
    )
    assert (row.status, row.parked, json.loads(row.changes)) == ("running", 1, {"p": 1})

    step = await new_step()
    row = await fenced(
        db,
        step,
        lambda seq: q.interrupt_leaf_step(
            conn,
            changes='{"i": 1}',
            interrupt_payload='{"ask": "name?"}',
            step_id=step,
            lease_seq=seq,
        ),
    )
    assert (row.status, row.interrupt_done, row.breakpoint_hit) == ("interrupted", 1, 0)
    assert json.loads(row.interrupt_payload) == {"ask": "name?"}
    assert json.loads(row.changes) == {"i": 1}

    step = await new_step()
    row = await fenced(
        db, step, lambda seq: q.breakpoint_leaf_step(conn, step_id=step, lease_seq=seq)
    )
    assert (row.status, row.interrupt_done, row.breakpoint_hit) == ("interrupted", 0, 1)

    step = await new_step()
    row = await fenced(
        db,
        step,
        lambda seq: q.set_step_status_from_flow(
            conn, status=Status.CANCELLED, step_id=step, lease_seq=seq
        ),
    )
    assert (row.status, row.parked) == ("cancelled", 0)

    step = await new_step()
    row = await fenced(
        db, step, lambda seq: q.reset_contended_step(conn, step_id=step, lease_seq=seq)
    )
    assert row.status == "pending"
    assert await db.claim(step) == 2  # its lease was released: claimable at once


async def test_engine_faults_count_under_the_fence_and_a_reset_clears_them(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    step = await db.step(flow_id)
    assert await q.get_engine_faults(conn, step_id=step) == 0
    assert await q.count_engine_fault(conn, step_id=step, lease_seq=0) == 0  # not running
    assert await db.claim(step) == 1
    assert await q.count_engine_fault(conn, step_id=step, lease_seq=0) == 0  # stale lease
    assert await q.count_engine_fault(conn, step_id=step, lease_seq=1) == 1
    assert await q.count_engine_fault(conn, step_id=step, lease_seq=1) == 1
    assert await q.get_engine_faults(conn, step_id=step) == 2
    assert (await db.get_step(step)).status == "running"  # counting leaves the claim alone
    assert await q.get_engine_faults(conn, step_id=step + 99) is None
    assert await q.fail_step(conn, error="poison", error_type="", step_id=step, lease_seq=1) == 1
    assert await q.reset_step(conn, state="{}", step_id=step) == 1
    assert await q.get_engine_faults(conn, step_id=step) == 0


async def test_claim_restamps_started_at_only_on_a_fresh_attempt(db: Db) -> None:
    q, conn = db.q, db.conn
    step = await db.step(await db.flow(), time_budget_ms=30_000)
    await db.backdate("dwarf_steps", step, "started_at", 3600)
    assert await db.claim(step, margin_ms=5_000) == 1
    row = await db.get_step(step)
    assert near_now(row.started_at)
    # the lease is the row's own budget plus the bound margin, on the database clock
    assert (row.lease_expires - row.updated_at).total_seconds() == 35.0
    assert row.lease_owner == "w1"

    # a subgraph round trip keeps started_at
    await q.park_step_for_subgraph(conn, changes="{}", step_id=step, lease_seq=1)
    await q.revive_caller_step(conn, subgraph_result='{"out": 1}', subgraph_error="", step_id=step)
    await db.backdate("dwarf_steps", step, "started_at", 3600)
    kept = (await db.get_step(step)).started_at
    assert await db.claim(step, owner="w2") == 2
    row = await db.get_step(step)
    assert (row.started_at, row.subgraph_done, row.lease_owner) == (kept, 1, "w2")
    assert json.loads(row.subgraph_result) == {"out": 1}

    # a retry clears the park slots and keeps started_at too
    assert await q.retry_step(conn, changes="{}", delay_ms=-1, step_id=step, lease_seq=2) == 1
    row = await db.get_step(step)
    assert (row.attempt, row.subgraph_done, row.subgraph_error, row.parked) == (1, 0, "", 0)
    assert (json.loads(row.subgraph_result), json.loads(row.resume_data)) == ({}, {})
    assert await db.claim(step) == 3
    assert (await db.get_step(step)).started_at == kept


async def test_caller_steps_park_pause_resume_and_receive_the_child_outcome(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    caller = await db.step(flow_id)
    assert await db.claim(caller) == 1
    assert await q.park_step_for_subgraph(conn, changes="{}", step_id=caller, lease_seq=1) == 1
    assert (
        await q.revive_caller_step(
            conn, subgraph_result="{}", subgraph_error="", step_id=caller + 99
        )
        == 0
    )

    # a breakpoint in the child pauses the caller; it stays parked for the child
    assert await q.breakpoint_caller_step(conn, step_id=caller) == 1
    assert await q.breakpoint_caller_step(conn, step_id=caller) == 1
    row = await db.get_step(caller)
    assert (row.status, row.parked) == ("interrupted", 1)
    assert await q.resume_caller_step(conn, step_id=caller) == 1
    assert await q.resume_caller_step(conn, step_id=caller) == 0
    row = await db.get_step(caller)
    assert (row.status, row.parked) == ("running", 1)

    # an interrupt in the child propagates with its payload; the first payload wins
    assert await q.interrupt_caller_step(conn, interrupt_payload='{"q": 1}', step_id=caller) == 1
    assert await q.interrupt_caller_step(conn, interrupt_payload='{"q": 2}', step_id=caller) == 1
    row = await db.get_step(caller)
    assert (row.status, row.parked, json.loads(row.interrupt_payload)) == (
        "interrupted",
        0,
        {"q": 1},
    )
    assert await q.resume_caller_step(conn, step_id=caller) == 1
    row = await db.get_step(caller)
    assert (row.status, row.parked, json.loads(row.interrupt_payload)) == ("running", 1, {})
    assert await q.interrupt_caller_step(conn, interrupt_payload='{"q": 3}', step_id=caller) == 1
    assert json.loads((await db.get_step(caller)).interrupt_payload) == {"q": 3}
    await q.resume_caller_step(conn, step_id=caller)

    # the child's outcome revives the parked caller once
    result = '{"child": "done"}'
    assert (
        await q.revive_caller_step(
            conn, subgraph_result=result, subgraph_error="oops", step_id=caller
        )
        == 1
    )
    assert (
        await q.revive_caller_step(conn, subgraph_result="{}", subgraph_error="", step_id=caller)
        == 0
    )
    row = await db.get_step(caller)
    assert (row.status, row.parked, row.subgraph_done, row.subgraph_error) == (
        "pending",
        0,
        1,
        "oops",
    )
    assert json.loads(row.subgraph_result) == {"child": "done"}
    # only running (or interrupted) callers take a propagated pause
    assert await q.interrupt_caller_step(conn, interrupt_payload="{}", step_id=caller) == 0
    assert await q.breakpoint_caller_step(conn, step_id=caller) == 0

    # a running caller that is not parked cannot be revived
    unparked = await db.step(flow_id)
    await db.claim(unparked)
    assert (
        await q.revive_caller_step(conn, subgraph_result="{}", subgraph_error="", step_id=unparked)
        == 0
    )


async def test_rearm_reparks_any_caller_that_is_not_cancelled(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    caller = await db.step(flow_id)
    other = await db.step(flow_id)
    await db.claim(caller)
    await q.park_step_for_subgraph(conn, changes="{}", step_id=caller, lease_seq=1)
    await q.revive_caller_step(conn, subgraph_result='{"r": 1}', subgraph_error="e", step_id=caller)
    await db.claim(caller)
    await q.complete_step(conn, changes="{}", goto_next="", step_id=caller, lease_seq=2)
    await q.set_step_successor(conn, successor_id=other, step_id=caller)

    assert await q.rearm_caller_step(conn, step_id=caller) == 1
    row = await db.get_step(caller)
    assert (row.status, row.parked, row.subgraph_done, row.subgraph_error) == ("running", 1, 0, "")
    assert (json.loads(row.subgraph_result), json.loads(row.interrupt_payload)) == ({}, {})
    assert row.successor_id == 0
    assert await q.cancel_flow_steps(conn, flow_id=flow_id) == 2
    assert await q.rearm_caller_step(conn, step_id=caller) == 0
    assert (await db.get_step(caller)).status == "cancelled"


async def test_resume_leaf_and_resume_break_each_need_their_own_pause(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    asked = await db.step(flow_id, task_name="ask")
    paused = await db.step(flow_id, task_name="pause", state='{"v": 1}')
    await db.step(flow_id, task_name="busy")
    await db.claim(asked)
    await db.claim(paused)
    await q.interrupt_leaf_step(
        conn, changes='{"c": 1}', interrupt_payload='{"ask": 1}', step_id=asked, lease_seq=1
    )
    await q.breakpoint_leaf_step(conn, step_id=paused, lease_seq=1)
    await db.backdate("dwarf_steps", paused, "updated_at", 60)

    interrupted = await q.get_interrupted_steps(conn, flow_id=flow_id)
    assert [(s.step_id, s.task_name) for s in interrupted] == [(paused, "pause"), (asked, "ask")]
    assert [(s.interrupt_done, s.breakpoint_hit) for s in interrupted] == [(0, 1), (1, 0)]
    assert json.loads(interrupted[1].interrupt_payload) == {"ask": 1}
    assert json.loads(interrupted[1].changes) == {"c": 1}
    assert interrupted[0].step_token == STEP_TOKEN
    assert json.loads(interrupted[0].state) == {"v": 1}

    assert await q.resume_break_step(conn, state="{}", step_id=asked) == 0
    assert await q.resume_leaf_step(conn, resume_data="{}", step_id=paused) == 0
    assert await q.resume_leaf_step(conn, resume_data='{"name": "Ann"}', step_id=asked) == 1
    assert await q.resume_leaf_step(conn, resume_data="{}", step_id=asked) == 0
    row = await db.get_step(asked)
    assert (row.status, json.loads(row.resume_data), json.loads(row.interrupt_payload)) == (
        "pending",
        {"name": "Ann"},
        {},
    )
    assert await q.resume_break_step(conn, state='{"v": 2}', step_id=paused) == 1
    assert await q.resume_break_step(conn, state="{}", step_id=paused) == 0
    row = await db.get_step(paused)
    assert (row.status, json.loads(row.state)) == ("pending", {"v": 2})
    assert await q.get_interrupted_steps(conn, flow_id=flow_id) == []

    # a resumed leaf asking again stores its new payload (the old one was cleared)
    assert await db.claim(asked) == 2
    assert (
        await q.interrupt_leaf_step(
            conn, changes="{}", interrupt_payload='{"ask": 2}', step_id=asked, lease_seq=2
        )
        == 1
    )
    assert json.loads((await db.get_step(asked)).interrupt_payload) == {"ask": 2}


async def test_cancel_reset_and_delete_steps_respect_their_status_guards(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    created = await db.step(flow_id, status=Status.CREATED)
    pending = await db.step(flow_id)
    running = await db.step(flow_id)
    interrupted = await db.step(flow_id, status=Status.INTERRUPTED)
    completed = await db.step(flow_id, status=Status.COMPLETED)
    failed = await db.step(flow_id, status=Status.FAILED)
    other_flow = await db.flow()
    elsewhere = await db.step(other_flow)
    await db.claim(running)
    assert await q.reset_step(conn, state="{}", step_id=pending) == 0  # live steps are not reset
    assert await q.reset_step(conn, state="{}", step_id=running) == 0

    assert await q.cancel_flow_steps(conn, flow_id=flow_id) == 4
    statuses = {s.step_id: s.status for s in await q.list_steps_of_flows(conn, flow_ids=[flow_id])}
    assert statuses == {
        created: "cancelled",
        pending: "cancelled",
        running: "cancelled",
        interrupted: "cancelled",
        completed: "completed",
        failed: "failed",
    }
    assert (await db.get_step(elsewhere)).status == "pending"

    # ResetStep turns a finished step into a fresh pending one with the given state
    await q.set_cohort_size(conn, cohort_size=3, step_id=completed)
    await q.add_cohort_arrivals(conn, arrivals=2, failures=1, step_id=completed)
    await q.set_step_successor(conn, successor_id=failed, step_id=completed)
    await db.backdate("dwarf_steps", completed, "created_at", 3600)
    assert await q.reset_step(conn, state='{"s": 1}', step_id=completed) == 1
    row = await db.get_step(completed)
    assert (row.status, json.loads(row.state), json.loads(row.changes)) == ("pending", {"s": 1}, {})
    assert (row.cohort_size, row.cohort_arrivals, row.cohort_failures) == (0, 0, 0)
    assert (row.successor_id, row.attempt, row.error, row.goto_next) == (0, 0, "", "")
    assert near_now(row.created_at)
    for step_id in (failed, running):
        assert await q.reset_step(conn, state="{}", step_id=step_id) == 1

    assert await q.delete_steps_except(conn, flow_id=flow_id, keep_step_id=completed) == 5
    assert [s.step_id for s in await q.list_steps_of_flows(conn, flow_ids=[flow_id])] == [completed]
    assert await q.delete_steps(conn, step_ids=[completed, elsewhere, elsewhere + 99]) == 2
    assert await q.count_steps(conn) == 0


async def test_step_reads_by_key_history_tails_and_first_failure(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    deep = await db.step(flow_id, step_depth=2, task_name="deep")
    top = await db.step(flow_id, step_depth=1, task_name="top", predecessor_id=0)
    mid = await db.step(flow_id, step_depth=1, task_name="mid", predecessor_id=top)
    await db.step(await db.flow(), step_depth=0)  # another flow's step

    found = await q.get_step(conn, step_id=deep, step_token=STEP_TOKEN)
    assert found is not None
    assert (found.flow_id, found.task_name, found.step_depth) == (flow_id, "deep", 2)
    assert await q.get_step(conn, step_id=deep, step_token=STEP_TOKEN.upper()) is None
    assert await q.get_step_by_id(conn, step_id=deep + 99) is None

    history = await q.list_steps_of_flows(conn, flow_ids=[flow_id])
    assert [s.step_id for s in history] == [top, mid, deep]  # by depth, then id
    assert history[1].predecessor_id == top

    await q.set_step_successor(conn, successor_id=mid, step_id=top)
    tails = await q.select_tail_steps(conn, flow_id=flow_id)
    assert [(t.step_id, t.task_name, t.status) for t in tails] == [
        (deep, "deep", "pending"),
        (mid, "mid", "pending"),
    ]
    assert json.loads(tails[0].state) == {"x": 1}

    assert await q.first_failed_step_error(conn, flow_id=flow_id) is None
    for step_id, error in ((mid, "second"), (top, "first")):
        await db.claim(step_id)
        await q.fail_step(conn, error_type="", error=error, step_id=step_id, lease_seq=1)
    assert await q.first_failed_step_error(conn, flow_id=flow_id) == "first"


async def test_a_note_lands_on_a_completed_step_only(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow()
    done = await db.step(flow_id, status=Status.COMPLETED)
    waiting = await db.step(flow_id, status=Status.PENDING)
    note = "no transition matched out of 'a' ('x == 2' is false)"

    assert await q.note_step(conn, note=note, step_id=done) == 1
    assert await q.note_step(conn, note=note, step_id=waiting) == 0

    noted = await q.get_step_by_id(conn, step_id=done)
    untouched = await q.get_step_by_id(conn, step_id=waiting)
    assert noted is not None
    assert untouched is not None
    assert noted.error == note
    assert untouched.error == ""
