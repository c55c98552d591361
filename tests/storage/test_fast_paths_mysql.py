"""The MySQL/MariaDB fast paths: each two-table UPDATE writes what its portable queries write.

``StartFlowAndSteps`` against StartFlow + ActivateFlowSteps, ``CompleteStepLinkedAndTouch``
against CompleteStepLinked + TouchFlow, ``GetEntrySchedule`` against GetFlow + GetStepSchedule;
and, for each write, the cases where it must change neither table (a lost lease, an ended flow,
a flow that is not ``created``). Matched rows count both tables (the connection uses
``CLIENT.FOUND_ROWS``). The last test requires the scenarios to call every accessor
``MysqlFastPaths`` declares.
"""

from __future__ import annotations

import inspect
from typing import cast

import pytest

from dwarf._storage._gen import mysql, postgresql, sqlite, sqlserver
from dwarf._storage._gen.queries import MysqlFastPaths
from dwarf.workflow import Status
from tests.fixtures.storage import TOKEN, Db, backend_dsn, open_db, protocol_members

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


async def test_complete_step_linked_and_touch_completes_links_and_moves_the_flow(db: Db) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    successor = await db.step(flow_id, task_name="b", predecessor_id=step_id)
    written = await fast(db).complete_step_linked_and_touch(
        db.conn,
        changes='{"y": 2}',
        goto_next="",
        successor_id=successor,
        step_id=step_id,
        lease_seq=lease_seq,
    )
    assert written == 2
    done = await db.get_step(step_id)
    assert (done.status, done.changes, done.successor_id) == ("completed", '{"y": 2}', successor)
    assert (await db.get_flow(flow_id)).step_id == successor


@pytest.mark.parametrize("spoil", ["lease", "flow"])
async def test_complete_step_linked_and_touch_writes_nothing_when_fenced_out(
    db: Db, spoil: str
) -> None:
    flow_id, step_id, lease_seq = await running_step(db)
    if spoil == "flow":
        sql = "UPDATE dwarf_flows SET status = 'cancelled' WHERE flow_id = %s"
        await db.execute(sql, (flow_id,))
    written = await fast(db).complete_step_linked_and_touch(
        db.conn,
        changes='{"y": 2}',
        goto_next="",
        successor_id=999,
        step_id=step_id,
        lease_seq=lease_seq + (1 if spoil == "lease" else 0),
    )
    assert written == 0
    assert (await db.get_step(step_id)).status == "running"
    assert (await db.get_flow(flow_id)).step_id == step_id


def declared() -> set[str]:
    """The accessors ``MysqlFastPaths`` declares."""
    return set(protocol_members(MysqlFastPaths))


def test_only_mysql_has_these_fast_paths() -> None:
    assert len(declared()) == 3
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
