"""A MariaDB store's advance that claims its successor, and its create that claims the entry
step of a flow it starts (dispatch D13), through the store.

The procedures and their reads are tested with the other fast paths (``test_fast_paths_mysql``).
Here: the claimed step the store hands back is the one a claim's read-back would have read, flow
row included; a reply lost after the procedure committed (re-sent, or given up on) reads the
step back by its token; a fenced-out advance claims nothing; a create too large for one script
claims its entry in the portable transaction.
"""

from __future__ import annotations

from typing import Any

import asyncmy.errors
import pytest

from dwarf._storage import ClaimedStep, Completion, Lease, NewStep, Store
from dwarf._storage._dsn import parse_dsn
from dwarf._storage._mysql import SCRIPT_DOCUMENT_LIMIT
from dwarf._storage._mysql_script import Script
from dwarf._storage._open import open_store
from dwarf.errors import UnavailableError
from tests.fixtures.storage import Db, backend_dsn, open_db
from tests.storage.test_claims_on_insert_postgresql import (
    NEW_FLOW,
    create_claiming,
    same_as_read_back,
)

pytestmark = pytest.mark.mysql

LEASE = Lease("me", 1_000)


@pytest.fixture(params=["mysql"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """MariaDB only: the dialect of the procedure."""
    return backend_dsn(request)


async def _running(db: Db) -> tuple[int, int, int]:
    flow_id = await db.flow()
    step_id = await db.step(flow_id)
    await db.q.touch_flow(db.conn, flow_id=flow_id, step_id=step_id)
    lease_seq = await db.claim(step_id, owner="me")
    assert lease_seq
    return flow_id, step_id, lease_seq


async def _advance(
    dsn: str, flow_id: int, step_id: int, lease_seq: int, fault_window: float = 5.0
) -> tuple[ClaimedStep | int, ClaimedStep | None]:
    """Advance claiming; return what the store handed back and what a read-back finds."""
    store: Store = await open_store(1, parse_dsn(dsn), max_open_conns=2)
    store.fault_window = fault_window
    try:
        flow = await store.read(lambda db: db.get_flow_by_id(flow_id=flow_id))
        assert flow is not None
        successor = NewStep(
            flow_id=flow_id,
            depth=2,
            token="00000000000000ab",
            task_name="b",
            state='{"x": 1}',
            time_budget_ms=20_000,
            lineage_id=0,
            ordinal=0,
            predecessor_id=step_id,
            priority=6,
            fairness_key="tenant",
            fairness_weight=1.5,
            delay_ms=0,
        )
        done = Completion(step_id, lease_seq, '{"y": 2}', "")
        claimed = await store.advance_claiming_successor(done, successor, LEASE, flow)
        if not isinstance(claimed, ClaimedStep):
            return claimed, None
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
        assert isinstance(claimed, ClaimedStep)
        assert claimed == read
        assert (claimed.row.lease_seq, claimed.row.predecessor_id) == (1, step_id)
        assert claimed.flow is not None
        assert claimed.flow.step_id == claimed.row.step_id
        assert (await db.get_step(step_id)).status == "completed"


async def test_a_fenced_out_advance_claims_nothing(backend: tuple[str, str]) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)
        claimed, _ = await _advance(backend[1], flow_id, step_id, lease_seq + 1)
        assert claimed == 0
        assert (await db.get_step(step_id)).status == "running"


@pytest.mark.parametrize("give_up", [False, True], ids=["re-sent", "given-up"])
async def test_a_lost_reply_reads_the_claimed_successor_back(
    backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch, give_up: bool
) -> None:
    async with open_db(*backend) as db:
        flow_id, step_id, lease_seq = await _running(db)
        real = Script.run
        calls = 0

        async def reply_lost_once(self: Script) -> Any:
            nonlocal calls
            calls += 1
            outcomes = await real(self)
            if calls == 1:  # committed, and then the connection went
                raise asyncmy.errors.OperationalError(2013, "Lost connection to server")
            return outcomes

        monkeypatch.setattr(Script, "run", reply_lost_once)
        # A zero fault window gives up at once: UnavailableError inside the store.
        window = 0.0 if give_up else 5.0
        claimed, read = await _advance(backend[1], flow_id, step_id, lease_seq, window)
        assert calls == (1 if give_up else 2)
        assert isinstance(claimed, ClaimedStep)
        assert claimed == read
        assert claimed.row.predecessor_id == step_id


async def test_the_claimed_entry_is_what_a_claim_would_read_back(
    backend: tuple[str, str],
) -> None:
    same_as_read_back(*await create_claiming(backend))


async def test_an_entry_too_large_for_one_script_is_claimed_by_the_portable_create(
    backend: tuple[str, str],
) -> None:
    # Over SCRIPT_DOCUMENT_LIMIT the procedure is not called: the portable transaction inserts
    # the flow and claims its entry before it commits.
    large = '{"blob": "' + "x" * (SCRIPT_DOCUMENT_LIMIT + 1) + '"}'
    claimed, read = await create_claiming(backend, NEW_FLOW._replace(state=large))
    same_as_read_back(claimed, read)
    assert claimed.row.state == large


async def test_a_lost_create_reply_reads_the_claimed_entry_back(
    backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A create is never sent twice (it has no fence): lost, its entry is found by its token.
    real = Script.run

    async def reply_lost(self: Script) -> Any:
        await real(self)  # committed, and then the connection went
        raise asyncmy.errors.OperationalError(2013, "Lost connection to server")

    monkeypatch.setattr(Script, "run", reply_lost)
    claimed, read = await create_claiming(backend)
    assert claimed == read
    assert claimed.row.step_token == NEW_FLOW.entry_token


async def test_a_lost_create_reply_of_a_create_that_wrote_nothing_is_unavailable(
    backend: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never_sent(self: Script) -> Any:
        raise asyncmy.errors.OperationalError(2013, "Lost connection to server")

    monkeypatch.setattr(Script, "run", never_sent)
    with pytest.raises(UnavailableError):
        await create_claiming(backend)
