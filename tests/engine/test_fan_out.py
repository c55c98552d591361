"""Fan-out and fan-in: parallel branches whose outputs are folded at the fan-in by the reducers.

Ports upstream fanoutflow, dynamicfanoutflow (forEach over 3, 1 and 0 elements; an empty array
fires the fan-in, the later-upstream behaviour), reducerflow, reducervariantsflow,
failedfanoutflow, fanouterrorflow, onerrorsiblingsflow and retryfanoutflow (100 branches retried
at random still fold in input order). Single-level cohorts only: nested cohorts, interrupted
branches and errors inside nested branches have their own modules (test_fan_out_nested.py,
test_interrupt_in_branches.py, test_fan_out_errors.py).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine


def diamond(name: str, source: str, branches: list[str], join: str) -> Graph:
    """source -> each branch -> join (fan-in) -> END."""
    graph = Graph(name)
    graph.add_task(source, source)
    for branch in branches:
        graph.add_task(branch, branch)
    graph.add_task(join, join)
    graph.set_fan_in(join)
    for branch in branches:
        graph.add_transition(source, branch)
        graph.add_transition(branch, join)
    graph.add_transition(join, END)
    return graph


async def test_static_fan_out_runs_every_branch_and_joins_once(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    proxy.handle_graph("fan-out", diamond("fan-out", "taskA", ["taskB", "taskC", "taskD"], "taskE"))
    joins: list[dict[str, Any]] = []

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        flow.set_bool("markA", True)

    for name, mark in (("taskB", "markB"), ("taskC", "markC"), ("taskD", "markD")):

        async def branch(flow: Flow, mark: str = mark) -> None:
            flow.set_bool(mark, flow.get_bool("markA"))

        proxy.handle_task(name, branch)

    @proxy.task("taskE")
    async def task_e(flow: Flow) -> None:
        joins.append(flow.snapshot())
        flow.set_bool(
            "allMarked",
            flow.get_bool("markB") and flow.get_bool("markC") and flow.get_bool("markD"),
        )

    async with make_engine(proxy) as engine:
        outcome = await engine.run("fan-out", {"input": 1}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["allMarked"] is True
    assert joins == [{"input": 1, "markA": True, "markB": True, "markC": True, "markD": True}]


def for_each_proxy(calls: list[dict[str, Any]]) -> TestProxy:
    """taskA -(forEach items as item)-> taskB -> taskC (fan-in) -> END, with reducers."""
    proxy = TestProxy()
    graph = Graph("dynamic")
    graph.add_task("taskA", "taskA")
    graph.add_task("taskB", "taskB")
    graph.add_task("taskC", "taskC")
    graph.set_fan_in("taskC")
    graph.set_reducer("processed", Reducer.ADD)
    graph.set_reducer("seenIndices", Reducer.APPEND)
    graph.set_reducer("seenCounts", Reducer.UNION)
    graph.add_transition_for_each("taskA", "taskB", "items", "item")
    graph.add_transition("taskB", "taskC")
    graph.add_transition("taskC", END)
    proxy.handle_graph("dynamic", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        pass

    @proxy.task("taskB")
    async def task_b(flow: Flow) -> None:
        calls.append(
            {k: flow.snapshot().get(k) for k in ("item", "itemIndex", "itemCount", "items")}
        )
        flow.set_int("processed", 1)
        flow.set("seenIndices", [flow.get_int("itemIndex")])
        flow.set("seenCounts", [flow.get_int("itemCount")])
        flow.set("seenItems", [flow.get_string("item")])

    @proxy.task("taskC")
    async def task_c(flow: Flow) -> None:
        flow.set_int("processedCount", flow.get_int("processed"))
        flow.set_bool("sawItem", flow.has("item") or flow.has("itemIndex") or flow.has("itemCount"))

    return proxy


@pytest.mark.parametrize("items", [["x", "y", "z"], ["only"]], ids=["three", "one"])
async def test_for_each_runs_one_branch_per_element_and_folds_them_in_input_order(
    make_engine: MakeEngine, items: list[str]
) -> None:
    calls: list[dict[str, Any]] = []
    async with make_engine(for_each_proxy(calls)) as engine:
        outcome = await engine.run("dynamic", {"items": items}, timeout=30)

    count = len(items)
    assert outcome.status is Status.COMPLETED
    assert outcome.state["processedCount"] == count
    assert outcome.state["seenIndices"] == list(range(count))
    assert outcome.state["seenCounts"] == [count]
    assert sorted(calls, key=lambda c: c["itemIndex"]) == [
        {"item": item, "itemIndex": index, "itemCount": count, "items": items}
        for index, item in enumerate(items)
    ]
    assert outcome.state["sawItem"] is False, "per-element bindings do not reach the fan-in"


async def test_for_each_over_an_empty_array_fires_the_fan_in_directly(
    make_engine: MakeEngine,
) -> None:
    calls: list[dict[str, Any]] = []
    async with make_engine(for_each_proxy(calls)) as engine:
        outcome = await engine.run("dynamic", {"items": []}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert calls == []
    assert outcome.state["processedCount"] == 0, "the fan-in ran once, with nothing folded"


async def test_for_each_over_a_field_that_is_not_an_array_fails_the_flow(
    make_engine: MakeEngine,
) -> None:
    calls: list[dict[str, Any]] = []
    async with make_engine(for_each_proxy(calls)) as engine:
        outcome = await engine.run("dynamic", {"items": "x,y"}, timeout=30)

    assert outcome.status is Status.FAILED
    assert "items" in outcome.error
    assert calls == []


def reducer_proxy() -> TestProxy:
    proxy = TestProxy()
    graph = diamond("reducer", "taskA", ["taskB", "taskC", "taskD"], "taskE")
    graph.set_reducer("total", Reducer.ADD)
    graph.set_reducer("tags", Reducer.APPEND)
    graph.set_reducer("seen", Reducer.UNION)
    proxy.handle_graph("reducer", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        pass

    contributions = {
        "taskB": (10, ["b"], ["x"], 0.03),
        "taskC": (20, ["c"], ["y", "x"], 0.0),
        "taskD": (30, ["d"], ["z"], 0.015),
    }
    for name, (total, tags, seen, delay) in contributions.items():

        async def branch(
            flow: Flow,
            total: int = total,
            tags: list[str] = tags,
            seen: list[str] = seen,
            delay: float = delay,
        ) -> None:
            await asyncio.sleep(delay)  # finish out of declaration order
            flow.set_int("total", total)
            flow.set_strings("tags", tags)
            flow.set_strings("seen", seen)

        proxy.handle_task(name, branch)

    @proxy.task("taskE")
    async def task_e(flow: Flow) -> None:
        flow.set_int("finalSum", flow.get_int("total"))
        flow.set_strings("finalList", flow.get_strings("tags"))
        flow.set_strings("finalSet", flow.get_strings("seen"))

    return proxy


async def test_sum_list_and_set_reducers_fold_branches_in_declaration_order(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(reducer_proxy()) as engine:
        outcome = await engine.run("reducer", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["finalSum"] == 60
    assert outcome.state["finalList"] == ["b", "c", "d"]
    assert outcome.state["finalSet"] == ["x", "y", "z"]


async def test_min_max_and_or_concat_merge_reducers_apply_at_the_fan_in(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = diamond("variants", "taskA", ["taskB", "taskC", "taskD"], "join")
    for field, reducer in (
        ("lo", Reducer.MIN),
        ("hi", Reducer.MAX),
        ("allOk", Reducer.AND),
        ("anyOk", Reducer.OR),
        ("word", Reducer.CONCAT),
        ("obj", Reducer.MERGE),
    ):
        graph.set_reducer(field, reducer)
    proxy.handle_graph("variants", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        pass

    writes: dict[str, dict[str, Any]] = {
        "taskB": {"lo": 5, "hi": 5, "allOk": True, "anyOk": False, "word": "a", "obj": {"k1": 1}},
        "taskC": {"lo": 2, "hi": 8, "allOk": True, "anyOk": False, "word": "b", "obj": {"k2": 2}},
        "taskD": {"lo": 9, "hi": 3, "allOk": False, "anyOk": True, "word": "c", "obj": {"k1": 9}},
    }
    for name, values in writes.items():

        async def branch(flow: Flow, values: dict[str, Any] = values) -> None:
            for key, value in values.items():
                flow.set(key, value)

        proxy.handle_task(name, branch)

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        flow.set("result", {k: flow.get(k, Any) for k in ("lo", "hi", "allOk", "anyOk", "word")})
        flow.set("mergedObj", flow.get("obj", dict))

    async with make_engine(proxy) as engine:
        outcome = await engine.run("variants", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"] == {
        "lo": 2,
        "hi": 8,
        "allOk": False,
        "anyOk": True,
        "word": "abc",
    }
    assert outcome.state["mergedObj"] == {"k1": 9, "k2": 2}


def failing_branch_proxy(ran: list[str], *, handled: bool) -> TestProxy:
    """taskA -> {taskB (fails), taskC, taskD} -> taskE, optionally taskB -(onError)-> handler."""
    proxy = TestProxy()
    graph = diamond("fan-out-error", "taskA", ["taskB", "taskC", "taskD"], "taskE")
    graph.set_reducer("executed", Reducer.ADD)
    if handled:
        graph.add_task("handler", "handler")
        graph.add_transition_on_error("taskB", "handler")
        graph.add_transition("handler", "taskE")
    proxy.handle_graph("fan-out-error", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        ran.append("taskA")

    @proxy.task("taskB")
    async def task_b(flow: Flow) -> None:
        ran.append("taskB")
        flow.set_bool("markB", True)
        raise RuntimeError("triggered failure in TaskB")

    for name in ("taskC", "taskD"):

        async def sibling(flow: Flow, name: str = name) -> None:
            await asyncio.sleep(0.05)  # still running when taskB fails
            ran.append(name)
            flow.set_bool(f"mark{name[-1]}", True)
            flow.set_int("executed", 1)

        proxy.handle_task(name, sibling)

    @proxy.task("handler")
    async def handler(flow: Flow) -> None:
        ran.append("handler")
        flow.set_bool("handled", True)
        flow.set_string("handledError", flow.get("onErr", dict)["error"])

    @proxy.task("taskE")
    async def task_e(flow: Flow) -> None:
        ran.append("taskE")
        flow.set_bool("recovered", flow.get_bool("handled") and not flow.get_bool("markB"))
        flow.set_bool("siblingsRan", flow.get_bool("markC") and flow.get_bool("markD"))

    return proxy


async def test_an_unhandled_branch_failure_fails_the_flow_after_its_siblings_finish(
    make_engine: MakeEngine,
) -> None:
    ran: list[str] = []
    async with make_engine(failing_branch_proxy(ran, handled=False)) as engine:
        outcome = await engine.run("fan-out-error", timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.error == "triggered failure in TaskB"
    assert sorted(ran) == ["taskA", "taskB", "taskC", "taskD"], "siblings keep running"
    assert "taskE" not in ran


async def test_a_handled_branch_error_joins_the_fan_in_with_its_siblings(
    make_engine: MakeEngine,
) -> None:
    ran: list[str] = []
    async with make_engine(failing_branch_proxy(ran, handled=True)) as engine:
        outcome = await engine.run("fan-out-error", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["recovered"] is True
    assert outcome.state["siblingsRan"] is True
    assert outcome.state["handledError"] == "triggered failure in TaskB"
    assert outcome.state["executed"] == 2
    assert ran.count("taskE") == 1


async def test_for_each_with_random_retries_still_folds_in_input_order(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("retry-fan-out")
    graph.add_task("enter", "enter")
    graph.add_task("increment", "increment")
    graph.add_task("join", "join")
    graph.set_fan_in("join")
    graph.set_reducer("results", Reducer.APPEND)
    graph.add_transition_for_each("enter", "increment", "elements", "element")
    graph.add_transition("increment", "join")
    graph.add_transition("join", END)
    proxy.handle_graph("retry-fan-out", graph)
    rng = random.Random(20240601)
    retried: list[int] = []

    @proxy.task("enter")
    async def enter(flow: Flow) -> None:
        pass

    @proxy.task("increment")
    async def increment(flow: Flow) -> None:
        if rng.random() < 0.10:
            retried.append(flow.get_int("element"))
            assert flow.retry(1_000_000, 0, 0, 0)
            return
        flow.set("results", [flow.get_int("element") + 1])

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        pass

    async with make_engine(proxy) as engine:
        outcome = await engine.run("retry-fan-out", {"elements": list(range(100))}, timeout=60)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["results"] == list(range(1, 101))
    assert retried, "some branches were retried (the seeded draw guarantees it)"
