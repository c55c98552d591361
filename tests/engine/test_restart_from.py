"""RestartFrom re-runs a flow from one stopped step; what that step caused is discarded.

Fan-out cohorts are recounted by surviving branches, so a fan-in fires exactly once after the
re-run branch arrives, also for multi-step branches and nested fan-outs.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from dwarf.engine import TestProxy
from dwarf.engine._operations._rewind_dag import lineage_chain, sweep
from dwarf.engine._step._cohort import Node, count_branches
from dwarf.workflow import END, Flow, Graph, Status
from tests.engine.rewind_support import (
    Runs,
    expect_error,
    fan_out_proxy,
    linear_proxy,
    subgraph_proxy,
)
from tests.fixtures.engines import MakeEngine


async def test_restart_from_a_failed_step_reruns_only_that_step(make_engine: MakeEngine) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs, fail_unless="ok")) as engine:
        failed = await engine.run("abc", {"seed": "s"}, timeout=30)
        assert failed.status is Status.FAILED
        await engine.restart_from(runs.key("c"), {"ok": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.error == ""
    assert outcome.state["bSaw"] == "s"
    assert outcome.state["done"] is True
    assert runs.count == {"a": 1, "b": 1, "c": 2}


async def test_restart_from_a_middle_step_reruns_it_and_everything_after(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        first = await engine.run("abc", {"seed": "orig"}, timeout=30)
        await engine.restart_from(runs.key("b"), {"seed": "new"})
        outcome = await engine.await_flow(first.flow_key, timeout=30)
        # The re-run keeps its step key: the swept successor got a new one.
        assert runs.keys["b"][0] == runs.keys["b"][1]
        assert runs.keys["c"][0] != runs.keys["c"][1]

    assert outcome.status is Status.COMPLETED
    assert outcome.state["bSaw"] == "new"
    assert runs.count == {"a": 1, "b": 2, "c": 2}


async def test_restart_from_a_failed_branch_completes_the_fan_out(make_engine: MakeEngine) -> None:
    runs = Runs()
    async with make_engine(fan_out_proxy(runs, failing=frozenset({1}))) as engine:
        failed = await engine.run("fan", {}, timeout=30)
        assert failed.status is Status.FAILED
        await engine.restart_from(runs.key("cell1"), {"fix": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["joined"] == [0, 1, 2]
    assert [runs.count[f"cell{i}"] for i in range(3)] == [1, 2, 1]
    assert runs.count["seed"] == 1
    assert runs.count["join"] == 1


async def test_restart_from_the_second_step_of_a_branch_counts_branches_not_steps(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(fan_out_proxy(runs, failing=frozenset({1}), enrich=True)) as engine:
        failed = await engine.run("fan", {}, timeout=30)
        assert failed.status is Status.FAILED
        await engine.restart_from(runs.key("enrich1"), {"fix": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["joined"] == [0, 1, 2]
    assert [runs.count[f"cell{i}"] for i in range(3)] == [1, 1, 1]
    assert [runs.count[f"enrich{i}"] for i in range(3)] == [1, 2, 1]
    assert runs.count["join"] == 1


async def test_one_of_two_failed_branches_restarted_fails_the_flow_again(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(fan_out_proxy(runs, failing=frozenset({0, 2}))) as engine:
        failed = await engine.run("fan", {}, timeout=30)
        await engine.restart_from(runs.key("cell0"), {"fix": True})
        again = await engine.await_flow(failed.flow_key, timeout=30)
        assert again.status is Status.FAILED
        assert "cell 2 broken" in again.error

        await engine.restart_from(runs.key("cell2"), {"fix": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["joined"] == [0, 1, 2]
    assert runs.count["join"] == 1


async def test_restart_from_a_completed_branch_fires_the_fan_in_again(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(fan_out_proxy(runs, failing=frozenset())) as engine:
        first = await engine.run("fan", {}, timeout=30)
        assert first.status is Status.COMPLETED
        await engine.restart_from(runs.key("cell0"))
        outcome = await engine.await_flow(first.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["joined"] == [0, 1, 2]
    assert [runs.count[f"cell{i}"] for i in range(3)] == [2, 1, 1]
    assert runs.count["join"] == 2


async def test_restart_from_a_failed_cell_of_a_nested_fan_out_reruns_only_that_cell(
    make_engine: MakeEngine,
) -> None:
    # nestedfailfanoutflow: a -forEach-> o -forEach-> i -> joinI -> joinO, cell (1, 1) fails.
    proxy = TestProxy()
    graph = Graph("nested")
    graph.add_task("a", "a")
    graph.add_transition_for_each("a", "o", "outers", "outerItem")
    graph.add_transition_for_each("o", "i", "inners", "innerItem")
    graph.add_transition_chain("i", "joinI", "joinO", END)
    graph.set_fan_in("joinI")
    graph.set_fan_in("joinO")
    proxy.handle_graph("nested", graph)
    runs: Counter[str] = Counter()
    failed_cell: list[str] = []

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        flow.set("outers", [0, 1, 2])

    @proxy.task("o")
    async def o(flow: Flow) -> None:
        flow.set("inners", [0, 1, 2])
        flow.set_int("currentOuter", flow.get_int("outerItem"))

    @proxy.task("i")
    async def i(flow: Flow) -> None:
        runs["i"] += 1
        cell = (flow.get_int("currentOuter"), flow.get_int("innerItem"))
        if cell == (1, 1) and not flow.get_bool("fix"):
            failed_cell.append(flow.step_key)
            raise RuntimeError("cell (1, 1) failed")
        flow.set_bool("cellDone", True)

    @proxy.task("joinI")
    async def join_i(flow: Flow) -> None:
        runs["joinI"] += 1

    @proxy.task("joinO")
    async def join_o(flow: Flow) -> None:
        runs["joinO"] += 1
        flow.set_bool("all", True)

    async with make_engine(proxy) as engine:
        failed = await engine.run("nested", {}, timeout=30)
        assert failed.status is Status.FAILED
        assert runs == {"i": 9, "joinI": 2}
        await engine.restart_from(failed_cell[0], {"fix": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["all"] is True
    assert runs == {"i": 10, "joinI": 3, "joinO": 1}


async def test_restart_from_rejects_live_steps_cancelled_flows_and_bad_keys(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    gate = asyncio.Event()
    async with make_engine(linear_proxy(runs, gate=gate)) as engine:
        running = await engine.create("abc", {})
        await engine.start(running)
        try:
            await runs.wait_for("c")
            await expect_error(409, engine.restart_from(runs.key("c")), match="running")
            await engine.cancel(running, "stop")
        finally:
            gate.set()
        await expect_error(409, engine.restart_from(runs.key("b")), match="cancelled")

        shard, step_id, _ = runs.key("b").split("-")
        await expect_error(404, engine.restart_from(f"{shard}-{step_id}-0000000000000000"))
        await expect_error(400, engine.restart_from("1-x-y"))
        await expect_error(400, engine.restart_from(runs.key("a"), 5))  # type: ignore[arg-type]


async def test_restart_from_a_step_inside_a_subgraph_revives_its_callers(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(subgraph_proxy(runs)) as engine:
        failed = await engine.run("parent", {"seed": "s"}, timeout=30)
        assert failed.status is Status.FAILED
        child = runs.keys["child"][0]
        await engine.restart_from(runs.key("y"), {"fix": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)
        child_outcome = await engine.snapshot(child)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["sub"] == "Y(s)"
    assert child_outcome.status is Status.COMPLETED
    # Only y re-ran in the child; the re-armed caller took the child's new outcome, then c ran.
    assert runs.count == {"a": 1, "runsub": 3, "x": 1, "y": 2, "c": 1}


async def test_restart_from_a_subgraph_caller_launches_a_fresh_child(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(subgraph_proxy(runs)) as engine:
        failed = await engine.run("parent", {"seed": "s"}, timeout=30)
        await engine.restart_from(runs.key("runsub", 0), {"fix": True, "seed": "t"})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)
        await expect_error(404, engine.snapshot(runs.keys["child"][0]))

    assert outcome.status is Status.COMPLETED
    assert outcome.state["sub"] == "Y(t)"
    assert runs.count == {"a": 1, "runsub": 4, "x": 2, "y": 2, "c": 1}


def _dag(*rows: tuple[int, int, int, int, str]) -> dict[int, Node]:
    return {row[0]: Node(*row[:4], Status(row[4])) for row in rows}


# spawn 1 fans out to 2 and 3; 3 is a nested spawn of 4 and 5 whose fan-in 6 rejoins cohort 1;
# 2 and 6 arrive at the outer fan-in 7, followed by 8.
NESTED = _dag(
    (1, 0, 2, 0, "completed"),
    (2, 1, 7, 1, "completed"),
    (3, 1, 4, 1, "completed"),
    (4, 3, 6, 3, "completed"),
    (5, 3, 6, 3, "failed"),
    (6, 5, 7, 1, "completed"),
    (7, 6, 8, 0, "completed"),
    (8, 7, 0, 0, "completed"),
)


def test_sweep_follows_successors_into_the_fan_in_and_beyond() -> None:
    assert sweep(NESTED, 4) == {6, 7, 8}
    assert sweep(NESTED, 3) == {4, 5, 6, 7, 8}
    assert sweep(NESTED, 8) == set()


def test_branches_are_counted_through_nested_cohorts() -> None:
    assert count_branches(NESTED, 1, rewound=0) == (2, 1)
    assert count_branches(NESTED, 3, rewound=0) == (2, 1)
    # Re-running a step deep inside branch 3 leaves that whole branch not arrived.
    assert count_branches(NESTED, 1, rewound=5) == (1, 0)
    assert count_branches(NESTED, 3, rewound=5) == (1, 0)
    assert lineage_chain(NESTED, 5) == [3, 1]


def test_a_branch_with_a_step_still_live_has_not_arrived() -> None:
    live = {**NESTED, 4: Node(4, 3, 0, 3, Status.INTERRUPTED)}
    assert count_branches(live, 3, rewound=0) == (1, 1)
    assert count_branches(live, 1, rewound=0) == (1, 0)
