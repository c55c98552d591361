"""A scan that found nothing due stands for the database for a moment (dispatch D14).

Freed workers then ask for no refill, and a worker may claim its step's successor although no
other worker is idle. Anything that may make a step due (a doorbell, a poll, a timer) voids the
finding at once. The tests trust a finding for an hour, so that a slow machine cannot let it
lapse under them: what they see is the rule, not the clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from dwarf._storage import BandClaim, DueStepRow, Store
from dwarf._storage._postgresql import PostgresqlStore
from dwarf.engine import Engine
from dwarf.engine._dispatch import _dispatcher
from dwarf.workflow import Status
from tests.engine.test_claims_on_insert import _count_claimed_steps, chain_proxy

FLOWS = 5


def _trust_for_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_dispatcher, "DRAINED_TRUST", 3600.0)


def _count_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each statement a refill sends to look for due steps."""
    scans: list[str] = []
    scan = _dispatcher._scan

    async def counted_scan(shard: Store, above: int, limit: int) -> list[DueStepRow]:
        scans.append("scan")
        return await scan(shard, above, limit)

    band = PostgresqlStore.claim_due_band

    async def counted_band(self: PostgresqlStore, *args: Any) -> Sequence[BandClaim]:
        scans.append("band")
        return await band(self, *args)

    monkeypatch.setattr(_dispatcher, "_scan", counted_scan)
    monkeypatch.setattr(PostgresqlStore, "claim_due_band", counted_band)
    return scans


async def _found_empty(engine: Engine) -> None:
    """Wait until a refill has found nothing due (white-box: the dispatcher's own finding)."""
    dispatcher = engine._dispatcher
    assert dispatcher is not None
    async with asyncio.timeout(10):
        # Polled: the finding is a timestamp, with no event to wait on.
        while not dispatcher._drained():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _engine(dsn: str, workers: int) -> tuple[Engine, list[str]]:
    proxy, ran = chain_proxy([])
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(workers)
    )
    return engine, ran


# Refill scans while FLOWS three-step flows run one after another, by dialect. On PostgreSQL,
# MariaDB and SQLite every step is claimed as it is inserted: nothing rings, and freed workers
# trust the last scan. Elsewhere (SQL Server) steps inserted pending ring doorbells, and each
# doorbell's refill scans.
SCANS = {"postgresql": 0, "mysql": 0, "sqlite": 0}


async def test_freed_workers_do_not_scan_a_database_just_found_empty(
    engine_dsn: str, engine_dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust_for_an_hour(monkeypatch)
    scans = _count_scans(monkeypatch)
    engine, ran = _engine(engine_dsn, workers=4)
    async with engine:
        first = await engine.run("abc", {}, timeout=30)
        await _found_empty(engine)
        del scans[:]
        outcomes = [await engine.run("abc", {}, timeout=30) for _ in range(FLOWS)]
    assert first.status is Status.COMPLETED
    # Doorbells void the finding: where steps ring, they still run at once, not at a poll.
    assert [outcome.status for outcome in outcomes] == [Status.COMPLETED] * FLOWS
    assert ran == ["a", "b", "c"] * (FLOWS + 1)
    if engine_dialect in SCANS:
        assert len(scans) == SCANS[engine_dialect]


# Steps of a three-step flow claimed by a refill on a one-worker engine, by dialect. That worker
# is never idle while its step advances; on PostgreSQL, MariaDB and SQLite the database was
# found empty, so the worker claims each successor itself. Elsewhere refills claim every step.
ONE_WORKER_REFILL_CLAIMS = {"postgresql": 0, "mysql": 0, "sqlite": 0}


async def test_the_only_worker_claims_its_successor_when_nothing_else_is_due(
    engine_dsn: str, engine_dialect: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _trust_for_an_hour(monkeypatch)
    claimed = _count_claimed_steps(monkeypatch)
    engine, ran = _engine(engine_dsn, workers=1)
    async with engine:
        first = await engine.run("abc", {}, timeout=30)
        await _found_empty(engine)
        del claimed[:]
        outcome = await engine.run("abc", {}, timeout=30)
        history = await engine.history(outcome.flow_key)
    assert (first.status, outcome.status) == (Status.COMPLETED, Status.COMPLETED)
    assert ran == ["a", "b", "c"] * 2
    assert [step.task_name for step in history] == ["a", "b", "c"]
    assert len(claimed) == ONE_WORKER_REFILL_CLAIMS.get(engine_dialect, 3)
