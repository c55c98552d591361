"""Baggage: an opaque value set at create reaches the graph loader and every task of the flow.

Ports upstream baggageflow. Tasks read it with ``current_baggage()`` (a context variable, so it
also reaches plain-function tasks in their worker thread and asyncio tasks they spawn) and as
``flow.baggage``. It is frozen at create and JSON-normalized; without baggage both read ``None``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status, current_baggage
from tests.fixtures.engines import MakeEngine


class Capture:
    """A proxy whose loader and executor record the baggage each call saw."""

    def __init__(self) -> None:
        self.proxy = TestProxy()
        self.loaded: dict[str, Any] = {}
        self.executed: dict[str, Any] = {}
        self.in_task: dict[str, tuple[Any, Any]] = {}
        """Per task: (what current_baggage() returned inside it, flow.baggage)."""

    async def load_graph(self, name: str) -> Graph:
        self.loaded[name] = current_baggage()
        return await self.proxy.load_graph(name)

    async def execute_task(self, url: str, flow: Flow) -> None:
        self.executed[url] = current_baggage()
        await self.proxy.execute_task(url, flow)

    def engine(self, make_engine: MakeEngine) -> Any:
        """A started engine calling this capture's loader and executor."""
        return make_engine(
            self.proxy, graph_loader=self.load_graph, task_executor=self.execute_task
        )


def baggage_capture() -> Capture:
    """taskA (async) -> taskB (plain function) -> taskC (reads it in a spawned asyncio task)."""
    capture = Capture()
    proxy = capture.proxy
    graph = Graph("parent")
    graph.add_transition_chain("taskA", "taskB", "taskC", END)
    proxy.handle_graph("parent", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        capture.in_task["taskA"] = (current_baggage(), flow.baggage)

    @proxy.task("taskB")
    def task_b(flow: Flow) -> None:
        capture.in_task["taskB"] = (current_baggage(), flow.baggage)

    @proxy.task("taskC")
    async def task_c(flow: Flow) -> None:
        async def deep_inside() -> Any:
            return current_baggage()

        capture.in_task["taskC"] = (await asyncio.create_task(deep_inside()), flow.baggage)

    return capture


async def test_baggage_reaches_the_loader_and_every_task(make_engine: MakeEngine) -> None:
    capture = baggage_capture()
    baggage = {"actor": "alice", "scope": "s1", "n": 5, "roles": ["admin"]}
    async with capture.engine(make_engine) as engine:
        outcome = await engine.run("parent", options=FlowOptions(baggage=baggage), timeout=30)

    assert outcome.status is Status.COMPLETED
    assert capture.loaded == {"parent": baggage}
    assert capture.executed == {"taskA": baggage, "taskB": baggage, "taskC": baggage}
    for task in ("taskA", "taskB", "taskC"):
        assert capture.in_task[task] == (baggage, baggage), task
    assert current_baggage() is None, "baggage does not leak out of the engine's calls"


async def test_baggage_is_frozen_and_json_normalized_at_create(make_engine: MakeEngine) -> None:
    capture = baggage_capture()
    baggage: dict[str, Any] = {"tenant": "t1", "pair": ("a", 1)}
    async with capture.engine(make_engine) as engine:
        key = await engine.create("parent", options=FlowOptions(baggage=baggage))
        baggage["tenant"] = "changed after create"
        await engine.start(key)
        outcome = await engine.await_flow(key, timeout=30)

    expected = {"tenant": "t1", "pair": ["a", 1]}
    assert outcome.status is Status.COMPLETED
    assert capture.loaded["parent"] == expected, "the create-time loader sees the JSON form"
    assert capture.in_task["taskA"] == (expected, expected)


@pytest.mark.parametrize("baggage", ["just-a-string", 42, ["a", "b"]])
async def test_baggage_may_be_any_json_value(make_engine: MakeEngine, baggage: Any) -> None:
    capture = baggage_capture()
    async with capture.engine(make_engine) as engine:
        outcome = await engine.run("parent", options=FlowOptions(baggage=baggage), timeout=30)

    assert outcome.status is Status.COMPLETED
    assert capture.in_task["taskC"] == (baggage, baggage)


async def test_no_baggage_reads_as_none_everywhere(make_engine: MakeEngine) -> None:
    capture = baggage_capture()
    async with capture.engine(make_engine) as engine:
        outcome = await engine.run("parent", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert capture.loaded == {"parent": None}
    assert capture.executed == {"taskA": None, "taskB": None, "taskC": None}
    for task in ("taskA", "taskB", "taskC"):
        assert capture.in_task[task] == (None, None), task


async def test_each_flow_sees_only_its_own_baggage(make_engine: MakeEngine) -> None:
    capture = baggage_capture()
    proxy = capture.proxy
    graph = Graph("tenant")
    graph.add_transition_chain("echo", END)
    proxy.handle_graph("tenant", graph)

    @proxy.task("echo")
    async def echo(flow: Flow) -> None:
        await asyncio.sleep(0.01)  # overlap with the other flows' tasks
        flow.set("sawBaggage", current_baggage())

    async with capture.engine(make_engine) as engine:
        outcomes = await asyncio.gather(
            *(
                engine.run("tenant", options=FlowOptions(baggage={"tenant": n}), timeout=30)
                for n in range(6)
            )
        )

    assert [outcome.state["sawBaggage"] for outcome in outcomes] == [
        {"tenant": n} for n in range(6)
    ]


async def test_baggage_reaches_the_loader_and_tasks_of_a_subgraph(
    make_engine: MakeEngine,
) -> None:
    capture = baggage_capture()
    proxy = capture.proxy
    outer = Graph("outer")
    outer.add_transition_chain("runInner", END)
    proxy.handle_graph("outer", outer)
    inner = Graph("inner")
    inner.add_transition_chain("taskX", END)
    proxy.handle_graph("inner", inner)

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        flow.subgraph("inner")

    @proxy.task("taskX")
    async def task_x(flow: Flow) -> None:
        capture.in_task["taskX"] = (current_baggage(), flow.baggage)

    baggage = {"actor": "carol"}
    async with capture.engine(make_engine) as engine:
        outcome = await engine.run("outer", options=FlowOptions(baggage=baggage), timeout=30)

    assert outcome.status is Status.COMPLETED
    assert capture.loaded["inner"] == baggage
    assert capture.in_task["taskX"] == (baggage, baggage)


async def test_a_continued_thread_inherits_the_baggage(make_engine: MakeEngine) -> None:
    capture = baggage_capture()
    baggage = {"actor": "bob", "scope": "s2"}
    async with capture.engine(make_engine) as engine:
        first = await engine.run("parent", options=FlowOptions(baggage=baggage), timeout=30)
        capture.in_task.clear()
        key = await engine.continue_thread(first.flow_key)
        await engine.start(key)
        outcome = await engine.await_flow(key, timeout=30)

    assert outcome.status is Status.COMPLETED
    for task in ("taskA", "taskB", "taskC"):
        assert capture.in_task[task] == (baggage, baggage), task
