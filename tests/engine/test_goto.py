"""Goto: a task jumps along one of its ``goto`` edges instead of normal routing (upstream gotoflow).

``taskB`` loops back to ``taskA`` until ``loops`` reaches ``target``, then falls through to
``taskC``. A goto with no matching goto edge (to an unknown task, or to a real task reached only
by a plain edge) fails the step, and with it the flow.
"""

from __future__ import annotations

import pytest

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


def loop_proxy(ran: list[str], *, goto_by: str = "url") -> TestProxy:
    """taskA -> taskB -(goto)-> taskA; taskB -> taskC -> END."""
    proxy = TestProxy()
    graph = Graph("goto")
    graph.add_task("taskA", "task-a")
    graph.add_task("taskB", "task-b")
    graph.add_task("taskC", "task-c")
    graph.add_transition("taskA", "taskB")
    graph.add_transition_goto("taskB", "taskA")
    graph.add_transition("taskB", "taskC")
    graph.add_transition("taskC", END)
    proxy.handle_graph("goto", graph)

    @proxy.task("task-a")
    async def task_a(flow: Flow) -> None:
        ran.append("taskA")
        flow.set_int("loops", flow.get_int("loops") + 1)

    @proxy.task("task-b")
    async def task_b(flow: Flow) -> None:
        ran.append("taskB")
        if flow.get_int("loops") < flow.get_int("target"):
            flow.goto("task-a" if goto_by == "url" else "taskA")
        flow.set_bool("visited", True)

    @proxy.task("task-c")
    async def task_c(flow: Flow) -> None:
        ran.append("taskC")
        flow.set_int("finalLoops", flow.get_int("loops"))

    return proxy


@pytest.mark.parametrize("target", [1, 3])
async def test_goto_loops_until_the_task_stops_asking(make_engine: MakeEngine, target: int) -> None:
    ran: list[str] = []
    async with make_engine(loop_proxy(ran)) as engine:
        outcome = await engine.run("goto", {"target": target}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["finalLoops"] == target
    assert ran == ["taskA", "taskB"] * target + ["taskC"]


async def test_goto_accepts_the_target_node_name_as_well_as_its_url(
    make_engine: MakeEngine,
) -> None:
    ran: list[str] = []
    async with make_engine(loop_proxy(ran, goto_by="name")) as engine:
        outcome = await engine.run("goto", {"target": 2}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["finalLoops"] == 2
    assert ran.count("taskA") == 2


async def test_goto_to_an_unregistered_task_fails_the_flow(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("bad-goto")
    graph.add_task("badGotoer", "bad-gotoer")
    graph.add_transition("badGotoer", END)
    proxy.handle_graph("bad-goto", graph)

    @proxy.task("bad-gotoer")
    async def bad_gotoer(flow: Flow) -> None:
        flow.goto("https://example.invalid/no-such-task")
        flow.set_bool("stamp", True)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("bad-goto", timeout=30)

    assert outcome.status is Status.FAILED
    assert "goto" in outcome.error
    assert "no-such-task" in outcome.error


async def test_goto_along_a_plain_edge_without_a_goto_transition_fails_the_flow(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("plain-goto")
    graph.add_task("first", "first")
    graph.add_task("second", "second")
    graph.add_transition("first", "second")
    graph.add_transition("second", END)
    proxy.handle_graph("plain-goto", graph)
    ran: list[str] = []

    @proxy.task("first")
    async def first(flow: Flow) -> None:
        ran.append("first")
        flow.goto("second")  # a real task, but reached by a plain edge only

    @proxy.task("second")
    async def second(flow: Flow) -> None:
        ran.append("second")

    async with make_engine(proxy) as engine:
        outcome = await engine.run("plain-goto", timeout=30)

    assert outcome.status is Status.FAILED
    assert "goto" in outcome.error
    assert ran == ["first"]


async def test_goto_together_with_retry_fails_as_competing_signals(
    make_engine: MakeEngine,
) -> None:
    ran: list[str] = []
    proxy = loop_proxy(ran)

    @proxy.task("task-b")
    async def greedy(flow: Flow) -> None:
        ran.append("taskB")
        flow.goto("taskA")
        assert flow.retry(3, 0, 1, 0)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("goto", {"target": 5}, timeout=30)

    assert outcome.status is Status.FAILED
    assert "competing" in outcome.error
    assert ran == ["taskA", "taskB"]
