"""The PostgreSQL batch fast paths: one statement writes, for each item, what the single one does.

``CreateFlowsWithEntries``, ``StartCreatedFlows``, ``AdvanceToSuccessors`` and
``FinishWithSteps`` take the items of a group commit (one array per field). Each scenario runs
a batch mixing items that must write and items that must write nothing (a lost lease, an ended
flow), next to a reference written by the single-item statement, and reads the rows back: a
batch item's rows equal the reference's field by field, and a fenced-out item leaves its rows
as they were. ``test_fast_paths_postgresql`` requires these scenarios, with its own, to call
every fast path.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from dwarf._storage import Completion, NewStep
from dwarf._storage._dsn import parse_dsn
from dwarf._storage._gen.rows import FlowRow, StepRow
from dwarf._storage._open import open_store
from tests.fixtures.storage import Db, new_flow, open_db
from tests.storage.test_fast_paths_postgresql import (
    NEW_FLOW,
    SUCCESSOR,
    backend,
    fast,
    running_step,
)

__all__ = ["backend"]

pytestmark = pytest.mark.postgres

# Fields that name rows (ids, tokens) or moments rather than what was written.
_IDENTITY = frozenset(
    {"step_id", "flow_id", "predecessor_id", "successor_id", "flow_token", "thread_id"}
    | {"root_flow_id", "step_token", "thread_token"}
)

# The batch arrays, in the order of the single statement's params they come from.
_ADVANCE_ARRAYS = {
    "step_ids": "step_id",
    "lease_seqs": "lease_seq",
    "flow_ids": "flow_id",
    "step_changes": "changes",
    "gotos": "goto_next",
    "step_depths": "step_depth",
    "step_tokens": "step_token",
    "task_names": "task_name",
    "states": "state",
    "state_bases": "state_base",
    "time_budgets_ms": "time_budget_ms",
    "lineage_ids": "lineage_id",
    "fan_out_ordinals": "fan_out_ordinal",
    "priorities": "priority",
    "fairness_keys": "fairness_key",
    "fairness_weights": "fairness_weight",
    "delays_ms": "delay_ms",
    "lease_owners": "lease_owner",
    "lease_margins_ms": "lease_margin_ms",
}


def written(row: StepRow | FlowRow) -> dict[str, Any]:
    """What a row holds apart from its identity and its timestamps."""
    return {
        key: value
        for key, value in row._asdict().items()
        if key not in _IDENTITY and not isinstance(value, datetime)
    }


def arrays(items: list[dict[str, Any]], names: dict[str, str]) -> dict[str, list[Any]]:
    """The batch statement's array params: one array per field, one element per item."""
    return {array: [item[field] for item in items] for array, field in names.items()}


async def advance_item(db: Db, **successor: Any) -> dict[str, Any]:
    """A claimed step of a new started flow, as an item of the advance batch."""
    flow_id, step_id, lease_seq = await running_step(db)
    return {
        **SUCCESSOR,
        **successor,
        "flow_id": flow_id,
        "step_id": step_id,
        "lease_seq": lease_seq,
    }


async def test_advance_to_successors_writes_each_item_as_the_single_statement(db: Db) -> None:
    reference = await advance_item(db)
    single = await fast(db).advance_to_successor(db.conn, **reference)
    assert single is not None
    assert single.touched

    good = await advance_item(db)
    lost = await advance_item(db)
    lost["lease_seq"] += 1
    ended = await advance_item(db)
    await db.execute(
        "UPDATE dwarf_flows SET status = 'cancelled' WHERE flow_id = %s", (ended["flow_id"],)
    )
    sleeping = await advance_item(db, delay_ms=60_000)
    # Two branches of one flow, each running its own step: both must advance.
    first = await advance_item(db, lineage_id=0, fan_out_ordinal=0)
    other_step = await db.step(first["flow_id"], lineage_id=first["step_id"], fan_out_ordinal=1)
    second = {
        **first,
        "step_id": other_step,
        "lease_seq": await db.claim(other_step),
        "fan_out_ordinal": 1,
        "task_name": "c",
    }
    items = [good, lost, ended, sleeping, first, second]
    rows = await fast(db).advance_to_successors(db.conn, **arrays(items, _ADVANCE_ARRAYS))

    assert [row.ordinal for row in rows] == [1, 2, 3, 4, 5, 6]
    assert [(row.completed, row.touched) for row in rows] == [
        (True, True),
        (False, False),
        (False, False),
        (True, True),
        (True, True),
        (True, True),
    ]
    assert len({row.successor_id for row in rows} | {single.successor_id}) == 7

    # A written item: its rows are the reference's, field by field.
    for item, row in zip(items, rows, strict=True):
        if not row.completed:
            continue
        done = await db.get_step(item["step_id"])
        successor = await db.get_step(row.successor_id)
        assert (done.successor_id, successor.predecessor_id) == (row.successor_id, done.step_id)
        assert successor.flow_id == item["flow_id"]
        if item is good:
            assert written(done) == written(await db.get_step(reference["step_id"]))
            assert written(successor) == written(await db.get_step(single.successor_id))
            assert written(await db.get_flow(item["flow_id"])) == written(
                await db.get_flow(reference["flow_id"])
            )
    assert (await db.get_flow(good["flow_id"])).step_id == rows[0].successor_id

    # Fenced out: the step still runs, no successor, the flow row untouched.
    for item, row in ((lost, rows[1]), (ended, rows[2])):
        assert (await db.get_step(item["step_id"])).status == "running"
        assert await db.q.get_step_by_id(db.conn, step_id=row.successor_id) is None
        assert (await db.get_flow(item["flow_id"])).step_id == item["step_id"]

    schedule = await db.q.get_step_schedule(db.conn, step_id=rows[3].successor_id)
    assert schedule is not None
    assert 55_000 < schedule.delay_ms <= 60_000

    # The two branches: each has its own successor; the flow points at the newer one.
    branches = [await db.get_step(rows[n].successor_id) for n in (4, 5)]
    assert [(s.task_name, s.fan_out_ordinal, s.status) for s in branches] == [
        ("b", 0, "pending"),
        ("c", 1, "pending"),
    ]
    newest = max(rows[4].successor_id, rows[5].successor_id)
    assert (await db.get_flow(first["flow_id"])).step_id == newest


async def test_advance_to_successors_claims_the_successors_of_items_with_a_lease_owner(
    db: Db,
) -> None:
    claim = {"lease_owner": "replica-1", "lease_margin_ms": 5_000}
    reference = await advance_item(db, **claim)
    single = await fast(db).advance_to_successor(db.conn, **reference)
    assert single is not None
    claimed = await advance_item(db, **claim)
    pending = await advance_item(db)
    lost = await advance_item(db, **claim)
    lost["lease_seq"] += 1
    items = [claimed, pending, lost]
    rows = await fast(db).advance_to_successors(db.conn, **arrays(items, _ADVANCE_ARRAYS))

    assert [(row.completed, row.touched) for row in rows] == [(True, True)] * 2 + [(False,) * 2]
    successor = await db.get_step(rows[0].successor_id)
    assert written(successor) == written(await db.get_step(single.successor_id))
    assert (successor.status, successor.lease_seq) == ("running", 1)
    assert (await db.get_step(rows[1].successor_id)).status == "pending"
    # The read-back columns, as the single statement's: the flow row as written.
    flow = await db.get_flow(claimed["flow_id"])
    assert (rows[0].flow_status, rows[0].flow_breakpoints, rows[0].flow_updated_at) == (
        flow.status,
        flow.breakpoints,
        flow.updated_at,
    )
    assert (rows[0].created_at, rows[0].base_lease_seq) == (successor.created_at, 0)
    assert (rows[2].flow_status, rows[2].flow_breakpoints) == (None, None)


async def test_advance_to_successors_of_an_empty_batch_writes_nothing(db: Db) -> None:
    assert await fast(db).advance_to_successors(db.conn, **arrays([], _ADVANCE_ARRAYS)) == []


_FINISH_ARRAYS = {
    "step_ids": "step_id",
    "lease_seqs": "lease_seq",
    "flow_ids": "flow_id",
    "step_changes": "changes",
    "gotos": "goto_next",
    "final_states": "final_state",
}


async def finish_item(db: Db, **fields: Any) -> dict[str, Any]:
    """A claimed step of a new started flow, as an item of the finish batch."""
    flow_id, step_id, lease_seq = await running_step(db)
    return {
        "changes": '{"y": 2}',
        "goto_next": "",
        "final_state": '{"x": 1, "y": 2}',
        "flow_id": flow_id,
        "step_id": step_id,
        "lease_seq": lease_seq,
        **fields,
    }


async def second_step_of(db: Db, item: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Another claimed step of ``item``'s flow, as an item of the finish batch."""
    step_id = await db.step(item["flow_id"])
    return {**item, "step_id": step_id, "lease_seq": await db.claim(step_id), **fields}


async def test_finish_with_steps_writes_each_item_as_the_single_statement(db: Db) -> None:
    reference = await finish_item(db)
    single = await fast(db).finish_with_step(db.conn, **reference)
    assert single is not None
    assert single.finished

    good = await finish_item(db)
    lost = await finish_item(db)
    lost["lease_seq"] += 1
    ended = await finish_item(db)
    await db.execute(
        "UPDATE dwarf_flows SET status = 'cancelled' WHERE flow_id = %s", (ended["flow_id"],)
    )
    # Two live steps of one flow: the first finishes it, the second then finds it ended.
    first = await finish_item(db, final_state='{"n": 1}')
    late = await second_step_of(db, first, final_state='{"n": 2}')
    # A stale step before a live one of the same flow: the live one finishes it.
    stale = await finish_item(db, final_state='{"n": 3}')
    stale["lease_seq"] += 1
    live = await second_step_of(db, stale, final_state='{"n": 4}')
    items = [good, lost, ended, first, late, stale, live]
    rows = await fast(db).finish_with_steps(db.conn, **arrays(items, _FINISH_ARRAYS))

    assert [row.ordinal for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [(row.completed, row.finished) for row in rows] == [
        (True, True),
        (False, False),
        (False, False),
        (True, True),
        (False, False),
        (False, False),
        (True, True),
    ]
    assert written(await db.get_step(good["step_id"])) == written(
        await db.get_step(reference["step_id"])
    )
    assert written(await db.get_flow(good["flow_id"])) == written(
        await db.get_flow(reference["flow_id"])
    )
    for item in (lost, ended, late, stale):
        assert (await db.get_step(item["step_id"])).status == "running"
    for item, status, final_state in (
        (lost, "running", "{}"),
        (ended, "cancelled", "{}"),
        (first, "completed", '{"n": 1}'),
        (live, "completed", '{"n": 4}'),
    ):
        flow = await db.get_flow(item["flow_id"])
        assert (flow.status, flow.final_state) == (status, final_state)
    assert (await db.get_step(live["step_id"])).status == "completed"


async def test_finish_with_steps_of_an_empty_batch_writes_nothing(db: Db) -> None:
    assert await fast(db).finish_with_steps(db.conn, **arrays([], _FINISH_ARRAYS)) == []


_CREATE_ARRAYS = {
    "flow_tokens": "flow_token",
    "workflow_names": "workflow_name",
    "graphs": "graph",
    "baggages": "baggage",
    "started_flags": "started",
    "surgraph_flow_ids": "surgraph_flow_id",
    "surgraph_step_depths": "surgraph_step_depth",
    "surgraph_step_ids": "surgraph_step_id",
    "root_flow_ids": "root_flow_id",
    "thread_ids": "thread_id",
    "thread_tokens": "thread_token",
    "breakpoint_sets": "breakpoints",
    "trace_parents": "trace_parent",
    "priorities": "priority",
    "fairness_keys": "fairness_key",
    "fairness_weights": "fairness_weight",
    "time_budgets_ms": "time_budget_ms",
    "entry_time_budgets_ms": "entry_time_budget_ms",
    "deletes_on_completion": "delete_on_completion",
    "step_depths": "step_depth",
    "step_tokens": "step_token",
    "task_names": "task_name",
    "states": "state",
    "delays_ms": "delay_ms",
    "lease_owners": "lease_owner",
    "lease_margins_ms": "lease_margin_ms",
}


async def test_create_flows_with_entries_writes_each_flow_as_the_single_statement(db: Db) -> None:
    anchor = await db.flow()
    variants: list[dict[str, Any]] = [
        {},
        {"started": True, "delay_ms": 60_000, "delete_on_completion": True},
        {"started": True, "thread_id": anchor, "thread_token": "0123456789abcdef"}
        | {"root_flow_id": anchor, "surgraph_flow_id": anchor, "surgraph_step_depth": 3},
        {"started": True, "lease_owner": "replica-1", "lease_margin_ms": 5_000},
    ]
    items = [
        {**NEW_FLOW, **variant, "flow_token": f"{n:016x}", "step_token": f"{n + 8:016x}"}
        for n, variant in enumerate(variants)
    ]
    singles = [await fast(db).create_flow_with_entry(db.conn, **item) for item in items]
    rows = await fast(db).create_flows_with_entries(
        db.conn,
        **arrays(
            [
                {
                    **item,
                    "started": int(item["started"]),
                    "delete_on_completion": int(item["delete_on_completion"]),
                }
                for item in items
            ],
            _CREATE_ARRAYS,
        ),
    )
    assert [row.ordinal for row in rows] == [1, 2, 3, 4]
    assert len({row.flow_id for row in rows}) == 4
    # The entry claimed as it was inserted, as the single statement claims it.
    claimed = await db.get_step(rows[3].step_id)
    assert (claimed.status, claimed.lease_seq, claimed.lease_owner) == ("running", 1, "replica-1")
    assert claimed.created_at == rows[3].created_at
    for row, single in zip(rows, singles, strict=True):
        assert single is not None
        flow, entry = await db.get_flow(row.flow_id), await db.get_step(row.step_id)
        expected = await db.get_flow(single.flow_id)
        assert written(flow) == written(expected)
        assert written(entry) == written(await db.get_step(single.step_id))
        assert (flow.step_id, entry.flow_id) == (row.step_id, row.flow_id)
        # Its own thread and root unless it joins one; the same tokens as given.
        own = (row.flow_id, row.flow_id) if expected.thread_id == single.flow_id else None
        assert (flow.thread_id, flow.root_flow_id) == (
            own or (expected.thread_id, expected.root_flow_id)
        )
        assert (flow.flow_token, flow.thread_token) == (expected.flow_token, expected.thread_token)
    schedule = await db.q.get_step_schedule(db.conn, step_id=rows[1].step_id)
    assert schedule is not None
    assert 55_000 < schedule.delay_ms <= 60_000


async def created_flow(db: Db, n: int, **fields: Any) -> tuple[int, str]:
    """A new created (not started) flow: its id and token."""
    token = f"{n:016x}"
    row = await fast(db).create_flow_with_entry(
        db.conn, **{**NEW_FLOW, "flow_token": token, **fields}
    )
    assert row is not None
    return row.flow_id, token


async def test_start_created_flows_starts_each_flow_as_the_single_statement(db: Db) -> None:
    reference, reference_token = await created_flow(db, 1, delay_ms=60_000)
    single = await fast(db).start_created_flow(
        db.conn, flow_id=reference, flow_token=reference_token, notify_hostname="h"
    )
    assert single is not None

    sleeping = await created_flow(db, 2, delay_ms=60_000)
    plain = await created_flow(db, 3)
    wrong = ((await created_flow(db, 4))[0], "ffffffffffffffff")
    running = await created_flow(db, 5, started=True)
    twice = await created_flow(db, 6)
    items = [sleeping, wrong, plain, running, twice, twice]
    rows = await fast(db).start_created_flows(
        db.conn,
        flow_ids=[flow_id for flow_id, _ in items],
        flow_tokens=[token for _, token in items],
        notify_hostnames=["h", "h", "h", "h", "h", "other"],
    )
    assert [row.ordinal for row in rows] == [1, 2, 3, 4, 5, 6]
    # Only the first of two starts of one flow starts it, as one after the other would.
    assert [row.started for row in rows] == [True, False, True, False, True, False]
    assert 55_000 < rows[0].delay_ms <= 60_000
    # Due since its creation, as the single statement says of such a flow.
    assert rows[2].delay_ms <= 0
    assert rows[2].workflow_name == single.workflow_name
    assert [row.step_id for row in rows if not row.started] == [0, 0, 0]
    assert written(await db.get_flow(sleeping[0])) == written(await db.get_flow(reference))
    for (flow_id, _), row in zip(items, rows, strict=True):
        flow = await db.get_flow(flow_id)
        entry = await db.get_step(flow.step_id)
        if row.started:
            assert (flow.status, flow.notify_hostname, entry.status) == ("running", "h", "pending")
            assert row.step_id == flow.step_id
    assert (await db.get_flow(wrong[0])).status == "created"


async def test_concurrent_writes_through_the_store_each_get_their_own_outcome(
    backend: tuple[str, str],
) -> None:
    # Written at the same moment, all but the first go to the database as one batch (S12).
    async with open_db(*backend) as db:
        advances = [await advance_item(db) for _ in range(12)]
        finishes = [await finish_item(db) for _ in range(12)]
        for item in (advances[3], advances[7], finishes[5]):
            item["lease_seq"] += 1
        store = await open_store(1, parse_dsn(backend[1]), max_open_conns=4)
        try:
            created, advanced, finished = await asyncio.gather(
                asyncio.gather(
                    *(store.create_flow(new_flow(n), start=n % 2 == 0) for n in range(12))
                ),
                asyncio.gather(*(store.advance_to_successor(*advance(i)) for i in advances)),
                asyncio.gather(
                    *(
                        store.finish_flow(completion(i), i["flow_id"], i["final_state"])
                        for i in finishes
                    )
                ),
            )
        finally:
            await store.close()
        for n, (item, successor_id) in enumerate(zip(advances, advanced, strict=True)):
            if n in (3, 7):
                assert successor_id == 0
                assert (await db.get_step(item["step_id"])).status == "running"
                continue
            successor = await db.get_step(successor_id)
            assert (successor.predecessor_id, successor.flow_id) == (
                item["step_id"],
                item["flow_id"],
            )
            assert (await db.get_flow(item["flow_id"])).step_id == successor_id
        assert finished == [n != 5 for n in range(12)]
        assert len({ids.flow_id for ids in created}) == 12
        store = await open_store(1, parse_dsn(backend[1]), max_open_conns=4)
        try:
            started = await asyncio.gather(
                *(
                    store.start_flow(ids.flow_id, f"{n:016x}", "h")
                    for n, ids in enumerate(created)
                    if n % 2
                )
            )
        finally:
            await store.close()
        assert [s.entry_step_id for s in started] == [
            ids.entry_step_id for n, ids in enumerate(created) if n % 2
        ]
        for n, ids in enumerate(created):
            flow, entry = await db.get_flow(ids.flow_id), await db.get_step(ids.entry_step_id)
            assert (flow.flow_token, flow.step_id, entry.flow_id) == (
                f"{n:016x}",
                ids.entry_step_id,
                ids.flow_id,
            )
            assert (flow.status, entry.status) == ("running", "pending")
        statuses = [(await db.get_flow(item["flow_id"])).status for item in finishes]
        assert statuses == ["running" if n == 5 else "completed" for n in range(12)]


def completion(item: dict[str, Any]) -> Completion:
    """The store's completion of a batch item."""
    return Completion(item["step_id"], item["lease_seq"], item["changes"], item["goto_next"])


def advance(item: dict[str, Any]) -> tuple[Completion, NewStep]:
    """The store's arguments of an advance batch item."""
    return completion(item), NewStep(
        flow_id=item["flow_id"],
        depth=item["step_depth"],
        token=item["step_token"],
        task_name=item["task_name"],
        state=item["state"],
        time_budget_ms=item["time_budget_ms"],
        lineage_id=item["lineage_id"],
        ordinal=item["fan_out_ordinal"],
        predecessor_id=item["step_id"],
        priority=item["priority"],
        fairness_key=item["fairness_key"],
        fairness_weight=item["fairness_weight"],
        delay_ms=item["delay_ms"],
    )
