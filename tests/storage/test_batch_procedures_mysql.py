"""MariaDB's batch procedures write what their single procedures write, item by item (storage.md
S12d).

Each scenario writes the same items twice, on twin flows: one at a time with ``dwarf_create``,
``dwarf_advance`` or ``dwarf_finish`` (``_mysql_writes.*_one``), and as one batch with
``dwarf_create_many``, ``dwarf_advance_many`` or ``dwarf_finish_many``. The rows they leave must
be the same field by field but for ids and timestamps, and so must the answers. Fenced-out items
(a lost lease, an ended flow) write nothing while their neighbours write; items of one flow are
written as if one after the other; an item that fails rolls the whole batch back and leaves no
transaction open. Documents carry quotes, backslashes, a percent sign, control characters,
non-ASCII text and an emoji through the JSON array of items. ``test_fast_paths_mysql`` requires
these scenarios, with its own, to call every accessor ``MysqlFastPaths`` declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import asyncmy.errors
import pytest

from dwarf._storage import Completion, Lease, NewFlow, NewStep
from dwarf._storage import _mysql_writes as writes
from dwarf._storage._batch_items import AdvanceItem, CreateItem, Finish
from dwarf._storage._claims import Advanced
from dwarf.workflow import Status
from tests.fixtures.storage import Db, backend_dsn, new_flow
from tests.storage.test_claims_on_insert_postgresql import new_successor

pytestmark = pytest.mark.mysql

LEASE = Lease("me", 1_000)
TRICKY = '{"s": "it\'s 100% \\\\ \\" \\n \\u0001 \u00fc \u20ac \U0001f600"}'
"""A JSON document whose text needs escaping twice in a batch: in the items and in the query."""


@pytest.fixture(params=["mysql"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """MariaDB only: the dialect of the procedures."""
    return backend_dsn(request)


@contextmanager
def recorded(db: Db) -> Iterator[None]:
    """``_mysql_writes`` calls its accessors through ``db``'s recorder, which checks their types."""
    with patch.object(writes, "my", db.recorder):
        yield


_IDS = {
    "step_id",
    "flow_id",
    "predecessor_id",
    "successor_id",
    "state_base",
    "thread_id",
    "root_flow_id",
}
_TOKENS = {"flow_token", "thread_token", "step_token"}
_TIMES = {"not_before", "lease_expires", "created_at", "started_at", "updated_at"}


def _comparable(row: Any) -> dict[str, Any]:
    """A row's fields but for ids and timestamps, which differ between twins."""
    return {k: v for k, v in row._asdict().items() if k not in _IDS | _TIMES | _TOKENS}


async def _running(db: Db) -> tuple[int, int, int]:
    flow_id = await db.flow()
    step_id = await db.step(flow_id)
    await db.q.touch_flow(db.conn, flow_id=flow_id, step_id=step_id)
    lease_seq = await db.claim(step_id, owner=LEASE.owner)
    assert lease_seq
    return flow_id, step_id, lease_seq


def _successor(flow_id: int, step_id: int, task: str = "b", state: str = TRICKY) -> NewStep:
    return new_successor(flow_id, step_id, state_base=step_id)._replace(
        task_name=task, state=state, fairness_key="t\u00fcnant"
    )


async def _advance_items(db: Db) -> list[AdvanceItem]:
    """Four advances: claimed, pending, a lost lease, an ended flow (those two write nothing)."""
    items: list[AdvanceItem] = []
    for lease, spoil in ((LEASE, ""), (None, ""), (LEASE, "lease"), (None, "flow")):
        flow_id, step_id, lease_seq = await _running(db)
        if spoil == "flow":
            await db.execute(
                "UPDATE dwarf_flows SET status = 'cancelled' WHERE flow_id = %s", (flow_id,)
            )
        done = Completion(step_id, lease_seq + (spoil == "lease"), TRICKY, "b")
        items.append((done, _successor(flow_id, step_id), lease))
    return items


async def _step_rows(db: Db, flow_id: int) -> list[dict[str, Any]]:
    async with db.conn.cursor() as cur:
        await cur.execute(
            "SELECT step_id FROM dwarf_steps WHERE flow_id = %s ORDER BY step_id", (flow_id,)
        )
        ids = [row[0] for row in await cur.fetchall()]
    return [_comparable(await db.get_step(step_id)) for step_id in ids]


async def test_a_batch_of_advances_writes_what_each_alone_writes(db: Db) -> None:
    alone_items, batch_items = await _advance_items(db), await _advance_items(db)
    alone = [await writes.advance_one(db.conn, item) for item in alone_items]
    with recorded(db):
        batch = await writes.advance_many(db.conn, batch_items)

    assert [a is None for a in alone] == [b is None for b in batch] == [False, False, True, True]
    for (done, successor, lease), (_, twin_successor, _), one, many in zip(
        alone_items, batch_items, alone, batch, strict=True
    ):
        twin = twin_successor.flow_id
        assert await _step_rows(db, successor.flow_id) == await _step_rows(db, twin)
        assert _comparable(await db.get_flow(successor.flow_id)) == _comparable(
            await db.get_flow(twin)
        )
        if many is None:
            assert len(await _step_rows(db, twin)) == 1  # no successor left behind
            continue
        assert one is not None
        assert (await db.get_flow(twin)).step_id == many.successor_id
        if lease is not None:
            # What the claim's read-back reads of the claimed successor and its flow.
            (claimed,) = await db.q.select_claimed_steps(
                db.conn, step_ids=[many.successor_id], lease_owner=LEASE.owner
            )
            flow = await db.get_flow(twin)
            assert many == Advanced(
                many.successor_id,
                claimed.created_at,
                claimed.base_lease_seq,
                flow.status,
                flow.breakpoints,
                flow.updated_at,
            )
            assert (claimed.base_lease_seq, claimed.lease_seq) == (done.lease_seq, 1)
    pending = batch[1]
    assert pending is not None
    assert (await db.get_step(pending.successor_id)).state == TRICKY


async def test_advances_of_one_flow_in_a_batch_each_write_and_the_flow_takes_the_last(
    db: Db,
) -> None:
    flow_id, first, first_seq = await _running(db)
    second = await db.step(flow_id)
    second_seq = await db.claim(second, owner=LEASE.owner)
    items: list[AdvanceItem] = [
        (Completion(first, first_seq, "{}", "b"), _successor(flow_id, first, "b"), LEASE),
        (Completion(second, second_seq, "{}", "c"), _successor(flow_id, second, "c"), None),
    ]
    with recorded(db):
        written = await writes.advance_many(db.conn, items)
    assert all(written)
    ids = [advanced.successor_id for advanced in written if advanced is not None]
    assert [(await db.get_step(i)).task_name for i in ids] == ["b", "c"]
    assert (await db.get_flow(flow_id)).step_id == ids[1]


async def test_a_batch_of_finishes_writes_what_each_alone_writes(db: Db) -> None:
    async def items() -> list[Finish]:
        made: list[Finish] = []
        for spoil in ("", "", "lease", "flow"):
            flow_id, step_id, lease_seq = await _running(db)
            if spoil == "flow":
                await db.execute(
                    "UPDATE dwarf_flows SET status = 'failed' WHERE flow_id = %s", (flow_id,)
                )
            done = Completion(step_id, lease_seq + (spoil == "lease"), TRICKY, "")
            made.append((done, flow_id, '{"final": "\u00fc \\\\"}'))
        # A second last step of the first flow: it finds the flow ended and writes nothing.
        twin = await db.step(made[0][1])
        made.append(
            (Completion(twin, await db.claim(twin, owner=LEASE.owner), "{}", ""), made[0][1], "{}")
        )
        return made

    alone_items, batch_items = await items(), await items()
    alone = [await writes.finish_one(db.conn, item) for item in alone_items]
    with recorded(db):
        batch = await writes.finish_many(db.conn, batch_items)
    assert alone == batch == [True, True, False, False, False]
    for (_, one_flow, _), (_, many_flow, _) in zip(alone_items, batch_items, strict=True):
        assert await _step_rows(db, one_flow) == await _step_rows(db, many_flow)
        assert _comparable(await db.get_flow(one_flow)) == _comparable(await db.get_flow(many_flow))
    assert (await db.get_flow(batch_items[0][1])).final_state == '{"final": "\u00fc \\\\"}'


def _new_flow(n: int, *, thread: tuple[int, str] | None = None) -> NewFlow:
    return new_flow(n)._replace(
        state=TRICKY, delete_on_completion=True, thread=thread, breakpoints='{"b": "b"}'
    )


async def test_a_batch_of_creates_writes_what_each_alone_writes(db: Db) -> None:
    joined = await db.flow()

    def items(base: int) -> list[CreateItem]:
        return [
            (_new_flow(base + 1), True, LEASE),
            (_new_flow(base + 2), True, None),
            (_new_flow(base + 3), False, None),
            (_new_flow(base + 4, thread=(joined, "j")), True, None),
        ]

    alone = [await writes.create_one(db.conn, item) for item in items(1_000)]
    with recorded(db):
        batch = await writes.create_many(db.conn, items(2_000))
    for one, many in zip(alone, batch, strict=True):
        flow = await db.get_flow(many.flow_id)
        assert _comparable(await db.get_flow(one.flow_id)) == _comparable(flow)
        assert await _step_rows(db, one.flow_id) == await _step_rows(db, many.flow_id)
        assert flow.step_id == many.step_id
        assert (await db.get_step(many.step_id)).created_at == many.created_at == flow.created_at
    threads = [await db.get_flow(created.flow_id) for created in batch]
    assert [(f.thread_id, f.thread_token, f.root_flow_id) for f in threads] == [
        (created.flow_id, f.flow_token, created.flow_id)
        for created, f in zip(batch[:3], threads[:3], strict=True)
    ] + [(joined, "j", batch[3].flow_id)]
    assert (await db.get_step(batch[0].step_id)).status == Status.RUNNING


async def test_a_failing_item_rolls_the_whole_batch_back(db: Db) -> None:
    flow_id, step_id, lease_seq = await _running(db)
    good = (Completion(step_id, lease_seq, "{}", "b"), _successor(flow_id, step_id), LEASE)
    other_flow, other_step, other_seq = await _running(db)
    # Too long for its column: strict mode fails the statement inside the procedure.
    bad = (
        Completion(other_step, other_seq, "{}", "b"),
        _successor(other_flow, other_step, task="t" * 100_000),
        None,
    )
    with recorded(db), pytest.raises(asyncmy.errors.DataError):
        await writes.advance_many(db.conn, [good, bad])
    for flow in (flow_id, other_flow):
        assert [row["status"] for row in await _step_rows(db, flow)] == ["running"]
    # No transaction was left open: the next call on the connection commits on its own.
    assert await writes.advance_one(db.conn, good) is not None
    assert len(await _step_rows(db, flow_id)) == 2
