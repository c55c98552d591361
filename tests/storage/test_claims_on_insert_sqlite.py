"""A SQLite store's advance that claims its successor, and its create that claims the entry step
of a flow it starts (dispatch D13), through the store.

The claimed step the store hands back is the one a claim's read-back would have read, flow row
included (a forEach branch's base lease_seq too); an advance fenced out, or of a flow no longer
live, claims nothing and leaves no successor behind.
"""

from __future__ import annotations

import pytest

from dwarf._storage import ClaimedStep, Completion, Lease, NewStep, Store
from dwarf._storage._dsn import parse_dsn
from dwarf._storage._open import open_store
from dwarf.workflow import Status
from tests.fixtures.storage import Db, backend_dsn, open_db
from tests.storage.test_claims_on_insert_postgresql import (
    NEW_FLOW,
    create_claiming,
    new_successor,
    same_as_read_back,
)

LEASE = Lease("me", 1_000)


@pytest.fixture(params=["sqlite-file"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A SQLite file, which the test's connection and the store's share."""
    return backend_dsn(request)


async def _running(db: Db) -> tuple[int, int, int]:
    flow_id = await db.flow()
    step_id = await db.step(flow_id)
    lease_seq = await db.claim(step_id, owner="me")
    assert lease_seq
    return flow_id, step_id, lease_seq


async def _advance(
    dsn: str, successor: NewStep, lease_seq: int
) -> tuple[ClaimedStep | int, ClaimedStep | None]:
    """Advance claiming; return what the store handed back and what a read-back finds."""
    store: Store = await open_store(1, parse_dsn(dsn), max_open_conns=1)
    try:
        flow = await store.read(lambda db: db.get_flow_by_id(flow_id=successor.flow_id))
        assert flow is not None
        done = Completion(successor.predecessor_id, lease_seq, '{"y": 2}', "")
        claimed = await store.advance_claiming_successor(done, successor, LEASE, flow)
        if not isinstance(claimed, ClaimedStep):
            return claimed, None
        read = await store._read_back_claimed([claimed.row.step_id], LEASE.owner)
        return claimed, read[0] if read else None
    finally:
        await store.close()


@pytest.mark.parametrize("based", [False, True], ids=["whole-state", "forEach-base"])
async def test_the_claimed_successor_is_what_a_claim_would_read_back(
    backend: tuple[str, str], based: bool
) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)
        successor = new_successor(flow_id, step_id, state_base=step_id if based else 0)
        claimed, read = await _advance(backend[1], successor, lease_seq)
        assert isinstance(claimed, ClaimedStep)
        assert claimed == read
        assert (claimed.row.task_name, claimed.row.lease_seq) == ("b", 1)
        assert claimed.row.base_lease_seq == (lease_seq if based else 0)
        assert claimed.flow is not None
        assert claimed.flow.step_id == claimed.row.step_id
        done = await db.get_step(step_id)
        assert (done.status, done.successor_id) == ("completed", claimed.row.step_id)


async def _steps_of(db: Db, flow_id: int) -> list[int]:
    return [row.step_id for row in await db.q.list_steps_for_copy(db.conn, flow_id=flow_id)]


async def test_a_fenced_out_advance_claims_nothing_and_inserts_nothing(
    backend: tuple[str, str],
) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)
        claimed, _ = await _advance(backend[1], new_successor(flow_id, step_id), lease_seq + 1)
        assert claimed == 0
        assert (await db.get_step(step_id)).status == "running"
        assert await _steps_of(db, flow_id) == [step_id]


async def test_an_advance_of_a_flow_no_longer_live_claims_nothing(
    backend: tuple[str, str],
) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)
        assert await db.q.cancel_flow(
            db.conn, flow_id=flow_id, cancel_reason="test", final_state="{}"
        )
        claimed, _ = await _advance(backend[1], new_successor(flow_id, step_id), lease_seq)
        assert claimed == 0
        assert (await db.get_step(step_id)).status == "running"
        assert await _steps_of(db, flow_id) == [step_id]
        assert (await db.get_flow(flow_id)).status == Status.CANCELLED


async def test_the_claimed_entry_is_what_a_claim_would_read_back(
    backend: tuple[str, str],
) -> None:
    same_as_read_back(*await create_claiming(backend, NEW_FLOW))
