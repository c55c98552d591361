"""Time budget: a task running past its budget is cancelled and its step fails.

Ports upstream timebudgetflow and taskdeadlineflow. The task here installs no timeout of its own:
it blocks until the engine cancels it (API settled detail 5: it sees ``CancelledError``; a
plain-function handler is abandoned in its thread). The error contains "time budget" and is
routed to onError like any other error. Budgets come from ``with_time_budget`` or, per flow,
``FlowOptions.time_budget``.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from dwarf.engine import Engine, Handler, TestProxy
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from tests.fixtures.engines import MakeEngine

BUDGET = 0.3


class Slow:
    """A task that blocks until cancelled (or released), recording what it saw."""

    def __init__(self) -> None:
        self.cancelled = False
        self.finished = False
        self.release = asyncio.Event()

    async def run(self, flow: Flow) -> None:
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        flow.set_bool("done", True)
        self.finished = True


def budget_proxy(slow: Handler, *, handled: bool = False) -> TestProxy:
    """taskA -> slow -> END, with slow -(onError)-> rescue -> END when ``handled``."""
    proxy = TestProxy()
    graph = Graph("budget")
    graph.add_transition_chain("taskA", "slow", END)
    if handled:
        graph.add_task("rescue", "rescue")
        graph.add_transition_on_error("slow", "rescue")
        graph.add_transition("rescue", END)
    proxy.handle_graph("budget", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        pass

    @proxy.task("rescue")
    async def rescue(flow: Flow) -> None:
        flow.set_string("rescuedFrom", flow.get("onErr", dict)["error"])

    proxy.handle_task("slow", slow)
    return proxy


async def test_a_task_exceeding_the_engine_time_budget_is_cancelled_and_fails_the_flow(
    make_engine: MakeEngine,
) -> None:
    slow = Slow()
    async with make_engine(budget_proxy(slow.run), time_budget=BUDGET) as engine:
        outcome = await engine.run("budget", timeout=30)

    assert outcome.status is Status.FAILED
    assert "time budget" in outcome.error
    assert slow.cancelled, "the task must see CancelledError at its deadline"
    assert not slow.finished
    assert "done" not in outcome.state


async def test_a_time_budget_failure_routes_to_on_error(make_engine: MakeEngine) -> None:
    slow = Slow()
    proxy = budget_proxy(slow.run, handled=True)
    async with make_engine(proxy, time_budget=timedelta(seconds=BUDGET)) as engine:
        outcome = await engine.run("budget", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert "time budget" in outcome.state["rescuedFrom"]
    assert slow.cancelled


async def test_a_flows_own_time_budget_overrides_the_engines(make_engine: MakeEngine) -> None:
    slow = Slow()
    # The engine allows two minutes; this flow allows 0.3 s.
    async with make_engine(budget_proxy(slow.run)) as engine:
        outcome = await engine.run(
            "budget", options=FlowOptions(time_budget=timedelta(seconds=BUDGET)), timeout=30
        )

    assert outcome.status is Status.FAILED
    assert "time budget" in outcome.error
    assert slow.cancelled


async def test_a_task_within_its_budget_completes(make_engine: MakeEngine) -> None:
    slow = Slow()
    slow.release.set()
    async with make_engine(budget_proxy(slow.run), time_budget=30) as engine:
        outcome = await engine.run("budget", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"done": True}
    assert not slow.cancelled


async def test_a_plain_function_task_over_budget_is_abandoned_and_fails_the_flow(
    make_engine: MakeEngine,
) -> None:
    release = threading.Event()
    returned = threading.Event()

    def blocking(flow: Flow) -> None:
        release.wait(timeout=30)
        returned.set()

    try:
        async with make_engine(budget_proxy(blocking), time_budget=BUDGET) as engine:
            outcome = await engine.run("budget", timeout=30)
            # The flow failed while the thread was still blocked: it was not waited for.
            still_blocked = not returned.is_set()
    finally:
        release.set()

    assert outcome.status is Status.FAILED
    assert "time budget" in outcome.error
    assert still_blocked


@pytest.mark.parametrize("budget", [0, -1])
def test_a_non_positive_engine_time_budget_is_refused(budget: float) -> None:
    with pytest.raises(BadRequestError, match="time_budget"):
        Engine().with_time_budget(budget)


class Napper:
    """A task that takes ``seconds`` and then completes, recording whether it was cancelled."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.cancelled = False

    async def run(self, flow: Flow) -> None:
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        flow.set_bool("done", True)


async def test_a_flow_without_its_own_budget_takes_the_inserting_replicas_budget(
    make_engine: MakeEngine,
) -> None:
    # The creator (no workers) allows 30 s, the replica running the flow 0.3 s: the slow step,
    # inserted by the runner, gets the runner's budget, not the creator's (transitions.md#t11).
    slow = Slow()
    proxy = budget_proxy(slow.run)
    async with (
        make_engine(proxy, workers=0, time_budget=30) as creator,
        make_engine(proxy, time_budget=BUDGET) as runner,
    ):
        key = await creator.create("budget", {})
        await runner.start(key)
        outcome = await runner.await_flow(key, timeout=20)

    assert outcome.status is Status.FAILED
    assert f"time budget of {BUDGET:g}s" in outcome.error
    assert slow.cancelled


async def test_a_short_creator_budget_does_not_bind_the_steps_another_replica_inserts(
    make_engine: MakeEngine,
) -> None:
    napper = Napper(BUDGET * 3)
    proxy = budget_proxy(napper.run)
    async with (
        make_engine(proxy, workers=0, time_budget=BUDGET) as creator,
        make_engine(proxy, time_budget=30) as runner,
    ):
        key = await creator.create("budget", {})
        await runner.start(key)
        outcome = await runner.await_flow(key, timeout=20)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state == {"done": True}
    assert not napper.cancelled
