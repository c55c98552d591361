"""Conditional (``when``) edges pick the branch whose expression holds (upstream conditionalflow).

``taskA`` has two ``when`` edges, so it is a fan-out source whose cohort holds only the branches
whose expression held; ``taskC`` is their fan-in. The boundary score 50 satisfies ``>= 50`` and
not ``< 50``, so exactly one branch runs.
"""

from __future__ import annotations

import pytest

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


def conditional_proxy(ran: list[str]) -> TestProxy:
    """taskA -(score >= 50)-> taskHigh / -(score < 50)-> taskLow, both joining at taskC."""
    proxy = TestProxy()
    graph = Graph("conditional")
    graph.add_task("taskA", "task-a")
    graph.add_task("taskHigh", "task-high")
    graph.add_task("taskLow", "task-low")
    graph.add_task("taskC", "task-c")
    graph.set_fan_in("taskC")
    graph.add_transition_when("taskA", "taskHigh", "score >= 50")
    graph.add_transition_when("taskA", "taskLow", "score < 50")
    graph.add_transition("taskHigh", "taskC")
    graph.add_transition("taskLow", "taskC")
    graph.add_transition("taskC", END)
    proxy.handle_graph("conditional", graph)

    async def task_a(flow: Flow) -> None:
        ran.append("taskA")

    async def task_high(flow: Flow) -> None:
        ran.append("taskHigh")
        flow.set_string("branch", "high")

    async def task_low(flow: Flow) -> None:
        ran.append("taskLow")
        flow.set_string("branch", "low")

    async def task_c(flow: Flow) -> None:
        ran.append("taskC")
        flow.set_string("joined", flow.get_string("branch"))

    proxy.handle_task("task-a", task_a)
    proxy.handle_task("task-high", task_high)
    proxy.handle_task("task-low", task_low)
    proxy.handle_task("task-c", task_c)
    return proxy


@pytest.mark.parametrize(
    ("score", "branch"),
    [
        pytest.param(80, "high", id="high-score-takes-high-branch"),
        pytest.param(20, "low", id="low-score-takes-low-branch"),
        pytest.param(50, "high", id="boundary-50-takes-the-greater-or-equal-branch"),
    ],
)
async def test_when_edges_run_only_the_branch_whose_condition_holds(
    make_engine: MakeEngine, score: int, branch: str
) -> None:
    ran: list[str] = []
    async with make_engine(conditional_proxy(ran)) as engine:
        outcome = await engine.run("conditional", {"score": score}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["branch"] == branch
    assert outcome.state["joined"] == branch, "the fan-in saw the taken branch's output"
    skipped = "taskLow" if branch == "high" else "taskHigh"
    assert skipped not in ran
    assert ran == ["taskA", "taskHigh" if branch == "high" else "taskLow", "taskC"]


async def test_when_edges_compare_nested_fields_and_combine_conditions(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("vip")
    graph.add_task("classify", "classify")
    graph.add_task("vip", "vip")
    graph.add_task("regular", "regular")
    graph.add_task("done", "done")
    graph.set_fan_in("done")
    graph.add_transition_when("classify", "vip", "user.tier == 'gold' && user.orders >= 10")
    graph.add_transition_when("classify", "regular", "!(user.tier == 'gold' && user.orders >= 10)")
    graph.add_transition("vip", "done")
    graph.add_transition("regular", "done")
    graph.add_transition("done", END)
    proxy.handle_graph("vip", graph)

    @proxy.task("classify")
    async def classify(flow: Flow) -> None:
        pass

    @proxy.task("vip")
    async def vip(flow: Flow) -> None:
        flow.set_string("lane", "vip")

    @proxy.task("regular")
    async def regular(flow: Flow) -> None:
        flow.set_string("lane", "regular")

    @proxy.task("done")
    async def done(flow: Flow) -> None:
        pass

    async with make_engine(proxy) as engine:
        gold = await engine.run("vip", {"user": {"tier": "gold", "orders": 12}}, timeout=30)
        few = await engine.run("vip", {"user": {"tier": "gold", "orders": 3}}, timeout=30)

    assert gold.status is Status.COMPLETED
    assert gold.state["lane"] == "vip"
    assert few.status is Status.COMPLETED
    assert few.state["lane"] == "regular"


async def test_no_when_edge_holding_fires_the_fan_in_directly(make_engine: MakeEngine) -> None:
    # Neither "score >= 50" nor "score < 50" holds for a string score: the cohort is empty, and
    # (later-upstream behaviour) an empty cohort fires its fan-in at once.
    ran: list[str] = []
    async with make_engine(conditional_proxy(ran)) as engine:
        outcome = await engine.run("conditional", {"score": "n/a"}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert ran == ["taskA", "taskC"]
    assert outcome.state["joined"] == ""
    assert "branch" not in outcome.state
