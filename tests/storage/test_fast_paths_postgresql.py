"""The PostgreSQL fast paths: each single statement writes what its portable transaction writes.

Each scenario runs the fast path, then reads the rows back with the portable accessors and
checks them field by field against what the transaction of portable queries would have left
(``CreateFlowWithEntry`` against InsertFlow + AdoptFlowIdentity + InsertStep + TouchFlow, and
so on), including the cases where the statement must write nothing: a lost lease, an ended
flow, a flow that is not ``created``, a step already claimed. The last test requires the
scenarios (with those of ``test_fast_path_batches_postgresql``) to call every accessor
``PostgresqlFastPaths`` declares.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import pytest

from dwarf._storage._gen import mysql, postgresql, sqlite, sqlserver
from dwarf._storage._gen.queries import PostgresqlFastPaths
from dwarf.workflow import Status
from tests.fixtures.storage import FLOW_DEFAULTS, TOKEN, Db, backend_dsn, open_db, protocol_members

pytestmark = pytest.mark.postgres

NEW_FLOW: dict[str, Any] = {
    key: FLOW_DEFAULTS[key]
    for key in (
        "flow_token",
        "workflow_name",
        "graph",
        "baggage",
        "surgraph_flow_id",
        "surgraph_step_depth",
        "surgraph_step_id",
        "root_flow_id",
        "thread_id",
        "thread_token",
        "breakpoints",
        "trace_parent",
        "priority",
        "fairness_key",
        "fairness_weight",
        "time_budget_ms",
        "delete_on_completion",
    )
} | {
    "started": False,
    "step_depth": 1,
    "step_token": "fedcba9876543210",
    "task_name": "a",
    "state": '{"x": 1}',
    "entry_time_budget_ms": 45_000,
    "delay_ms": 0,
    "lease_owner": "",
    "lease_margin_ms": 0,
}

SUCCESSOR: dict[str, Any] = {
    "changes": '{"y": 2}',
    "goto_next": "",
    "step_depth": 2,
    "step_token": "00000000000000aa",
    "task_name": "b",
    "state": '{"x": 1, "y": 2}',
    "state_base": 0,
    "time_budget_ms": 30_000,
    "lineage_id": 0,
    "fan_out_ordinal": 0,
    "priority": 7,
    "fairness_key": "tenant",
    "fairness_weight": 2.5,
    "delay_ms": 0,
    "lease_owner": "",
    "lease_margin_ms": 0,
}


@pytest.fixture(params=["postgresql"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """PostgreSQL only: the one dialect with the fast paths."""
    return backend_dsn(request)


def fast(db: Db) -> PostgresqlFastPaths:
    """The recording accessors seen as ``PostgresqlFastPaths``."""
    return cast(PostgresqlFastPaths, db.recorder)


async def running_step(db: Db, **flow: Any) -> tuple[int, int, int]:
    """A started flow whose entry step is claimed: (flow_id, step_id, lease_seq)."""
    row = await fast(db).create_flow_with_entry(db.conn, **{**NEW_FLOW, "started": True, **flow})
    assert row is not None
    lease_seq = await db.claim(row.step_id)
    assert lease_seq
    return row.flow_id, row.step_id, lease_seq


async def test_create_flow_with_entry_writes_what_the_portable_insert_does(db: Db) -> None:
    row = await fast(db).create_flow_with_entry(db.conn, **NEW_FLOW)
    assert row is not None
    flow = await db.get_flow(row.flow_id)
    step = await db.get_step(row.step_id)
    # AdoptFlowIdentity: its own thread and root; TouchFlow: the entry step is current.
    assert (flow.thread_id, flow.thread_token, flow.root_flow_id) == (
        row.flow_id,
        TOKEN,
        row.flow_id,
    )
    assert (flow.status, flow.step_id, flow.flow_token) == ("created", row.step_id, TOKEN)
    assert (flow.priority, flow.time_budget_ms, flow.graph) == (5, 60_000, '{"entry": "a"}')
    assert (step.flow_id, step.status, step.task_name, step.step_depth) == (
        row.flow_id,
        "created",
        "a",
        1,
    )
    assert (step.state, step.changes, step.lineage_id, step.predecessor_id) == (
        '{"x": 1}',
        "{}",
        0,
        0,
    )
    # The flow keeps its own budget; the entry step has the one the caller resolved for it.
    assert step.time_budget_ms == 45_000


async def test_create_flow_with_entry_with_a_lease_owner_claims_the_started_entry(db: Db) -> None:
    claim = {"started": True, "lease_owner": "replica-1", "lease_margin_ms": 30_000}
    row = await fast(db).create_flow_with_entry(db.conn, **{**NEW_FLOW, **claim})
    assert row is not None
    # Claimed as ClaimSteps claims: running, the first lease, its owner, budget + margin.
    (claimed,) = await db.q.select_claimed_steps(
        db.conn, step_ids=[row.step_id], lease_owner="replica-1"
    )
    assert (claimed.lease_seq, claimed.attempt, claimed.predecessor_id) == (1, 0, 0)
    assert (claimed.created_at, claimed.started_at, claimed.updated_at) == (row.created_at,) * 3
    flow = await db.get_flow(row.flow_id)
    assert (flow.status, flow.created_at, flow.updated_at) == (
        "running",
        row.created_at,
        row.created_at,
    )
    cursor = await db.conn.execute(
        "SELECT (EXTRACT(EPOCH FROM lease_expires - created_at) * 1000)::bigint FROM dwarf_steps"
        " WHERE step_id = %s",
        (row.step_id,),
    )
    assert await cursor.fetchone() == (45_000 + 30_000,)


async def test_create_flow_with_entry_keeps_a_given_thread_and_root(db: Db) -> None:
    anchor = await db.flow()
    row = await fast(db).create_flow_with_entry(
        db.conn,
        **{
            **NEW_FLOW,
            "flow_token": "1111111111111111",
            "thread_id": anchor,
            "thread_token": TOKEN,
            "root_flow_id": anchor,
            "started": True,
        },
    )
    assert row is not None
    flow = await db.get_flow(row.flow_id)
    assert (flow.thread_id, flow.thread_token, flow.root_flow_id) == (anchor, TOKEN, anchor)
    assert flow.status == "running"
    assert (await db.get_step(row.step_id)).status == "pending"


async def test_start_created_flow_starts_once_and_reports_the_entry_delay(db: Db) -> None:
    created = await fast(db).create_flow_with_entry(db.conn, **{**NEW_FLOW, "delay_ms": 60_000})
    assert created is not None
    wrong = await fast(db).start_created_flow(
        db.conn, flow_id=created.flow_id, flow_token="ffffffffffffffff", notify_hostname="h"
    )
    assert wrong is None
    assert (await db.get_flow(created.flow_id)).status == "created"

    started = await fast(db).start_created_flow(
        db.conn, flow_id=created.flow_id, flow_token=TOKEN, notify_hostname="host-1"
    )
    assert started is not None
    assert started.step_id == created.step_id
    assert 55_000 < started.delay_ms <= 60_000
    flow = await db.get_flow(created.flow_id)
    assert (flow.status, flow.notify_hostname) == ("running", "host-1")
    assert (await db.get_step(created.step_id)).status == "pending"

    again = await fast(db).start_created_flow(
        db.conn, flow_id=created.flow_id, flow_token=TOKEN, notify_hostname="host-2"
    )
    assert again is None
    assert (await db.get_flow(created.flow_id)).notify_hostname == "host-1"


async def test_advance_to_successor_completes_links_inserts_and_touches(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    result = await fast(db).advance_to_successor(
        db.conn, step_id=step_id, lease_seq=lease_seq, flow_id=flow_id, **SUCCESSOR
    )
    assert result is not None
    assert (result.completed, result.touched) == (True, True)
    done = await db.get_step(step_id)
    assert (done.status, done.changes, done.successor_id) == (
        "completed",
        '{"y": 2}',
        result.successor_id,
    )
    successor = await db.get_step(result.successor_id)
    assert (successor.status, successor.task_name, successor.predecessor_id) == (
        "pending",
        "b",
        step_id,
    )
    assert (successor.priority, successor.fairness_key, successor.fairness_weight) == (
        7,
        "tenant",
        2.5,
    )
    assert (successor.state, successor.step_depth, successor.time_budget_ms) == (
        '{"x": 1, "y": 2}',
        2,
        30_000,
    )
    assert (await db.get_flow(flow_id)).step_id == result.successor_id


async def test_advance_to_successor_with_a_lease_owner_claims_the_successor(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    await db.execute(
        'UPDATE dwarf_flows SET breakpoints = \'{"c": "b"}\' WHERE flow_id = %s', (flow_id,)
    )
    claim = {"lease_owner": "replica-1", "lease_margin_ms": 30_000, "state_base": step_id}
    result = await fast(db).advance_to_successor(
        db.conn, step_id=step_id, lease_seq=lease_seq, flow_id=flow_id, **{**SUCCESSOR, **claim}
    )
    assert result is not None
    assert (result.completed, result.touched) == (True, True)
    # Claimed as ClaimSteps claims: running, the first lease, its owner, budget + margin.
    claimed = await db.q.select_claimed_steps(
        db.conn, step_ids=[result.successor_id], lease_owner="replica-1"
    )
    assert [row.step_id for row in claimed] == [result.successor_id]
    (row,) = claimed
    assert (row.lease_seq, row.attempt, row.predecessor_id) == (1, 0, step_id)
    assert (row.created_at, row.started_at, row.updated_at) == (result.created_at,) * 3
    # The read-back columns: the base's lease_seq, and the flow row as the statement left it.
    assert result.base_lease_seq == row.base_lease_seq == lease_seq
    flow = await db.get_flow(flow_id)
    assert (result.flow_status, result.flow_breakpoints, result.flow_updated_at) == (
        flow.status,
        flow.breakpoints,
        flow.updated_at,
    )
    assert flow.step_id == result.successor_id
    cursor = await db.conn.execute(
        "SELECT (EXTRACT(EPOCH FROM lease_expires - created_at) * 1000)::bigint, lease_owner,"
        " status FROM dwarf_steps WHERE step_id = %s",
        (result.successor_id,),
    )
    assert await cursor.fetchone() == (30_000 + 30_000, "replica-1", "running")
    # Found again by its token under its owner, and only so (a lost reply's read-back).
    find = fast(db).find_claimed_successor
    keys = {"flow_id": flow_id, "predecessor_id": step_id}
    token = SUCCESSOR["step_token"]
    assert await find(db.conn, **keys, step_token=token, lease_owner="replica-1") == row.step_id
    assert await find(db.conn, **keys, step_token=token, lease_owner="replica-2") is None
    assert await find(db.conn, **keys, step_token="0" * 16, lease_owner="replica-1") is None


async def test_advance_to_successor_with_a_lost_lease_writes_nothing(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    result = await fast(db).advance_to_successor(
        db.conn, step_id=step_id, lease_seq=lease_seq + 1, flow_id=flow_id, **SUCCESSOR
    )
    assert result is not None
    assert (result.completed, result.touched) == (False, False)
    assert (await db.get_step(step_id)).status == "running"
    assert await db.q.get_step_by_id(db.conn, step_id=result.successor_id) is None
    assert (await db.get_flow(flow_id)).step_id == step_id


async def test_advance_to_successor_in_an_ended_flow_writes_nothing(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    await db.execute("UPDATE dwarf_flows SET status = 'cancelled' WHERE flow_id = %s", (flow_id,))
    result = await fast(db).advance_to_successor(
        db.conn, step_id=step_id, lease_seq=lease_seq, flow_id=flow_id, **SUCCESSOR
    )
    assert result is not None
    assert (result.completed, result.touched) == (False, False)
    assert (await db.get_step(step_id)).status == "running"
    assert await db.q.get_step_by_id(db.conn, step_id=result.successor_id) is None


async def test_advance_to_successor_delays_a_sleeping_successor(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    result = await fast(db).advance_to_successor(
        db.conn,
        step_id=step_id,
        lease_seq=lease_seq,
        flow_id=flow_id,
        **{**SUCCESSOR, "delay_ms": 60_000},
    )
    assert result is not None
    assert result.completed
    schedule = await db.q.get_step_schedule(db.conn, step_id=result.successor_id)
    assert schedule is not None
    assert 55_000 < schedule.delay_ms <= 60_000


async def test_finish_with_step_completes_the_step_and_the_flow(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    result = await fast(db).finish_with_step(
        db.conn,
        changes='{"y": 2}',
        goto_next="",
        step_id=step_id,
        lease_seq=lease_seq,
        flow_id=flow_id,
        final_state='{"x": 1, "y": 2}',
    )
    assert result is not None
    assert (result.completed, result.finished) == (True, True)
    flow = await db.get_flow(flow_id)
    assert (flow.status, flow.final_state) == ("completed", '{"x": 1, "y": 2}')
    step = await db.get_step(step_id)
    assert (step.status, step.changes, step.successor_id) == ("completed", '{"y": 2}', 0)


@pytest.mark.parametrize("spoil", ["lease", "flow"])
async def test_finish_with_step_writes_nothing_when_fenced_out(db: Db, spoil: str) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    if spoil == "flow":
        await db.execute("UPDATE dwarf_flows SET status = 'failed' WHERE flow_id = %s", (flow_id,))
    result = await fast(db).finish_with_step(
        db.conn,
        changes='{"y": 2}',
        goto_next="",
        step_id=step_id,
        lease_seq=lease_seq + (1 if spoil == "lease" else 0),
        flow_id=flow_id,
        final_state='{"y": 2}',
    )
    assert result is not None
    assert (result.completed, result.finished) == (False, False)
    assert (await db.get_step(step_id)).status == "running"
    assert (await db.get_flow(flow_id)).final_state == "{}"


async def test_claim_steps_with_flows_returns_the_rows_the_read_backs_would(db: Db) -> None:
    flow_id = await db.flow()
    due = await db.step(flow_id)
    later = await db.step(flow_id, delay_ms=3_600_000)
    created = await db.step(flow_id, status=Status.CREATED)
    gone_flow = await db.flow(flow_token="2222222222222222")
    orphan = await db.step(gone_flow)
    await db.execute("DELETE FROM dwarf_flows WHERE flow_id = %s", (gone_flow,))
    won = await fast(db).claim_steps_with_flows(
        db.conn, step_ids=[later, orphan, due, created], lease_owner="me", lease_margin_ms=1000
    )
    assert [(row.step_id, row.lease_seq) for row in won] == [(due, 1), (orphan, 1)]
    # The step columns are SelectClaimedSteps' rows, the flow_ columns ListFlowsOfBatch's.
    claimed = await db.q.select_claimed_steps(db.conn, step_ids=[due, orphan], lease_owner="me")
    assert [columns(row, claimed[0]) for row in won] == [r._asdict() for r in claimed]
    (flow,) = await db.q.list_flows_of_batch(db.conn, flow_ids=[flow_id, gone_flow])
    assert columns(won[0], flow, "flow_") == flow._asdict()
    assert set(columns(won[1], flow, "flow_").values()) == {None}
    assert (await db.get_step(later)).status == "pending"
    # a second claim of the running step wins nothing and leaves its lease alone
    again = await fast(db).claim_steps_with_flows(
        db.conn, step_ids=[due], lease_owner="other", lease_margin_ms=1000
    )
    assert again == []
    step = await db.get_step(due)
    assert (step.lease_owner, step.lease_seq) == ("me", 1)


async def test_claim_due_band_claims_the_best_band_whole_when_it_fits(db: Db) -> None:
    flow_id = await db.flow()
    first, second = await db.step(flow_id, priority=3), await db.step(flow_id, priority=3)
    worse = await db.step(flow_id, priority=4)
    later = await db.step(flow_id, priority=1, delay_ms=3_600_000)
    parked = await db.step(flow_id, priority=1, parked=1)
    await db.execute(
        "UPDATE dwarf_steps SET created_at = created_at - INTERVAL '2 seconds', "
        "not_before = not_before - INTERVAL '2 seconds', "
        "lease_expires = lease_expires - INTERVAL '2 seconds' WHERE step_id = %s",
        (first,),
    )
    won = await fast(db).claim_due_band(
        db.conn, row_limit=3, lease_owner="me", lease_margin_ms=1000
    )
    assert [(row.step_id, row.lease_seq) for row in won] == [(first, 1), (second, 1)]
    assert won[0].wait_ms >= 1900
    assert 0 <= won[1].wait_ms < 1000
    # The step and flow columns are those ClaimStepsWithFlows returns.
    claimed = await db.q.select_claimed_steps(db.conn, step_ids=[first, second], lease_owner="me")
    assert [columns(row, claimed[0]) for row in won] == [r._asdict() for r in claimed]
    (flow,) = await db.q.list_flows_of_batch(db.conn, flow_ids=[flow_id])
    assert columns(won[0], flow, "flow_") == flow._asdict()
    for step_id in (worse, later, parked):
        step = await db.get_step(step_id)
        assert (step.status, step.lease_owner) == ("pending", "")
    # The band is now the worse one; the claimed steps are not claimed again.
    again = await fast(db).claim_due_band(
        db.conn, row_limit=3, lease_owner="other", lease_margin_ms=1000
    )
    assert [row.step_id for row in again] == [worse]


async def test_claim_due_band_claims_nothing_from_a_band_larger_than_asked(db: Db) -> None:
    flow_id = await db.flow()
    steps = [await db.step(flow_id) for _ in range(3)]
    assert (
        await fast(db).claim_due_band(db.conn, row_limit=3, lease_owner="me", lease_margin_ms=1000)
        == []
    )
    assert {(await db.get_step(step_id)).status for step_id in steps} == {"pending"}
    won = await fast(db).claim_due_band(
        db.conn, row_limit=4, lease_owner="me", lease_margin_ms=1000
    )
    assert [row.step_id for row in won] == steps


async def test_list_leased_steps_lists_what_an_owner_holds_running_and_unparked(db: Db) -> None:
    flow_id = await db.flow()
    mine, parked, theirs, pending = [await db.step(flow_id) for _ in range(4)]
    for step_id in (mine, parked):
        assert await db.claim(step_id, owner="me")
    assert await db.claim(theirs, owner="other")
    await db.execute("UPDATE dwarf_steps SET parked = 1 WHERE step_id = %s", (parked,))
    rows = await fast(db).list_leased_steps(db.conn, lease_owner="me")
    assert [(row.step_id, row.predecessor_id) for row in rows] == [(mine, 0)]
    assert (await db.get_step(pending)).status == "pending"


def columns(row: Any, shape: Any, prefix: str = "") -> dict[str, Any]:
    """The fields of ``row`` named like those of the row ``shape`` (after ``prefix``)."""
    return {name: getattr(row, prefix + name) for name in shape._fields}


def test_only_postgresql_has_the_fast_paths() -> None:
    declared = set(protocol_members(PostgresqlFastPaths))
    assert len(declared) == 12
    assert all(callable(getattr(postgresql, name, None)) for name in declared)
    for module in (mysql, sqlite, sqlserver):
        # MySQL reads a lost claiming advance back the same way (test_fast_paths_mysql).
        shared = {"find_claimed_successor"} if module is mysql else set()
        assert not any(hasattr(module, name) for name in declared - shared), module.__name__


async def test_the_scenarios_call_every_fast_path(backend: tuple[str, str]) -> None:
    # The batch statements' scenarios live in their own module.
    from tests.storage import test_fast_path_batches_postgresql as batches

    declared = set(protocol_members(PostgresqlFastPaths))
    called: set[str] = set()
    for name, func in [*globals().items(), *vars(batches).items()]:
        if name.startswith("test_") and list(inspect.signature(func).parameters) == ["db"]:
            async with open_db(*backend) as db:
                await func(db)
                called |= db.recorder.called
    assert declared <= called, f"no scenario calls: {', '.join(sorted(declared - called))}"
