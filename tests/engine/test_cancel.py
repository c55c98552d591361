"""Cancel: a created, running or interrupted flow stops for good, with the reason reported.

Ports upstream cancelinterruptedflow and cancelledfanoutflow, and cancels a flow whose task is
blocked mid-run: the outcome is ``cancelled`` at once, and when the task finally returns nothing
after it runs and its writes are not adopted. The engine is closed before the last checks so that
every worker has finished; a second (dispatch-free) engine on the same database reads the result.
"""

from __future__ import annotations

import asyncio

import pytest

from dwarf.engine import TestProxy
from dwarf.errors import ConflictError
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


def pause_proxy(ran: list[str]) -> TestProxy:
    """taskA -> pause (interrupts) -> taskB."""
    proxy = TestProxy()
    graph = Graph("pausing")
    graph.add_transition_chain("taskA", "pause", "taskB", END)
    proxy.handle_graph("pausing", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        ran.append("taskA")
        flow.set_string("fromA", "a")

    @proxy.task("pause")
    async def pause(flow: Flow) -> None:
        ran.append("pause")
        flow.interrupt({"need": "input"})

    @proxy.task("taskB")
    async def task_b(flow: Flow) -> None:
        ran.append("taskB")
        flow.set_string("result", "reached B")

    return proxy


async def test_cancelling_an_interrupted_flow_reports_the_reason_and_refuses_resume(
    make_engine: MakeEngine,
) -> None:
    ran: list[str] = []
    async with make_engine(pause_proxy(ran)) as engine:
        key = await engine.create("pausing")
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        await engine.cancel(key, "no longer needed")
        outcome = await engine.await_flow(key, timeout=30)
        with pytest.raises(ConflictError):
            await engine.resume(key, {"answer": "x"})
        with pytest.raises(ConflictError):
            await engine.cancel(key, "again")
        after = await engine.snapshot(key)

    assert parked.status is Status.INTERRUPTED
    assert outcome.status is Status.CANCELLED
    assert outcome.cancel_reason == "no longer needed"
    assert "result" not in outcome.state
    assert outcome.state.get("fromA") == "a"
    assert after == outcome, "a second cancel changes nothing (first cancel wins)"
    assert ran == ["taskA", "pause"]


async def test_cancelling_a_created_flow_means_it_never_starts(make_engine: MakeEngine) -> None:
    ran: list[str] = []
    async with make_engine(pause_proxy(ran)) as engine:
        key = await engine.create("pausing")
        await engine.cancel(key)
        outcome = await engine.await_flow(key, timeout=30)
        with pytest.raises(ConflictError):
            await engine.start(key)

    assert outcome.status is Status.CANCELLED
    assert outcome.cancel_reason == ""
    assert ran == []


async def test_cancel_mid_run_stops_the_flow_and_discards_the_running_tasks_result(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("long")
    graph.add_transition_chain("work", "next", END)
    proxy.handle_graph("long", graph)
    started = asyncio.Event()
    release = asyncio.Event()
    ran: list[str] = []

    @proxy.task("work")
    async def work(flow: Flow) -> None:
        ran.append("work")
        started.set()
        await release.wait()
        flow.set_string("late", "written after the cancel")

    @proxy.task("next")
    async def next_task(flow: Flow) -> None:
        ran.append("next")

    async with make_engine(proxy) as engine:
        key = await engine.create("long", {"input": 1})
        await engine.start(key)
        await asyncio.wait_for(started.wait(), 30)
        await engine.cancel(key, "operator abort")
        outcome = await engine.await_flow(key, timeout=30)
        release.set()  # the task returns; leaving the engine waits for its worker to finish

    async with make_engine(proxy, workers=0) as reader:
        final = await reader.snapshot(key)

    assert outcome.status is Status.CANCELLED
    assert outcome.cancel_reason == "operator abort"
    assert final.status is Status.CANCELLED
    assert final.cancel_reason == "operator abort"
    assert "late" not in final.state
    assert ran == ["work"], "nothing after a cancelled step may run"


async def test_cancel_mid_fan_out_cancels_every_branch(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("cancelled-fan-out")
    for name in ("source", "a", "b", "c", "j"):
        graph.add_task(name, name)
    graph.set_fan_in("j")
    graph.add_transition_fan_out("source", "a", "b", "c")
    for name in ("a", "b", "c"):
        graph.add_transition(name, "j")
    graph.add_transition("j", END)
    proxy.handle_graph("cancelled-fan-out", graph)
    started = asyncio.Event()
    release = asyncio.Event()
    executed: list[str] = []

    @proxy.task("source")
    async def source(flow: Flow) -> None:
        pass

    def branch(name: str) -> None:
        async def run(flow: Flow) -> None:
            executed.append(name)
            started.set()
            await release.wait()
            flow.set_int("executed", 1)

        proxy.handle_task(name, run)

    for name in ("a", "b", "c"):
        branch(name)

    @proxy.task("j")
    async def join(flow: Flow) -> None:
        executed.append("j")

    # One worker: the first branch holds it, the other two are still pending at the cancel.
    async with make_engine(proxy, workers=1) as engine:
        key = await engine.create("cancelled-fan-out")
        await engine.start(key)
        await asyncio.wait_for(started.wait(), 30)
        await engine.cancel(key, "")
        outcome = await engine.await_flow(key, timeout=30)
        release.set()

    async with make_engine(proxy, workers=0) as reader:
        final = await reader.snapshot(key)

    assert outcome.status is Status.CANCELLED
    assert final.status is Status.CANCELLED
    assert len(executed) == 1, f"only the branch running at the cancel ran, got {executed}"
