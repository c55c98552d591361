"""A PostgreSQL store's writes that claim the step they insert (dispatch D13), through the store.

An advance claiming its successor, and a create claiming the entry step of a flow it starts.
The statements are tested with the other fast paths (``test_fast_paths_postgresql``). Here: the
claimed step the store hands back is the one a claim's read-back would have read, flow row
included; a reply lost after the statement committed (re-sent, or given up on) reads the step
back by its token, so it never waits out its lease under a live replica; a fenced-out advance
claims nothing.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from dwarf._storage import ClaimedStep, Completion, Lease, NewFlow, NewStep, Store
from dwarf._storage._dsn import parse_dsn
from dwarf._storage._gen import postgresql as pg
from dwarf._storage._open import open_store
from dwarf.errors import UnavailableError
from tests.fixtures.storage import Db, open_db
from tests.storage.test_fast_paths_postgresql import backend

__all__ = ["backend"]

pytestmark = pytest.mark.postgres

LEASE = Lease("me", 1_000)


async def _running(db: Db) -> tuple[int, int, int]:
    flow_id = await db.flow()
    step_id = await db.step(flow_id)
    lease_seq = await db.claim(step_id, owner="me")
    assert lease_seq
    return flow_id, step_id, lease_seq


def new_successor(
    flow_id: int, step_id: int, token: str = "00000000000000ab", state_base: int = 0
) -> NewStep:
    """The successor of running step ``step_id`` that the claiming-advance tests insert."""
    return NewStep(
        flow_id=flow_id,
        depth=2,
        token=token,
        task_name="b",
        state='{"x": 1, "y": 2}',
        time_budget_ms=20_000,
        lineage_id=0,
        ordinal=0,
        predecessor_id=step_id,
        priority=6,
        fairness_key="tenant",
        fairness_weight=1.5,
        delay_ms=0,
        state_base=state_base,
    )


async def _advance(
    dsn: str, flow_id: int, step_id: int, lease_seq: int, fault_window: float = 5.0
) -> tuple[ClaimedStep | None, ClaimedStep | None]:
    """Advance claiming; return what the store handed back and what a read-back finds."""
    store: Store = await open_store(1, parse_dsn(dsn), max_open_conns=2)
    store.fault_window = fault_window
    try:
        flow = await store.read(lambda db: db.get_flow_by_id(flow_id=flow_id))
        assert flow is not None
        done = Completion(step_id, lease_seq, '{"y": 2}', "")
        claimed = await store.advance_claiming_successor(
            done, new_successor(flow_id, step_id), LEASE, flow
        )
        if not isinstance(claimed, ClaimedStep):
            assert claimed == 0  # one statement: claimed whenever anything was written
            return None, None
        read = await store._read_back_claimed([claimed.row.step_id], LEASE.owner)
        return claimed, read[0] if read else None
    finally:
        await store.close()


async def test_the_claimed_successor_is_what_a_claim_would_read_back(
    backend: tuple[str, str],
) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)
        claimed, read = await _advance(backend[1], flow_id, step_id, lease_seq)
        assert claimed is not None
        assert claimed == read
        assert (claimed.row.task_name, claimed.row.lease_seq) == ("b", 1)
        assert claimed.flow is not None
        assert claimed.flow.step_id == claimed.row.step_id
        assert (await db.get_step(step_id)).status == "completed"


async def test_a_fenced_out_advance_claims_nothing(backend: tuple[str, str]) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)
        claimed, _ = await _advance(backend[1], flow_id, step_id, lease_seq + 1)
        assert claimed is None
        assert (await db.get_step(step_id)).status == "running"


@pytest.mark.parametrize("give_up", [False, True], ids=["re-sent", "given-up"])
async def test_a_lost_reply_reads_the_claimed_successor_back(
    backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch, give_up: bool
) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)
        real = pg.advance_to_successor
        calls = 0

        async def reply_lost_once(conn: Any, **params: Any) -> Any:
            nonlocal calls
            calls += 1
            row = await real(conn, **params)
            if calls == 1:  # committed, and then the connection went
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return row

        monkeypatch.setattr(pg, "advance_to_successor", reply_lost_once)
        # A zero fault window gives up at once: UnavailableError inside the store.
        window = 0.0 if give_up else 5.0
        claimed, read = await _advance(backend[1], flow_id, step_id, lease_seq, window)
        assert calls == (1 if give_up else 2)
        assert claimed is not None
        assert claimed == read
        assert claimed.row.predecessor_id == step_id


async def test_a_lost_reply_of_an_advance_that_wrote_nothing_is_unavailable(
    backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)

        async def never_sent(conn: Any, **params: Any) -> Any:
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(pg, "advance_to_successor", never_sent)
        with pytest.raises(UnavailableError):
            await _advance(backend[1], flow_id, step_id, lease_seq, 0.0)
        assert (await db.get_step(step_id)).status == "running"


NEW_FLOW = NewFlow(
    token="00000000000000f1",
    entry_token="00000000000000f2",
    workflow_name="wf",
    graph='{"entry": "a", "steps": {"a": {"url": "a"}}}',
    entry="a",
    state='{"x": 1}',
    baggage='{"tenant": "t"}',
    priority=4,
    fairness_key="k",
    fairness_weight=2.0,
    time_budget_ms=0,
    entry_time_budget_ms=15_000,
    breakpoints='{"b": "b"}',
    trace_parent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
)

_JSON = ("state", "changes", "resume_data", "subgraph_result", "graph", "baggage")


def _values(row: Any) -> dict[str, Any]:
    """A row's fields, its JSON text as values: the database keeps JSON in its own spelling."""
    fields: dict[str, Any] = row._asdict()
    for name in (*_JSON, "final_state", "breakpoints"):
        if name in fields:
            fields[name] = json.loads(fields[name])
    return fields


async def create_claiming(
    backend: tuple[str, str], new: NewFlow = NEW_FLOW
) -> tuple[ClaimedStep, ClaimedStep | None]:
    """Create ``new`` started, its entry claimed; return that and what a read-back finds."""
    async with open_db(*backend):
        store: Store = await open_store(1, parse_dsn(backend[1]), max_open_conns=2)
        try:
            claimed = await store.create_flow_claiming_entry(new, LEASE)
            read = await store._read_back_claimed([claimed.row.step_id], LEASE.owner)
            return claimed, read[0] if read else None
        finally:
            await store.close()


def same_as_read_back(claimed: ClaimedStep, read: ClaimedStep | None) -> None:
    """A claimed entry is, field by field, what a claim's read-back finds (JSON as values)."""
    assert read is not None
    assert _values(claimed.row) == _values(read.row)
    assert claimed.flow is not None
    assert read.flow is not None
    assert _values(claimed.flow) == _values(read.flow)
    assert (claimed.row.lease_seq, claimed.flow.status) == (1, "running")


async def test_the_claimed_entry_is_what_a_claim_would_read_back(
    backend: tuple[str, str],
) -> None:
    same_as_read_back(*await create_claiming(backend))


async def test_a_lost_create_reply_reads_the_claimed_entry_back(
    backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pg.create_flow_with_entry

    async def reply_lost(conn: Any, **params: Any) -> Any:
        await real(conn, **params)  # committed, and then the connection went
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(pg, "create_flow_with_entry", reply_lost)
    claimed, read = await create_claiming(backend)
    assert claimed == read
    assert claimed.row.step_token == NEW_FLOW.entry_token


async def test_a_lost_create_reply_of_a_create_that_wrote_nothing_is_unavailable(
    backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never_sent(conn: Any, **params: Any) -> Any:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(pg, "create_flow_with_entry", never_sent)
    with pytest.raises(UnavailableError):
        await create_claiming(backend)
