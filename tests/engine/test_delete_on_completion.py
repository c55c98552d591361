"""delete_on_completion: a completed flow is deleted once its outcome is out (operations.md#o10).

The outcome stays readable (await_flow, snapshot, the stop callback) for the grace period; then
the reaper of a dispatching replica deletes the flow's tree and every call answers 404. Failed
flows, and flows created without the option, are kept. The grace and the pass interval are
shortened here; the tests wait for a condition, never for a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.engine._operations import _reaper
from dwarf.errors import NotFoundError
from dwarf.workflow import END, Flow, FlowOptions, FlowOutcome, Graph, Status
from tests.fixtures.engines import MakeEngine

DISPOSABLE = FlowOptions(delete_on_completion=True)


def proxy() -> TestProxy:
    p = TestProxy()
    child = Graph("child")
    child.add_transition("leaf", END)
    p.handle_graph("child", child)
    parent = Graph("parent")
    parent.add_transition_chain("call", "work", END)
    p.handle_graph("parent", parent)

    @p.task("leaf")
    async def leaf(flow: Flow) -> None:
        flow.set("leaf", True)

    @p.task("call")
    async def call(flow: Flow) -> None:
        result = flow.subgraph("child", {})
        flow.set("child", result)

    @p.task("work")
    async def work(flow: Flow) -> None:
        if flow.has("fail"):
            raise RuntimeError("failed on purpose")
        flow.set("done", True)

    return p


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Reaper passes every 50 ms; each one's deleted count is recorded."""
    monkeypatch.setattr(_reaper, "REAP_EVERY", timedelta(milliseconds=50))
    seen: list[int] = []
    real = _reaper.Reaper.reap

    async def counted(self: _reaper.Reaper, shard: object) -> int:
        deleted = await real(self, shard)  # type: ignore[arg-type]
        seen.append(deleted)
        return deleted

    monkeypatch.setattr(_reaper.Reaper, "reap", counted)
    return seen


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds; fail after 30 s (a hang guard, no timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("gave up waiting")
        await asyncio.sleep(0.02)


async def gone(engine: Engine, key: str) -> bool:
    try:
        await engine.snapshot(key)
    except NotFoundError:
        return True
    return False


async def test_a_completed_flow_is_deleted_after_its_outcome_was_delivered(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch, passes: list[int]
) -> None:
    monkeypatch.setattr(_reaper, "REAP_GRACE", timedelta(milliseconds=300))
    stops: list[FlowOutcome] = []

    async def stopped(hostname: str, outcome: FlowOutcome) -> None:
        stops.append(outcome)

    async with make_engine(proxy(), flow_stopped_callback=stopped) as engine:
        before = (await engine.shard_info())[0]
        key = await engine.create("parent", {}, DISPOSABLE)
        await engine.start_notify(key, "host")
        outcome = await engine.await_flow(key, timeout=30)
        assert outcome.status is Status.COMPLETED
        assert outcome.state["done"] is True
        assert outcome.state["child"] == {"leaf": True}
        await eventually(lambda: gone(engine, key))
        with pytest.raises(NotFoundError):
            await engine.await_flow(key, timeout=1)
        with pytest.raises(NotFoundError):
            await engine.history(key)
        after = (await engine.shard_info())[0]
    assert [(s.flow_key, s.status) for s in stops] == [(key, Status.COMPLETED)]
    # The subgraph child and every step went with the root.
    assert (after.flows, after.steps) == (before.flows, before.steps)
    assert sum(passes) == 1


async def test_failed_flows_and_flows_without_the_option_are_kept(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch, passes: list[int]
) -> None:
    monkeypatch.setattr(_reaper, "REAP_GRACE", timedelta(0))
    async with make_engine(proxy()) as engine:
        failed = await engine.run("parent", {"fail": True}, DISPOSABLE, timeout=30)
        kept = await engine.run("parent", {}, timeout=30)
        disposable = await engine.run("parent", {}, DISPOSABLE, timeout=30)
        assert (failed.status, kept.status) == (Status.FAILED, Status.COMPLETED)
        await eventually(lambda: gone(engine, disposable.flow_key))
        del passes[:]
        await eventually(lambda: asyncio.sleep(0, len(passes) >= 3))
        assert (await engine.snapshot(failed.flow_key)).status is Status.FAILED
        assert (await engine.snapshot(kept.flow_key)).state["done"] is True


async def test_the_outcome_stays_readable_through_the_grace(
    make_engine: MakeEngine, passes: list[int]
) -> None:
    async with make_engine(proxy()) as engine:
        outcome = await engine.run("parent", {}, DISPOSABLE, timeout=30)
        await eventually(lambda: asyncio.sleep(0, len(passes) >= 3))
        assert await engine.snapshot(outcome.flow_key) == outcome
    assert sum(passes) == 0


@pytest.mark.sqlite_only
async def test_only_dispatching_replicas_reap(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real = _reaper.Reaper.start

    def start(self: _reaper.Reaper) -> None:
        started.append(1)
        real(self)

    monkeypatch.setattr(_reaper.Reaper, "start", start)
    async with make_engine(proxy(), workers=0):
        assert started == []
        async with make_engine(proxy()):
            assert started == [1]
