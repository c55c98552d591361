"""A fan-in reads its cohort a page at a time (docs/internals/fan-in.md#f14): the same merge,
the same DAG and the same depth as reading it whole.

The page size is forced down to 2 members so a cohort of a handful of branches crosses many
page boundaries: multi-step branches whose rows interleave in step id order, a nested cohort
whose deltas must be inlined in the middle of a page, and exits linked page by page.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from dwarf.engine import TestProxy
from dwarf.engine._step import _fan_in
from dwarf.workflow import END, Flow, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine

ITEMS = 7


@pytest.fixture(autouse=True)
def tiny_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two members per page: every boundary case shows up with a few branches."""
    monkeypatch.setattr(_fan_in, "PAGE", 2)


def paged_proxy() -> TestProxy:
    """Split -forEach(items)-> First -> Second -> Join (fan-in) -> END, where the branch of item
    3 goes through an inner forEach (Inner -forEach(subs)-> Leaf -> InnerJoin) on its way."""
    graph = Graph("paged")
    for task in ("Split", "First", "Second", "Inner", "Leaf", "InnerJoin", "Join"):
        graph.add_task(task, task)
    graph.add_transition_for_each("Split", "First", "items", "item")
    graph.add_transition_switch("First", "Inner", "item == 3")
    graph.add_transition_switch("First", "Second", "true")
    graph.add_transition_for_each("Inner", "Leaf", "subs", "sub")
    graph.add_transition("Leaf", "InnerJoin")
    graph.add_transition("InnerJoin", "Second")
    graph.add_transition("Second", "Join")
    graph.add_transition("Join", END)
    graph.set_fan_in("InnerJoin")
    graph.set_fan_in("Join")
    graph.set_reducer("total", Reducer.ADD)
    graph.set_reducer("seen", Reducer.APPEND)
    graph.validate()

    proxy = TestProxy()
    proxy.handle_graph("paged", graph)

    async def split(flow: Flow) -> None:
        flow.set("items", list(range(ITEMS)))

    async def first(flow: Flow) -> None:
        # Finish in a random order: the fold must still follow branch order.
        await asyncio.sleep(random.uniform(0, 0.02))
        flow.set("seen", [f"first{flow.get_int('item')}"])

    async def inner(flow: Flow) -> None:
        flow.set("subs", ["a", "b", "c"])

    async def leaf(flow: Flow) -> None:
        await asyncio.sleep(random.uniform(0, 0.02))
        flow.set("seen", [f"leaf{flow.get_string('sub')}"])
        flow.set_int("total", 100)

    async def second(flow: Flow) -> None:
        item = flow.get_int("item")
        flow.set("seen", [f"second{item}"])
        flow.set_int("total", item)

    async def nothing(flow: Flow) -> None:
        del flow

    proxy.handle_task("Split", split)
    proxy.handle_task("First", first)
    proxy.handle_task("Inner", inner)
    proxy.handle_task("Leaf", leaf)
    proxy.handle_task("InnerJoin", nothing)
    proxy.handle_task("Second", second)
    proxy.handle_task("Join", nothing)
    return proxy


async def test_a_fan_in_read_in_pages_folds_every_branch_in_input_order(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(paged_proxy()) as engine:
        outcome = await engine.run("paged", timeout=60)
        history = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED, outcome.error
    expected: list[str] = []
    for item in range(ITEMS):
        expected.append(f"first{item}")
        if item == 3:
            expected += ["leafa", "leafb", "leafc"]
        expected.append(f"second{item}")
    assert outcome.state["seen"] == expected
    assert outcome.state["total"] == sum(range(ITEMS)) + 300
    # The forEach bindings of the outer cohort left the state at its fan-in.
    assert "item" not in outcome.state
    assert "itemIndex" not in outcome.state

    joins = [step for step in history if step.task_name == "Join"]
    assert len(joins) == 1
    join = joins[0]
    # Every branch's exit (each Second step) points at the one fan-in step, linked page by page.
    seconds = [step for step in history if step.task_name == "Second"]
    assert len(seconds) == ITEMS
    assert {step.successor_id for step in seconds} == {join.step_id}
    # The fan-in sits one level below the deepest member of its cohort (the nested branch:
    # Split 1, First 2, Inner 3, Leaf 4, InnerJoin 5, Second 6).
    assert join.step_depth == 7


async def test_a_wide_for_each_read_in_pages_sums_and_appends_in_order(
    make_engine: MakeEngine,
) -> None:
    width = 41  # an odd number of pages of 2, with a last page of 1
    graph = Graph("wide")
    for task in ("Split", "Work", "Join"):
        graph.add_task(task, task)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition("Work", "Join")
    graph.add_transition("Join", END)
    graph.set_fan_in("Join")
    graph.set_reducer("total", Reducer.ADD)
    graph.set_reducer("seen", Reducer.APPEND)
    proxy = TestProxy()
    proxy.handle_graph("wide", graph)

    async def split(flow: Flow) -> None:
        flow.set("items", list(range(width)))

    async def work(flow: Flow) -> None:
        item = flow.get_int("item")
        flow.set_int("total", item)
        flow.set("seen", [item])

    async def join(flow: Flow) -> None:
        del flow

    proxy.handle_task("Split", split)
    proxy.handle_task("Work", work)
    proxy.handle_task("Join", join)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("wide", timeout=60)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["total"] == width * (width - 1) // 2
    assert outcome.state["seen"] == list(range(width))
