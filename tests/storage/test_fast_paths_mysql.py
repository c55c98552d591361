"""The MySQL/MariaDB fast paths write what their portable queries write (storage.md S12b, S12c).

``StartFlowAndSteps`` against StartFlow + ActivateFlowSteps and ``GetEntrySchedule`` against GetFlow
+ GetStepSchedule, alone and as a start's script with its read replayed; the stored procedures of a
create, a step-to-successor transition and a flow's last step, each called with the read of its
answer as one script (``_mysql_script``), field by field, with quotes, a backslash, a percent sign
and non-ASCII text in their documents; and, for each write, the cases where it must leave both
tables as they were and no transaction open (a lost lease, an ended or deleted flow, a flow that
is not ``created``, a statement that fails inside a procedure). Matched rows count both tables (the
connection uses ``CLIENT.FOUND_ROWS``). The last test requires the scenarios, with the batch
procedures' (``test_batch_procedures_mysql``), to call every accessor ``MysqlFastPaths`` declares.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import asyncmy.errors
import pytest

from dwarf._storage._gen import mysql, postgresql, sqlite, sqlserver
from dwarf._storage._gen.queries import MysqlFastPaths
from dwarf._storage._mysql_script import Script, replay
from dwarf.workflow import Status
from tests.fixtures.storage import (
    FLOW_DEFAULTS,
    STEP_TOKEN,
    TOKEN,
    Db,
    backend_dsn,
    open_db,
    protocol_members,
)
from tests.storage import test_batch_procedures_mysql as batch_scenarios

pytestmark = pytest.mark.mysql


@pytest.fixture(params=["mysql"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """MariaDB only: the dialect these fast paths belong to."""
    return backend_dsn(request)


def fast(db: Db) -> MysqlFastPaths:
    """The recording accessors seen as ``MysqlFastPaths``."""
    return cast(MysqlFastPaths, db.recorder)


async def running_step(db: Db) -> tuple[int, int, int]:
    """A running flow whose entry step is claimed: (flow_id, step_id, lease_seq)."""
    flow_id = await db.flow()
    step_id = await db.step(flow_id)
    await db.q.touch_flow(db.conn, flow_id=flow_id, step_id=step_id)
    lease_seq = await db.claim(step_id)
    assert lease_seq
    return flow_id, step_id, lease_seq


async def test_start_flow_and_steps_starts_the_flow_and_its_created_steps_once(db: Db) -> None:
    flow_id = await db.flow(status=Status.CREATED)
    entry = await db.step(flow_id, status=Status.CREATED, delay_ms=60_000)
    await db.q.adopt_flow_identity(db.conn, flow_id=flow_id, step_id=entry)
    other = await db.flow(status=Status.CREATED, flow_token="1111111111111111")
    untouched = await db.step(other, status=Status.CREATED)

    wrong = await fast(db).start_flow_and_steps(
        db.conn, flow_id=flow_id, flow_token="ffffffffffffffff", notify_hostname="h"
    )
    assert wrong == 0
    assert (await db.get_flow(flow_id)).status == "created"

    started = await fast(db).start_flow_and_steps(
        db.conn, flow_id=flow_id, flow_token=TOKEN, notify_hostname="host-1"
    )
    assert started == 2  # the flow row and its one created step
    flow = await db.get_flow(flow_id)
    assert (flow.status, flow.notify_hostname) == ("running", "host-1")
    assert (await db.get_step(entry)).status == "pending"
    assert (await db.get_step(untouched)).status == "created"

    schedule = await fast(db).get_entry_schedule(db.conn, flow_id=flow_id)
    assert schedule is not None
    assert schedule.step_id == entry
    assert 55_000 < schedule.delay_ms <= 60_000
    assert await fast(db).get_entry_schedule(db.conn, flow_id=flow_id + 1000) is None

    again = await fast(db).start_flow_and_steps(
        db.conn, flow_id=flow_id, flow_token=TOKEN, notify_hostname="host-2"
    )
    assert again == 0
    assert (await db.get_flow(flow_id)).notify_hostname == "host-1"


async def test_a_start_script_starts_the_flow_and_reads_its_entry_in_one_query(db: Db) -> None:
    flow_id = await db.flow(status=Status.CREATED)
    entry = await db.step(flow_id, status=Status.CREATED, delay_ms=60_000)
    await db.q.adopt_flow_identity(db.conn, flow_id=flow_id, step_id=entry)
    script = Script(db.conn)
    await fast(db).start_flow_and_steps(
        script, flow_id=flow_id, flow_token=TOKEN, notify_hostname="host-1"
    )
    await fast(db).get_entry_schedule(script, flow_id=flow_id)
    written, read = await script.run()

    assert written.rowcount == 2  # the flow row and its one created step
    schedule = await fast(db).get_entry_schedule(replay(read), flow_id=flow_id)
    assert schedule is not None
    assert (schedule.step_id, schedule.workflow_name) == (entry, "wf")
    assert 55_000 < schedule.delay_ms <= 60_000
    assert (await db.get_step(entry)).status == "pending"


async def test_the_create_procedure_inserts_a_flow_with_its_entry_step_and_adopts_them(
    db: Db,
) -> None:
    # Quotes, a backslash, a percent sign and non-ASCII text survive the parameters' types.
    state = '{"q": "it\'s 100% \\\\ \u00fc"}'
    flow_id, step_id = await _create(
        db,
        flow_status=Status.CREATED,
        state=state,
        step_status=Status.CREATED,
        priority=3,
        fairness_key="k\u00fc",
        fairness_weight=2.0,
        delay_ms=60_000,
    )

    row = await db.get_flow(flow_id)
    assert (row.status, row.step_id, row.flow_token, row.graph) == (
        "created",
        step_id,
        TOKEN,
        '{"g": "\u00e9"}',
    )
    assert (row.thread_id, row.thread_token, row.root_flow_id) == (flow_id, TOKEN, flow_id)
    assert (row.priority, row.fairness_key, row.fairness_weight) == (3, "k\u00fc", 2.0)
    step = await db.get_step(step_id)
    assert (step.flow_id, step.state, step.status, step.lineage_id, step.step_depth) == (
        flow_id,
        state,
        "created",
        0,
        1,
    )
    assert (step.priority, step.fairness_key, step.fairness_weight) == (3, "k\u00fc", 2.0)
    schedule = await db.q.get_step_schedule(db.conn, step_id=step_id)
    assert schedule is not None
    assert 55_000 < schedule.delay_ms <= 60_000
    assert not await _in_transaction(db)


async def test_the_create_procedure_keeps_the_thread_and_root_a_flow_joins(db: Db) -> None:
    flow_id, step_id = await _create(
        db, thread_id=77, thread_token="1111111111111111", root_flow_id=78
    )

    row = await db.get_flow(flow_id)
    assert (row.step_id, row.thread_id, row.thread_token, row.root_flow_id) == (
        step_id,
        77,
        "1111111111111111",
        78,
    )


async def test_a_failing_create_procedure_leaves_nothing(db: Db) -> None:
    with pytest.raises(asyncmy.errors.DataError):
        # 17 characters for a 16-character token, in strict mode: the step's INSERT fails
        # after the flow's.
        await _create(db, step_token="x" * 17)
    assert not await _in_transaction(db)
    assert await _flows_with_token(db, TOKEN) == 0
    # The connection goes on: the next call writes and commits.
    flow_id, _ = await _create(db)
    assert (await db.get_flow(flow_id)).flow_token == TOKEN


async def test_the_advance_procedure_links_the_successor(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    # Quotes, a backslash, a percent sign and non-ASCII text survive the parameters' types.
    changes = '{"y": "it\'s 100% \\\\ \u00fc"}'
    successor_id = await _advance(db, flow_id, step_id, lease_seq, changes=changes)

    assert successor_id
    done = await db.get_step(step_id)
    assert (done.status, done.changes, done.goto_next, done.successor_id) == (
        "completed",
        changes,
        "b",
        successor_id,
    )
    successor = await db.get_step(successor_id)
    assert (successor.flow_id, successor.task_name, successor.status) == (flow_id, "b", "pending")
    assert (successor.predecessor_id, successor.state, successor.state_base) == (
        step_id,
        '{"\u00e9": 1}',
        step_id,
    )
    assert (successor.priority, successor.fairness_key, successor.fairness_weight) == (
        3,
        "k\u00fc",
        2.5,
    )
    schedule = await db.q.get_step_schedule(db.conn, step_id=successor_id)
    assert schedule is not None
    assert 55_000 < schedule.delay_ms <= 60_000
    assert (await db.get_flow(flow_id)).step_id == successor_id


async def test_the_advance_procedure_with_a_lease_owner_claims_the_successor(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    script = Script(db.conn)
    await _call_advance(db, script, flow_id, step_id, lease_seq, "{}", STEP_TOKEN, 0, "me")
    await fast(db).claimed_successor(script)
    _, read = await script.run()
    left = await fast(db).claimed_successor(replay(read))
    assert left is not None
    # Claimed as ClaimSteps claims: running, the first lease, its owner, budget + margin; what
    # the procedure left is what SelectClaimedSteps and GetFlowByID read after it.
    (claimed,) = await db.q.select_claimed_steps(
        db.conn, step_ids=[left.successor_id], lease_owner="me"
    )
    flow = await db.get_flow(flow_id)
    assert (left.created_at, left.base_lease_seq) == (claimed.created_at, claimed.base_lease_seq)
    assert (claimed.created_at, claimed.started_at) == (claimed.updated_at,) * 2
    assert (left.flow_status, left.flow_breakpoints, left.flow_updated_at) == (
        flow.status,
        flow.breakpoints,
        flow.updated_at,
    )
    assert (claimed.lease_seq, claimed.predecessor_id, claimed.base_lease_seq) == (
        1,
        step_id,
        lease_seq,
    )
    async with db.conn.cursor() as cur:
        await cur.execute(
            "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, lease_expires) DIV 1000"
            " FROM dwarf_steps WHERE step_id = %s",
            (claimed.step_id,),
        )
        assert await cur.fetchone() == (30_000 + 30_000,)
    # Found again by its token under its owner, and only so (a lost reply's read-back).
    for owner, found in (("me", claimed.step_id), ("other", None)):
        assert (
            await fast(db).find_claimed_successor(
                db.conn,
                flow_id=flow_id,
                predecessor_id=step_id,
                step_token=STEP_TOKEN,
                lease_owner=owner,
            )
            == found
        )


async def test_the_create_procedure_with_a_lease_owner_claims_the_entry(db: Db) -> None:
    flow_id, step_id = await _create(db, lease_owner="me", lease_margin_ms=30_000)
    left = await fast(db).created_flow(db.conn)  # what the call left, read again
    assert left is not None
    # Claimed as ClaimSteps claims: running, the first lease, its owner, budget + margin; both
    # rows were written at the instant the procedure left.
    (claimed,) = await db.q.select_claimed_steps(db.conn, step_ids=[step_id], lease_owner="me")
    flow = await db.get_flow(flow_id)
    assert (claimed.lease_seq, claimed.created_at, claimed.started_at) == (
        1,
        left.created_at,
        left.created_at,
    )
    assert (flow.status, flow.created_at, flow.started_at, flow.updated_at) == (
        Status.RUNNING,
        *(left.created_at,) * 3,
    )
    async with db.conn.cursor() as cur:
        await cur.execute(
            "SELECT TIMESTAMPDIFF(MICROSECOND, created_at, lease_expires) DIV 1000"
            " FROM dwarf_steps WHERE step_id = %s",
            (step_id,),
        )
        assert await cur.fetchone() == (30_000 + 30_000,)
    # Found again by its token under its owner, and only so (a lost reply's read-back).
    for owner, found in (("me", step_id), ("other", None)):
        assert (
            await fast(db).find_claimed_entry(db.conn, lease_owner=owner, step_token=STEP_TOKEN)
            == found
        )


@pytest.mark.parametrize("spoil", ["lease", "flow", "gone"])
async def test_the_advance_procedure_leaves_nothing_when_fenced_out(db: Db, spoil: str) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    if spoil == "flow":
        await db.execute(
            "UPDATE dwarf_flows SET status = 'cancelled' WHERE flow_id = %s", (flow_id,)
        )
    if spoil == "gone":
        await db.execute("DELETE FROM dwarf_flows WHERE flow_id = %s", (flow_id,))
    lease = lease_seq + (1 if spoil == "lease" else 0)

    assert await _advance(db, flow_id, step_id, lease) == 0
    assert await _steps_of(db, flow_id) == [step_id]
    assert (await db.get_step(step_id)).status == "running"
    if spoil != "gone":
        assert (await db.get_flow(flow_id)).step_id == step_id
    assert not await _in_transaction(db)


async def test_a_failing_statement_in_a_procedure_rolls_its_transaction_back(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    with pytest.raises(asyncmy.errors.DataError):
        # 17 characters for a 16-character token, in strict mode: the INSERT fails.
        await _advance(db, flow_id, step_id, lease_seq, step_token="x" * 17)
    assert not await _in_transaction(db)
    assert await _steps_of(db, flow_id) == [step_id]
    assert (await db.get_step(step_id)).status == "running"
    # The connection goes on: the next call writes and commits.
    assert await _advance(db, flow_id, step_id, lease_seq)


async def test_the_finish_procedure_completes_the_step_and_the_flow(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    assert await _finish(db, flow_id, step_id, lease_seq) == 1

    flow = await db.get_flow(flow_id)
    assert (flow.status, flow.final_state) == ("completed", '{"x": 1, "y": "\u00fc"}')
    done = await db.get_step(step_id)
    assert (done.status, done.changes) == ("completed", '{"y": "\u00fc"}')
    assert not await _in_transaction(db)


@pytest.mark.parametrize("spoil", ["lease", "flow", "gone"])
async def test_the_finish_procedure_rolls_back_when_fenced_out(db: Db, spoil: str) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    if spoil == "flow":
        await db.execute("UPDATE dwarf_flows SET status = 'failed' WHERE flow_id = %s", (flow_id,))
    if spoil == "gone":
        await db.execute("DELETE FROM dwarf_flows WHERE flow_id = %s", (flow_id,))
    lease = lease_seq + (1 if spoil == "lease" else 0)

    # With the lease lost nothing matched; with the flow ended or gone the step's write did,
    # and was rolled back.
    assert await _finish(db, flow_id, step_id, lease) == 0
    assert (await db.get_step(step_id)).status == "running"
    if spoil != "gone":
        flow = await db.get_flow(flow_id)
        expected = "failed" if spoil == "flow" else "running"
        assert (flow.status, flow.final_state) == (expected, "{}")
    assert not await _in_transaction(db)


async def _create(db: Db, **overrides: Any) -> tuple[int, int]:
    """dwarf_create and the read of its answer, as one script: (flow_id, entry step_id)."""
    # The flow's arguments are InsertFlow's but for its status's name and forked_from_step.
    flow = {k: v for k, v in FLOW_DEFAULTS.items() if k not in ("status", "forked_from_step")}
    arguments: dict[str, Any] = {
        **flow,
        "graph": '{"g": "\u00e9"}',
        "flow_status": Status.RUNNING,
        "step_depth": 1,
        "step_token": STEP_TOKEN,
        "task_name": "a",
        "state": "{}",
        "step_status": Status.PENDING,
        "step_time_budget_ms": 30_000,
        "delay_ms": 0,
        "lease_owner": "",
        "lease_margin_ms": 0,
        **overrides,
    }
    script = Script(db.conn)
    await fast(db).create_by_procedure(script, **arguments)
    await fast(db).created_flow(script)
    called, read = await script.run()
    assert not called.rows
    created = await fast(db).created_flow(replay(read))
    assert created is not None
    return created.flow_id, created.step_id


async def _advance(
    db: Db,
    flow_id: int,
    step_id: int,
    lease_seq: int,
    *,
    changes: str = '{"y": 2}',
    step_token: str = STEP_TOKEN,
) -> int:
    """dwarf_advance and the read of its answer, as one script: the successor's id, or 0."""
    script = Script(db.conn)
    await _call_advance(db, script, flow_id, step_id, lease_seq, changes, step_token, 60_000)
    await fast(db).claimed_successor(script)
    called, read = await script.run()
    assert not called.rows
    left = await fast(db).claimed_successor(replay(read))
    return left.successor_id if left is not None else 0


async def _call_advance(
    db: Db,
    script: Script,
    flow_id: int,
    step_id: int,
    lease_seq: int,
    changes: str,
    step_token: str,
    delay_ms: int,
    lease_owner: str = "",
) -> None:
    """Record dwarf_advance's CALL in ``script`` (a lease owner claims the successor)."""
    await fast(db).advance_by_procedure(
        script,
        step_id=step_id,
        lease_seq=lease_seq,
        changes=changes,
        goto_next="b",
        flow_id=flow_id,
        step_depth=1,
        step_token=step_token,
        task_name="b",
        state='{"\u00e9": 1}',
        state_base=step_id,
        time_budget_ms=30_000,
        lineage_id=0,
        fan_out_ordinal=0,
        predecessor_id=step_id,
        priority=3,
        fairness_key="k\u00fc",
        fairness_weight=2.5,
        delay_ms=delay_ms,
        lease_owner=lease_owner,
        lease_margin_ms=30_000 if lease_owner else 0,
    )


async def _finish(db: Db, flow_id: int, step_id: int, lease_seq: int) -> int:
    """dwarf_finish and the read of its answer, as one script: 1 when it wrote, else 0."""
    script = Script(db.conn)
    await fast(db).finish_by_procedure(
        script,
        step_id=step_id,
        lease_seq=lease_seq,
        changes='{"y": "\u00fc"}',
        goto_next="",
        flow_id=flow_id,
        final_state='{"x": 1, "y": "\u00fc"}',
    )
    await fast(db).finished(script)
    _, read = await script.run()
    finished = await fast(db).finished(replay(read))
    assert finished is not None
    return finished


async def _in_transaction(db: Db) -> bool:
    """Whether the connection is inside a transaction (a procedure must never leave one open)."""
    async with db.conn.cursor() as cur:
        await cur.execute("SELECT @@in_transaction")
        (inside,) = await cur.fetchone()
        return bool(inside)


async def _steps_of(db: Db, flow_id: int) -> list[int]:
    """The ids of a flow's steps."""
    async with db.conn.cursor() as cur:
        await cur.execute("SELECT step_id FROM dwarf_steps WHERE flow_id = %s", (flow_id,))
        return sorted(row[0] for row in await cur.fetchall())


async def _flows_with_token(db: Db, token: str) -> int:
    """How many flows carry ``token``."""
    async with db.conn.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM dwarf_flows WHERE flow_token = %s", (token,))
        (count,) = await cur.fetchone()
        return int(count)


def declared() -> set[str]:
    """The accessors ``MysqlFastPaths`` declares."""
    return set(protocol_members(MysqlFastPaths))


SHARED_FAST_PATHS = {"find_claimed_successor"}
"""Fast paths PostgreSQL has too (the same read, in each dialect's SQL)."""


def test_only_mysql_has_these_fast_paths() -> None:
    assert len(declared()) == 14
    assert all(callable(getattr(mysql, name, None)) for name in declared())
    for module in (postgresql, sqlite, sqlserver):
        shared = SHARED_FAST_PATHS if module is postgresql else set()
        assert not any(hasattr(module, name) for name in declared() - shared), module.__name__


async def test_the_scenarios_call_every_fast_path(backend: tuple[str, str]) -> None:
    called: set[str] = set()
    for name, func in [*globals().items(), *vars(batch_scenarios).items()]:
        if name.startswith("test_") and list(inspect.signature(func).parameters) == ["db"]:
            async with open_db(*backend) as db:
                await func(db)
                called |= db.recorder.called
    assert declared() <= called, f"no scenario calls: {', '.join(sorted(declared() - called))}"
