"""A MariaDB store's hot path through its public operations (storage.md, S12b).

A multi-table UPDATE buffers the new values of each table but the first in an internal
temporary table, and MariaDB keeps one that holds a text column on disk: a file created and
removed per statement. Writing a flow's last step with its final state that way made every
finish pay for one. The first test counts ``Created_tmp_disk_tables`` on the store's only
connection across a flow's whole life (create, start, claim, a step to its successor, the last
step). The others: a transition and a last step sent twice, as after a reply lost to a dropped
connection, are written once; documents too large for one script go statement by statement; a
script stops at its first failing statement; a script cancelled while the server runs it closes
its connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncmy.errors
import pytest

from dwarf._storage._connect import connect_mysql
from dwarf._storage._dsn import parse_dsn
from dwarf._storage._mysql import SCRIPT_DOCUMENT_LIMIT
from dwarf._storage._mysql_script import Outcome, Script
from dwarf._storage._open import open_store
from dwarf._storage._records import Completion, NewStep
from dwarf._storage._store import Store
from tests.fixtures.storage import FLOW_DEFAULTS, Db, backend_dsn, new_flow

pytestmark = pytest.mark.mysql


@pytest.fixture(params=["mysql"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """MariaDB only: its temporary tables are what is counted."""
    return backend_dsn(request)


async def _disk_temporary_tables(store: Store) -> int:
    """How many on-disk temporary tables the store's one connection has created so far."""
    conn: Any
    async with store._acquire() as conn, conn.cursor() as cursor:
        await cursor.execute("SHOW SESSION STATUS LIKE 'Created_tmp_disk_tables'")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[1])


async def _claim(store: Store, step_id: int) -> int:
    """Claim ``step_id``; its lease_seq."""
    (claimed,) = await store.claim([step_id], "w1", 60_000)
    return claimed.row.lease_seq


def _successor(flow_id: int, predecessor_id: int) -> NewStep:
    """The one successor of ``predecessor_id``."""
    return NewStep(
        flow_id=flow_id,
        depth=1,
        token="00000000000000ac",
        task_name="b",
        state='{"n": 2}',
        time_budget_ms=30_000,
        lineage_id=0,
        ordinal=0,
        predecessor_id=predecessor_id,
        priority=5,
        fairness_key="",
        fairness_weight=1.0,
        delay_ms=0,
    )


async def test_a_flows_life_creates_no_temporary_table_on_disk(
    db: Db, backend: tuple[str, str]
) -> None:
    new = new_flow(1)
    store = await open_store(0, parse_dsn(backend[1]), max_open_conns=1)
    try:
        before = await _disk_temporary_tables(store)
        ids = await store.create_flow(new, start=False)
        started = await store.start_flow(ids.flow_id, new.token, "h")
        assert started.entry_step_id == ids.entry_step_id
        entry_id = ids.entry_step_id
        first = Completion(entry_id, await _claim(store, entry_id), '{"n": 2}', "")
        second_id = await store.advance_to_successor(first, _successor(ids.flow_id, entry_id))
        assert second_id
        last = Completion(second_id, await _claim(store, second_id), '{"n": 3}', "")
        assert await store.finish_flow(last, ids.flow_id, '{"n": 3}')
        created = await _disk_temporary_tables(store) - before
    finally:
        await store.close()

    flow = await db.get_flow(ids.flow_id)
    assert (flow.status, flow.final_state) == ("completed", '{"n": 3}')
    assert (await db.get_step(second_id)).status == "completed"
    assert created == 0, f"{created} temporary tables written to disk"


async def test_a_transition_or_last_step_sent_again_writes_nothing_twice(
    db: Db, backend: tuple[str, str]
) -> None:
    # A script whose reply was lost is sent again (S10): its fences make the second a no-op.
    new = new_flow(2)
    store = await open_store(0, parse_dsn(backend[1]), max_open_conns=1)
    try:
        ids = await store.create_flow(new, start=True)
        entry_id = ids.entry_step_id
        first = Completion(entry_id, await _claim(store, entry_id), '{"n": 3}', "")
        successor = _successor(ids.flow_id, entry_id)
        second_id = await store.advance_to_successor(first, successor)
        assert await store.advance_to_successor(first, successor) == 0
        last = Completion(second_id, await _claim(store, second_id), '{"n": 4}', "")
        assert await store.finish_flow(last, ids.flow_id, '{"n": 4}')
        assert not await store.finish_flow(last, ids.flow_id, '{"n": 5}')
    finally:
        await store.close()

    flow = await db.get_flow(ids.flow_id)
    assert (flow.status, flow.final_state, flow.step_id) == ("completed", '{"n": 4}', second_id)
    assert (await db.get_step(entry_id)).successor_id == second_id
    async with db.conn.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM dwarf_steps WHERE flow_id = %s", (ids.flow_id,))
        assert await cur.fetchone() == (2,)


async def test_documents_too_large_for_one_script_go_statement_by_statement(
    db: Db, backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []
    real_run = Script.run

    async def counted(script: Script) -> list[Outcome]:
        runs.append(1)
        return await real_run(script)

    monkeypatch.setattr(Script, "run", counted)
    # Within MAX_STATE_BYTES, over the script limit, and all escapes: a JSON backslash each.
    big = '{"big": "' + "\\\\" * (SCRIPT_DOCUMENT_LIMIT // 2 + 1) + '"}'
    new = new_flow(3)._replace(state=big)
    store = await open_store(0, parse_dsn(backend[1]), max_open_conns=1)
    try:
        ids = await store.create_flow(new, start=True)
        entry_id = ids.entry_step_id
        first = Completion(entry_id, await _claim(store, entry_id), big, "")
        successor = _successor(ids.flow_id, entry_id)._replace(state=big)
        second_id = await store.advance_to_successor(first, successor)
        last = Completion(second_id, await _claim(store, second_id), "{}", "")
        assert await store.finish_flow(last, ids.flow_id, big)
        assert runs == []  # each over the limit: the portable transaction wrote it
        small = await store.create_flow(new_flow(4), start=True)
        assert runs == [1]
    finally:
        await store.close()

    flow = await db.get_flow(ids.flow_id)
    assert (flow.status, flow.final_state) == ("completed", big)
    assert (await db.get_step(second_id)).state == big
    assert (await db.get_flow(small.flow_id)).step_id == small.entry_step_id


async def test_a_script_stops_at_its_first_failing_statement(db: Db) -> None:
    script = Script(db.conn)
    # 17 characters for a 16-character token, in strict mode: the first INSERT fails.
    await db.q.insert_flow(script, **{**FLOW_DEFAULTS, "flow_token": "x" * 17})
    await db.q.insert_flow(script, **{**FLOW_DEFAULTS, "flow_token": "c" * 16})
    with pytest.raises(asyncmy.errors.DataError):
        await script.run()

    async with db.conn.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM dwarf_flows WHERE flow_token = %s", ("c" * 16,))
        assert await cur.fetchone() == (0,)


async def test_a_script_cancelled_while_it_runs_closes_its_connection(
    backend: tuple[str, str],
) -> None:
    conn = await connect_mysql(parse_dsn(backend[1]))
    await conn.autocommit(True)
    script = Script(conn)
    script.record("SELECT SLEEP(%s)", (2,))
    running = asyncio.ensure_future(script.run())
    await asyncio.sleep(0.3)  # the query is on the server, sleeping
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    # Its answer may still be on the way: the connection goes, and the pool with it.
    assert not conn.connected
