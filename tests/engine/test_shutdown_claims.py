"""A clean shutdown hands back what it claimed, even a claim still being read back.

What a user notices: a flow started just before a replica shuts down completes promptly on the
next one, instead of waiting out a lease (the time budget plus 30 s) held by a stopped replica.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dwarf._storage import Store
from dwarf._storage._mysql import MysqlStore
from dwarf._storage._postgresql import PostgresqlStore
from dwarf._storage._sqlite import SqliteStore
from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Query, Status
from tests.fixtures.engines import MakeEngine


def one_step(proxy: TestProxy) -> None:
    graph = Graph("once")
    graph.add_transition_chain("t", END)
    proxy.handle_graph("once", graph)

    @proxy.task("t")
    async def t(flow: Flow) -> None:
        del flow


async def test_a_claim_in_progress_at_shutdown_runs_on_the_next_replica(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = TestProxy()
    one_step(proxy)
    claiming = asyncio.Event()

    def slowed(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def slow_claim(self: Store, *args: Any) -> Any:
            # The claim's UPDATE has committed when shutdown begins; its read-back is still going.
            won = await original(self, *args)
            if won:
                claiming.set()
                await asyncio.sleep(0.3)
            return won

        return slow_claim

    async with make_engine(proxy, workers=2) as first:
        # The portable claim and a dialect's own (PostgreSQL claims and reads back at once),
        # of planned steps or of a whole due band (docs/internals/dispatch.md#d12).
        for cls in (Store, *Store.__subclasses__()):
            for name in ("claim", "claim_due_band"):
                if name in vars(cls):
                    monkeypatch.setattr(cls, name, slowed(vars(cls)[name]))
        key = await first.create("once")
        await first.start(key)
        await asyncio.wait_for(claiming.wait(), 20)
    monkeypatch.undo()
    async with make_engine(proxy, workers=2) as second:
        # Far below the two and a half minutes a leaked claim would hold the step.
        outcome = await second.await_flow(key, timeout=30)

    assert outcome.status is Status.COMPLETED


def two_steps(proxy: TestProxy) -> None:
    graph = Graph("twice")
    graph.add_transition_chain("a", "b", END)
    proxy.handle_graph("twice", graph)

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        del flow

    @proxy.task("b")
    async def b(flow: Flow) -> None:
        del flow


def _held_back(
    monkeypatch: pytest.MonkeyPatch, name: str, written: asyncio.Event
) -> list[type[Store]]:
    """Make every store's ``name`` (a write that claims what it inserts, dispatch D13) pause
    after it committed, so that shutdown begins before the claimed step reaches a worker."""
    every: tuple[type[Store], ...] = (PostgresqlStore, MysqlStore, SqliteStore)
    stores = [cls for cls in every if name in vars(cls)]
    for cls in stores:
        original = vars(cls)[name]

        async def slow(self: Store, *args: Any, original: Any = original) -> Any:
            result = await original(self, *args)
            written.set()
            await asyncio.sleep(0.3)
            return result

        monkeypatch.setattr(cls, name, slow)
    return stores


async def test_a_successor_claimed_by_its_advance_at_shutdown_runs_on_the_next_replica(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch, engine_dialect: str
) -> None:
    written = asyncio.Event()
    stores = _held_back(monkeypatch, "advance_claiming_successor", written)
    if not any(cls.dialect == engine_dialect and cls.claims_successors for cls in stores):
        pytest.skip(f"{engine_dialect} claims no successor as it inserts it")
    proxy = TestProxy()
    two_steps(proxy)
    async with make_engine(proxy, workers=2) as first:
        key = await first.create("twice")
        await first.start(key)
        await asyncio.wait_for(written.wait(), 20)
    monkeypatch.undo()
    # Handed back at shutdown: pending, not running under the stopped replica's lease.
    assert await _last_step_status(make_engine, proxy, key) == ("b", Status.PENDING)
    async with make_engine(proxy, workers=2) as second:
        outcome = await second.await_flow(key, timeout=30)

    assert outcome.status is Status.COMPLETED


async def _last_step_status(
    make_engine: MakeEngine, proxy: TestProxy, key: str
) -> tuple[str, Status]:
    """The flow's newest step and its status, read by an engine that runs nothing."""
    async with make_engine(proxy, workers=0) as viewer:
        steps = await viewer.history(key)
    return steps[-1].task_name, steps[-1].status


async def test_an_entry_claimed_by_runs_create_at_shutdown_runs_on_the_next_replica(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch, engine_dialect: str
) -> None:
    written = asyncio.Event()
    stores = _held_back(monkeypatch, "create_flow_claiming_entry", written)
    if not any(cls.dialect == engine_dialect and cls.claims_entries for cls in stores):
        pytest.skip(f"{engine_dialect} claims no entry step as it inserts it")
    proxy = TestProxy()
    one_step(proxy)
    async with make_engine(proxy, workers=2) as first:
        running = asyncio.create_task(first.run("once"))
        await asyncio.wait_for(written.wait(), 20)
    running.cancel()
    with contextlib.suppress(BaseException):
        await running
    monkeypatch.undo()
    async with make_engine(proxy, workers=0) as viewer:
        (summary,), _ = await viewer.list_flows(Query(workflow_name="once"))
    # Run during shutdown or handed back: not left running under the stopped replica's lease.
    task, status = await _last_step_status(make_engine, proxy, summary.flow_key)
    assert (task, status in (Status.PENDING, Status.COMPLETED)) == ("t", True), status
    async with make_engine(proxy, workers=2) as second:
        outcome = await second.await_flow(summary.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
