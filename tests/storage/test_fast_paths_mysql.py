"""The MySQL/MariaDB fast paths: each writes what its portable queries write (storage.md S12b).

``StartFlowAndSteps`` against StartFlow + ActivateFlowSteps and ``GetEntrySchedule`` against GetFlow
+ GetStepSchedule, alone and as a start's script with its read replayed; the scripts (statements
sent as one query, ``_mysql_script``) of a create and a step-to-successor transition against the
portable transactions, and the last step's, the portable statements committed only when both
matched; and, for each write, the cases where it must leave both tables as they were (a lost lease,
an ended or deleted flow, a flow that is not ``created``, a statement that fails). Matched rows
count both tables (the connection uses ``CLIENT.FOUND_ROWS``). The last test requires the scenarios
to call every accessor ``MysqlFastPaths`` declares.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import asyncmy.errors
import pytest

from dwarf._storage._gen import mysql, postgresql, sqlite, sqlserver
from dwarf._storage._gen.queries import MysqlFastPaths
from dwarf._storage._mysql_script import Outcome, Script, replay
from dwarf.workflow import Status
from tests.fixtures.storage import (
    FLOW_DEFAULTS,
    STEP_DEFAULTS,
    STEP_TOKEN,
    TOKEN,
    Db,
    backend_dsn,
    open_db,
    protocol_members,
)

pytestmark = pytest.mark.mysql


# InsertEntryStepOfLastFlow's arguments: a due entry step.
ENTRY_STEP: dict[str, Any] = {
    "step_depth": 1,
    "step_token": STEP_TOKEN,
    "task_name": "a",
    "state": "{}",
    "status": Status.PENDING,
    "time_budget_ms": 30_000,
    "priority": 5,
    "fairness_key": "",
    "fairness_weight": 1.0,
    "delay_ms": 0,
}


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
    script = Script(db.conn, transaction=False)
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
    with pytest.raises(ValueError, match="COMMIT"):
        await Script(db.conn, transaction=False).run(keep=lambda outcomes: True)


async def test_a_create_script_inserts_a_flow_with_its_entry_step_and_adopts_them(db: Db) -> None:
    # Quotes, a backslash, a percent sign and non-ASCII text survive the script's escaping.
    state = '{"q": "it\'s 100% \\\\ \u00fc"}'
    script = Script(db.conn)
    await db.q.insert_flow(script, **{**FLOW_DEFAULTS, "status": Status.CREATED})
    await fast(db).insert_entry_step_of_last_flow(
        script,
        **{
            **ENTRY_STEP,
            "state": state,
            "status": Status.CREATED,
            "priority": 3,
            "fairness_key": "k",
            "fairness_weight": 2.0,
            "delay_ms": 60_000,
        },
    )
    await fast(db).adopt_flow_identity_of_last_step(script)
    flow, entry, adopted = await script.run()

    assert adopted.rowcount == 1
    row = await db.get_flow(flow.lastrowid)
    assert (row.status, row.step_id) == ("created", entry.lastrowid)
    assert (row.thread_id, row.thread_token, row.root_flow_id) == (
        flow.lastrowid,
        TOKEN,
        flow.lastrowid,
    )
    step = await db.get_step(entry.lastrowid)
    assert (step.flow_id, step.state, step.status, step.lineage_id) == (
        flow.lastrowid,
        state,
        "created",
        0,
    )
    assert (step.priority, step.fairness_key, step.fairness_weight) == (3, "k", 2.0)
    schedule = await db.q.get_step_schedule(db.conn, step_id=entry.lastrowid)
    assert schedule is not None
    assert 55_000 < schedule.delay_ms <= 60_000


async def test_a_create_script_keeps_the_thread_and_root_a_flow_joins(db: Db) -> None:
    script = Script(db.conn)
    joined = {"thread_id": 77, "thread_token": "1111111111111111", "root_flow_id": 78}
    await db.q.insert_flow(script, **{**FLOW_DEFAULTS, **joined})
    await fast(db).insert_entry_step_of_last_flow(script, **ENTRY_STEP)
    await fast(db).adopt_flow_identity_of_last_step(script)
    flow, entry, _ = await script.run()

    row = await db.get_flow(flow.lastrowid)
    assert (row.step_id, row.thread_id, row.thread_token, row.root_flow_id) == (
        entry.lastrowid,
        77,
        "1111111111111111",
        78,
    )


async def test_a_failing_statement_stops_its_script_and_rolls_it_back(db: Db) -> None:
    script = Script(db.conn)
    await db.q.insert_flow(script, **FLOW_DEFAULTS)
    await db.q.insert_step(script, **{**STEP_DEFAULTS, "flow_id": 0, "step_token": "x" * 17})
    await fast(db).adopt_flow_identity_of_last_step(script)
    with pytest.raises(asyncmy.errors.DataError):
        await script.run()
    assert await _flows_with_token(db, TOKEN) == 0
    # The connection is left outside any transaction: the next script commits on its own.
    again = Script(db.conn)
    await db.q.insert_flow(again, **FLOW_DEFAULTS)
    (flow,) = await again.run()
    assert (await db.get_flow(flow.lastrowid)).flow_token == TOKEN


async def test_a_step_to_successor_script_links_the_successor(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    inserted, completed, dropped = await _advance(db, flow_id, step_id, lease_seq)

    assert (completed.rowcount, dropped.rowcount) == (2, 0)
    done = await db.get_step(step_id)
    assert (done.status, done.changes, done.successor_id) == (
        "completed",
        '{"y": 2}',
        inserted.lastrowid,
    )
    assert (await db.get_step(inserted.lastrowid)).predecessor_id == step_id
    assert (await db.get_flow(flow_id)).step_id == inserted.lastrowid


@pytest.mark.parametrize("spoil", ["lease", "flow", "gone"])
async def test_a_step_to_successor_script_leaves_nothing_when_fenced_out(
    db: Db, spoil: str
) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    if spoil == "flow":
        await db.execute(
            "UPDATE dwarf_flows SET status = 'cancelled' WHERE flow_id = %s", (flow_id,)
        )
    if spoil == "gone":
        await db.execute("DELETE FROM dwarf_flows WHERE flow_id = %s", (flow_id,))
    lease = lease_seq + (1 if spoil == "lease" else 0)
    _, completed, dropped = await _advance(db, flow_id, step_id, lease)

    assert (completed.rowcount, dropped.rowcount) == (0, 1)
    assert await _steps_of(db, flow_id) == [step_id]
    assert (await db.get_step(step_id)).status == "running"
    if spoil != "gone":
        assert (await db.get_flow(flow_id)).step_id == step_id


async def test_a_last_step_script_completes_the_step_and_the_flow(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    step, flow_row = await _finish(db, flow_id, step_id, lease_seq)

    assert (step.rowcount, flow_row.rowcount) == (1, 1)
    flow = await db.get_flow(flow_id)
    assert (flow.status, flow.final_state) == ("completed", '{"x": 1, "y": 2}')
    done = await db.get_step(step_id)
    assert (done.status, done.changes) == ("completed", '{"y": 2}')


@pytest.mark.parametrize("spoil", ["lease", "flow"])
async def test_a_last_step_script_rolls_back_when_fenced_out(db: Db, spoil: str) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    if spoil == "flow":
        await db.execute("UPDATE dwarf_flows SET status = 'failed' WHERE flow_id = %s", (flow_id,))
    lease = lease_seq + (1 if spoil == "lease" else 0)
    step, flow_row = await _finish(db, flow_id, step_id, lease)

    # With the lease lost the flow's write matched and was rolled back; with the flow ended,
    # the step's.
    assert (step.rowcount, flow_row.rowcount) == ((0, 1) if spoil == "lease" else (1, 0))
    assert (await db.get_step(step_id)).status == "running"
    flow = await db.get_flow(flow_id)
    assert (flow.status, flow.final_state) == ("failed" if spoil == "flow" else "running", "{}")


async def _advance(db: Db, flow_id: int, step_id: int, lease_seq: int) -> list[Outcome]:
    """A step-to-successor script: the successor, the fenced completion, the guard."""
    script = Script(db.conn)
    successor = {**STEP_DEFAULTS, "flow_id": flow_id, "task_name": "b", "predecessor_id": step_id}
    await db.q.insert_step(script, **successor)
    await fast(db).complete_step_linked_to_last_step(
        script, changes='{"y": 2}', goto_next="", step_id=step_id, lease_seq=lease_seq
    )
    await fast(db).drop_unlinked_last_step(script)
    return await script.run()


async def _finish(db: Db, flow_id: int, step_id: int, lease_seq: int) -> list[Outcome]:
    """A last step's script: CompleteStep and CompleteFlow, committed only if both matched."""
    script = Script(db.conn)
    await db.q.complete_step(
        script, changes='{"y": 2}', goto_next="", step_id=step_id, lease_seq=lease_seq
    )
    await db.q.complete_flow(script, final_state='{"x": 1, "y": 2}', flow_id=flow_id)
    return await script.run(keep=lambda outcomes: all(o.rowcount == 1 for o in outcomes))


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


def test_only_mysql_has_these_fast_paths() -> None:
    assert len(declared()) == 6
    assert all(callable(getattr(mysql, name, None)) for name in declared())
    for module in (postgresql, sqlite, sqlserver):
        assert not any(hasattr(module, name) for name in declared()), module.__name__


async def test_the_scenarios_call_every_fast_path(backend: tuple[str, str]) -> None:
    called: set[str] = set()
    for name, func in list(globals().items()):
        if name.startswith("test_") and list(inspect.signature(func).parameters) == ["db"]:
            async with open_db(*backend) as db:
                await func(db)
                called |= db.recorder.called
    assert declared() <= called, f"no scenario calls: {', '.join(sorted(declared() - called))}"
