"""Goto and fan-outs: loops inside branches, loops around whole fan-outs, shortcuts to a fan-in.

A goto inside a branch stays in the branch's lineage (docs/internals/routing.md#r6), so a branch
that loops still converges on its fan-in as one arrival, keeping its place in input order. A goto
loop that leads back to a fan-out source re-runs the whole fan-out each lap, each lap its own
cohort. A fan-out source may goto its own fan-in directly (the "nothing to fan out over" shortcut),
which converges like an empty cohort and, when nested, still counts as its outer branch's arrival.
An explicit goto END from a fan-out source ends the flow. An empty forEach fires its fan-in with the
source's own delta reduced (later-upstream behaviour).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine

_GATE_TIMEOUT = 10.0


def _graph(name: str, *tasks: str) -> Graph:
    """A graph whose tasks are dispatched to URLs equal to their names (the first is the entry)."""
    graph = Graph(name)
    for task in tasks:
        graph.add_task(task, task)
    return graph


async def test_goto_loop_in_one_branch_converges_with_the_other_branch(
    make_engine: MakeEngine,
) -> None:
    # intrathreadgotoflow: A -> {Loop, NormalC}; Loop -goto-> Loop until loops == target.
    graph = _graph("intra", "A", "Loop", "NormalC", "D")
    graph.set_fan_in("D")
    graph.add_transition("A", "Loop")
    graph.add_transition("A", "NormalC")
    graph.add_transition_goto("Loop", "Loop")
    graph.add_transition("Loop", "D")
    graph.add_transition_chain("NormalC", "D", END)
    proxy = TestProxy()
    proxy.handle_graph("intra", graph)
    runs: Counter[str] = Counter()

    async def a(flow: Flow) -> None:
        pass

    async def loop(flow: Flow) -> None:
        runs["Loop"] += 1
        loops = flow.get_int("loops") + 1
        flow.set_int("loops", loops)
        if loops < flow.get_int("target"):
            flow.goto("Loop")

    async def normal_c(flow: Flow) -> None:
        flow.set_string("stamp", "stamped")

    async def d(flow: Flow) -> None:
        runs["D"] += 1
        flow.set_string("result", f"{flow.get_string('stamp')}/{flow.get_int('loops')}")

    for name, handler in (("A", a), ("Loop", loop), ("NormalC", normal_c), ("D", d)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("intra", {"target": 3}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["result"] == "stamped/3"
    assert runs == {"Loop": 3, "D": 1}


async def test_goto_loops_inside_inner_branches_each_arrive_once(make_engine: MakeEngine) -> None:
    # A cell loops col + 1 times before converging on the inner fan-in.
    graph = _graph("loopgrid", "Seed", "Row", "Cell", "JoinRow", "JoinGrid")
    graph.set_fan_in("JoinRow")
    graph.set_fan_in("JoinGrid")
    graph.set_reducer("visits", Reducer.ADD)
    graph.set_reducer("rowLoops", Reducer.APPEND)
    graph.add_transition_for_each("Seed", "Row", "rows", "row")
    graph.add_transition_for_each("Row", "Cell", "cols", "col")
    graph.add_transition_goto("Cell", "Cell")
    graph.add_transition_chain("Cell", "JoinRow", "JoinGrid", END)
    proxy = TestProxy()
    proxy.handle_graph("loopgrid", graph)
    runs: Counter[str] = Counter()

    async def seed(flow: Flow) -> None:
        flow.set("rows", [0, 1])

    async def row(flow: Flow) -> None:
        flow.set("cols", [0, 1, 2])

    async def cell(flow: Flow) -> None:
        runs["Cell"] += 1
        loops = flow.get_int("loops") + 1
        flow.set_int("loops", loops)
        flow.set_int("visits", 1)
        if loops < flow.get_int("col") + 1:
            flow.goto("Cell")

    async def join_row(flow: Flow) -> None:
        runs["JoinRow"] += 1
        # Replace folds in branch order, so the last column's last lap wins.
        flow.set("rowLoops", [flow.get_int("loops")])

    async def join_grid(flow: Flow) -> None:
        runs["JoinGrid"] += 1

    for name, handler in (
        ("Seed", seed),
        ("Row", row),
        ("Cell", cell),
        ("JoinRow", join_row),
        ("JoinGrid", join_grid),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("loopgrid", timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["visits"] == 2 * (1 + 2 + 3)
    assert outcome.state["rowLoops"] == [3, 3]
    assert runs == {"Cell": 12, "JoinRow": 2, "JoinGrid": 1}


async def test_goto_detour_inside_a_branch_keeps_the_branch_in_input_order(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("detour", "Split", "Work", "Alt", "Post", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("results", Reducer.APPEND)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition("Work", "Post")
    graph.add_transition_goto("Work", "Alt")
    graph.add_transition("Alt", "Post")
    graph.add_transition_chain("Post", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("detour", graph)
    done: defaultdict[int, asyncio.Event] = defaultdict(asyncio.Event)

    async def split(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        # Finish back to front: branch i waits for branch i + 1.
        index, count = flow.get_int("itemIndex"), flow.get_int("itemCount")
        if index + 1 < count:
            await asyncio.wait_for(done[index + 1].wait(), _GATE_TIMEOUT)
        done[index].set()
        if index % 2:
            flow.goto("Alt")

    async def alt(flow: Flow) -> None:
        flow.set_string("via", "alt")

    async def post(flow: Flow) -> None:
        flow.set("results", [f"{flow.get_string('item')}:{flow.get_string('via') or 'direct'}"])

    async def join(flow: Flow) -> None:
        pass

    for name, handler in (
        ("Split", split),
        ("Work", work),
        ("Alt", alt),
        ("Post", post),
        ("Join", join),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("detour", {"items": ["a", "b", "c", "d"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["results"] == ["a:direct", "b:alt", "c:direct", "d:alt"]


def _round_items(round_number: int) -> list[int]:
    return [10 * round_number + k for k in range(round_number)]


async def test_goto_loop_around_a_fan_out_reruns_the_whole_fan_out_each_lap(
    make_engine: MakeEngine,
) -> None:
    # Start -> Split -forEach-> Work -> Join -> Check; Check -goto-> Split for three laps.
    graph = _graph("laps", "Start", "Split", "Work", "Join", "Check")
    graph.set_fan_in("Join")
    graph.set_reducer("sum", Reducer.ADD)
    graph.add_transition("Start", "Split")
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition_chain("Work", "Join", "Check", END)
    graph.add_transition_goto("Check", "Split")
    proxy = TestProxy()
    proxy.handle_graph("laps", graph)
    runs: Counter[str] = Counter()

    async def start(flow: Flow) -> None:
        flow.set_int("round", 1)
        flow.set("items", _round_items(1))

    async def split(flow: Flow) -> None:
        runs["Split"] += 1

    async def work(flow: Flow) -> None:
        runs["Work"] += 1
        flow.set_int("sum", flow.get_int("item"))

    async def join(flow: Flow) -> None:
        runs["Join"] += 1
        flow.set("totals", [*flow.get("totals", list), flow.get_int("sum")])
        flow.set_int("sum", 0)

    async def check(flow: Flow) -> None:
        next_round = flow.get_int("round") + 1
        if next_round <= 3:
            flow.set_int("round", next_round)
            flow.set("items", _round_items(next_round))
            flow.goto("Split")

    for name, handler in (
        ("Start", start),
        ("Split", split),
        ("Work", work),
        ("Join", join),
        ("Check", check),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("laps", timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["totals"] == [sum(_round_items(r)) for r in (1, 2, 3)]
    assert runs == {"Split": 3, "Work": 1 + 2 + 3, "Join": 3}


async def test_fan_in_may_goto_its_own_fan_out_source_for_another_lap(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("faninlaps", "Split", "Work", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("seen", Reducer.APPEND)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition_chain("Work", "Join", END)
    graph.add_transition_goto("Join", "Split")
    proxy = TestProxy()
    proxy.handle_graph("faninlaps", graph)
    joins: list[list[str]] = []

    async def split(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        flow.set("seen", [flow.get_string("item")])

    async def join(flow: Flow) -> None:
        joins.append(flow.get_strings("seen"))
        if len(joins) < 3:
            flow.set("items", [f"lap{len(joins) + 1}-{k}" for k in range(2)])
            flow.goto("Split")

    for name, handler in (("Split", split), ("Work", work), ("Join", join)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("faninlaps", {"items": ["lap1-0", "lap1-1"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    laps = [[f"lap{lap}-{k}" for k in range(2)] for lap in (1, 2, 3)]
    # The append accumulates across laps: each lap's fan-in starts from the previous lap's.
    assert joins == [laps[0], laps[0] + laps[1], laps[0] + laps[1] + laps[2]]
    assert outcome.state["seen"] == laps[0] + laps[1] + laps[2]


def _goto_fan_in_graph() -> Graph:
    graph = _graph("gotofanin", "Split", "Work", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("processed", Reducer.APPEND)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition_goto("Split", "Join")
    graph.add_transition_chain("Work", "Join", END)
    return graph


def _goto_fan_in_proxy() -> TestProxy:
    proxy = TestProxy()
    proxy.handle_graph("gotofanin", _goto_fan_in_graph())

    async def split(flow: Flow) -> None:
        if not flow.get_strings("items"):
            flow.set_string("route", "direct")
            flow.goto("Join")
            return
        flow.set_string("route", "fanout")

    async def work(flow: Flow) -> None:
        flow.set("processed", [flow.get_string("item")])

    async def join(flow: Flow) -> None:
        flow.set_bool("joined", True)

    for name, handler in (("Split", split), ("Work", work), ("Join", join)):
        proxy.handle_task(name, handler)
    return proxy


async def test_fan_out_source_may_goto_its_own_fan_in_when_there_is_nothing_to_fan_out(
    make_engine: MakeEngine,
) -> None:
    # gotofaninflow: the trunk source steers straight to its fan-in.
    async with make_engine(_goto_fan_in_proxy()) as engine:
        outcome = await engine.run("gotofanin", {"items": []}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["joined"] is True
    assert outcome.state["route"] == "direct"
    assert "processed" not in outcome.state


async def test_fan_out_source_with_a_goto_shortcut_still_fans_out_when_it_has_items(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(_goto_fan_in_proxy()) as engine:
        outcome = await engine.run("gotofanin", {"items": ["x", "y", "z"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["joined"] is True
    assert outcome.state["route"] == "fanout"
    assert outcome.state["processed"] == ["x", "y", "z"]


async def test_nested_source_that_gotos_its_inner_fan_in_still_arrives_at_the_outer_one(
    make_engine: MakeEngine,
) -> None:
    # gotofaninflow_Nested: every cell has no chunks and shortcuts to its inner fan-in.
    graph = _graph("nestedgoto", "Seed", "Cell", "Chunk", "JoinChunk", "JoinCell")
    graph.set_fan_in("JoinChunk")
    graph.set_fan_in("JoinCell")
    graph.set_reducer("cellsSeen", Reducer.UNION)
    graph.add_transition_for_each("Seed", "Cell", "cells", "cell")
    graph.add_transition_for_each("Cell", "Chunk", "chunks", "chunk")
    graph.add_transition_goto("Cell", "JoinChunk")
    graph.add_transition("Chunk", "JoinChunk")
    graph.add_transition_chain("JoinChunk", "JoinCell", END)
    proxy = TestProxy()
    proxy.handle_graph("nestedgoto", graph)
    runs: Counter[str] = Counter()

    async def nothing(flow: Flow) -> None:
        pass

    async def cell(flow: Flow) -> None:
        flow.set("chunks", [])
        flow.goto("JoinChunk")

    async def join_chunk(flow: Flow) -> None:
        runs["JoinChunk"] += 1
        flow.set("cellsSeen", [flow.get_string("cell")])

    async def join_cell(flow: Flow) -> None:
        runs["JoinCell"] += 1

    for name, handler in (
        ("Seed", nothing),
        ("Cell", cell),
        ("Chunk", nothing),
        ("JoinChunk", join_chunk),
        ("JoinCell", join_cell),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("nestedgoto", {"cells": ["a", "b", "c"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["cellsSeen"] == ["a", "b", "c"]
    assert runs == {"JoinChunk": 3, "JoinCell": 1}


async def test_goto_end_from_a_fan_out_source_ends_the_loop(make_engine: MakeEngine) -> None:
    # fanoutgotoendflow: Decide fans out over `pending` each lap, or gotos END when done.
    graph = _graph("gotoend", "Init", "Decide", "Work", "Join")
    graph.set_fan_in("Join")
    graph.add_transition("Init", "Decide")
    graph.add_transition_goto("Decide", END)
    graph.add_transition_for_each("Decide", "Work", "pending", "current")
    graph.add_transition("Work", "Join")
    graph.add_transition("Join", "Decide")
    proxy = TestProxy()
    proxy.handle_graph("gotoend", graph)

    async def init(flow: Flow) -> None:
        flow.set("pending", ["a", "b"])

    async def decide(flow: Flow) -> None:
        if flow.get_int("rounds") > 0:
            flow.goto(END)
            return
        flow.set_int("rounds", flow.get_int("rounds") + 1)

    async def nothing(flow: Flow) -> None:
        pass

    async def join(flow: Flow) -> None:
        flow.set("pending", None)

    for name, handler in (("Init", init), ("Decide", decide), ("Work", nothing), ("Join", join)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("gotoend", timeout=30)
        history = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert [step.task_name for step in sorted(history, key=lambda s: s.step_id)] == [
        "Init",
        "Decide",
        "Work",
        "Work",
        "Join",
        "Decide",
    ]


def _empty_for_each_proxy() -> TestProxy:
    graph = _graph("emptyreduce", "A", "B", "C")
    graph.set_fan_in("C")
    graph.set_reducer("sum", Reducer.ADD)
    graph.set_reducer("processed", Reducer.ADD)
    graph.add_transition_for_each("A", "B", "items", "item")
    graph.add_transition_chain("B", "C", END)
    graph.validate()
    proxy = TestProxy()
    proxy.handle_graph("emptyreduce", graph)

    async def a(flow: Flow) -> None:
        flow.set_int("sum", 5)

    async def b(flow: Flow) -> None:
        flow.set_int("processed", 1)

    async def c(flow: Flow) -> None:
        flow.set_int("sumOut", flow.get_int("sum"))
        flow.set_int("processedCount", flow.get_int("processed"))

    for name, handler in (("A", a), ("B", b), ("C", c)):
        proxy.handle_task(name, handler)
    return proxy


async def test_for_each_fan_in_reduces_the_sources_own_delta(make_engine: MakeEngine) -> None:
    # emptyforeachreducerflow, non-empty half: base 10 + the source's delta 5 at the fan-in.
    async with make_engine(_empty_for_each_proxy()) as engine:
        outcome = await engine.run("emptyreduce", {"items": ["x", "y"], "sum": 10}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["sumOut"] == 15
    assert outcome.state["processedCount"] == 2


async def test_empty_for_each_fires_its_fan_in_with_the_same_reduction(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(_empty_for_each_proxy()) as engine:
        outcome = await engine.run("emptyreduce", {"items": [], "sum": 10}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["sumOut"] == 15
    assert outcome.state["processedCount"] == 0
