"""continue_thread starts a new turn of a thread from its latest completed turn's final state."""

from __future__ import annotations

import asyncio
from typing import Any

from dwarf.engine import Engine, TestProxy
from dwarf.errors import DwarfError
from dwarf.workflow import END, Flow, FlowOptions, Graph, Query, Reducer, Status
from tests.engine.rewind_support import Runs, expect_error, subgraph_proxy
from tests.fixtures.engines import MakeEngine


def _counting_proxy(seen: list[Any], gate: asyncio.Event | None = None) -> TestProxy:
    """Workflow ``count``: one task that increments ``counter`` and appends to ``log``."""
    proxy = TestProxy()
    graph = Graph("count")
    graph.add_task("increment", "increment")
    graph.add_transition("increment", END)
    graph.set_reducer("log", Reducer.APPEND)
    proxy.handle_graph("count", graph)

    @proxy.task("increment")
    async def increment(flow: Flow) -> None:
        seen.append(flow.baggage)
        if gate is not None:
            await gate.wait()
        flow.set_int("counter", flow.get_int("counter") + 1)
        flow.set("log", [flow.get_int("counter")])

    return proxy


async def _turn(engine: Engine, thread_key: str, extra: dict[str, Any] | None = None) -> Any:
    key = await engine.continue_thread(thread_key, extra)
    assert (await engine.snapshot(key)).status is Status.CREATED
    await engine.start(key)
    return await engine.await_flow(key, timeout=30)


async def test_continue_carries_the_final_state_into_a_created_turn(
    make_engine: MakeEngine,
) -> None:
    seen: list[Any] = []
    async with make_engine(_counting_proxy(seen)) as engine:
        first = await engine.run("count", {"counter": 0}, timeout=30)
        assert first.state["counter"] == 1
        second = await _turn(engine, first.flow_key)
        # Any flow key of the thread names the thread: continue from the second turn's key.
        third = await _turn(engine, second.flow_key, {"note": "hi", "log": [10]})

    assert second.state["counter"] == 2
    assert second.flow_key != first.flow_key
    assert third.state["counter"] == 3
    assert third.state["note"] == "hi"
    # The graph's reducers fold additional_state into the final state (append), then the task.
    assert third.state["log"] == [1, 2, 10, 3]


async def test_continue_inherits_baggage_and_scheduling_unless_overridden(
    make_engine: MakeEngine,
) -> None:
    seen: list[Any] = []
    options = FlowOptions(priority=7, fairness_key="tenant", baggage={"who": "ada"})
    async with make_engine(_counting_proxy(seen)) as engine:
        first = await engine.run("count", {}, options, timeout=30)
        inherited = await engine.continue_thread(first.flow_key)
        await engine.start(inherited)
        await engine.await_flow(inherited, timeout=30)
        overridden = await engine.continue_thread(
            inherited, None, FlowOptions(priority=3, baggage={"who": "bob"})
        )
        await engine.start(overridden)
        await engine.await_flow(overridden, timeout=30)
        flows, _ = await engine.list_flows(Query(thread_key=first.flow_key))

    assert seen == [{"who": "ada"}, {"who": "ada"}, {"who": "bob"}]
    by_key = {summary.flow_key: summary for summary in flows}
    assert (by_key[inherited].priority, by_key[inherited].fairness_key) == (7, "tenant")
    assert (by_key[overridden].priority, by_key[overridden].fairness_key) == (3, "tenant")


async def test_continue_needs_the_latest_turn_completed(make_engine: MakeEngine) -> None:
    seen: list[Any] = []
    async with make_engine(_counting_proxy(seen)) as engine:
        first = await engine.run("count", {}, timeout=30)
        pending_turn = await engine.continue_thread(first.flow_key)
        # The thread's latest flow is now the created turn: the first is no longer its tip.
        await expect_error(409, engine.continue_thread(first.flow_key), match="created")
        await engine.cancel(pending_turn)
        await expect_error(409, engine.continue_thread(first.flow_key), match="cancelled")


async def test_continue_rejects_unknown_and_malformed_thread_keys(make_engine: MakeEngine) -> None:
    seen: list[Any] = []
    async with make_engine(_counting_proxy(seen)) as engine:
        first = await engine.run("count", {}, timeout=30)
        shard, flow_id, _ = first.flow_key.split("-")
        await expect_error(404, engine.continue_thread(f"{shard}-{flow_id}-0000000000000000"))
        await expect_error(400, engine.continue_thread("garbage"))
        await expect_error(400, engine.continue_thread(first.flow_key, "x"))  # type: ignore[arg-type]


async def test_concurrent_continues_on_one_thread_let_exactly_one_win(
    make_engine: MakeEngine,
) -> None:
    seen: list[Any] = []
    async with make_engine(_counting_proxy(seen)) as engine:
        first = await engine.run("count", {"counter": 0}, timeout=30)
        results = await asyncio.gather(
            *(engine.continue_thread(first.flow_key) for _ in range(6)), return_exceptions=True
        )
        winners = [r for r in results if isinstance(r, str)]
        losers = [r for r in results if not isinstance(r, str)]
        assert len(winners) == 1
        assert all(isinstance(r, DwarfError) and r.status_code == 409 for r in losers), losers
        await engine.start(winners[0])
        outcome = await engine.await_flow(winners[0], timeout=30)
        flows, _ = await engine.list_flows(Query(thread_key=first.flow_key))

    assert outcome.state["counter"] == 2
    assert {summary.flow_key for summary in flows} == {first.flow_key, winners[0]}


async def test_continue_refuses_a_subgraph_flow_key(make_engine: MakeEngine) -> None:
    runs = Runs()
    async with make_engine(subgraph_proxy(runs)) as engine:
        await engine.run("parent", {"seed": "s", "fix": True}, timeout=30)
        await expect_error(400, engine.continue_thread(runs.keys["child"][0]), match="subgraph")
