"""Sleep: the steps after a sleeping task are not dispatched before the sleep has passed.

Ports upstream sleepflow. Times are taken with a monotonic clock inside the tasks; only lower
bounds are asserted (the engine may always be later, never earlier), with a few milliseconds of
slack because the database clocks keep milliseconds.
"""

from __future__ import annotations

import time

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine

CLOCK_SLACK = 0.02


def sleep_proxy(stamps: dict[str, float]) -> TestProxy:
    """taskA -> taskB (sleeps ``sleepFor`` seconds) -> taskC."""
    proxy = TestProxy()
    graph = Graph("delay")
    graph.add_transition_chain("taskA", "taskB", "taskC", END)
    proxy.handle_graph("delay", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        stamps["a"] = time.monotonic()

    @proxy.task("taskB")
    async def task_b(flow: Flow) -> None:
        flow.sleep(flow.get_duration("sleepFor"))
        flow.set_bool("marked", True)
        stamps["b"] = time.monotonic()

    @proxy.task("taskC")
    async def task_c(flow: Flow) -> None:
        stamps["c"] = time.monotonic()

    return proxy


async def test_the_step_after_a_sleep_waits_at_least_the_sleep(make_engine: MakeEngine) -> None:
    stamps: dict[str, float] = {}
    async with make_engine(sleep_proxy(stamps)) as engine:
        outcome = await engine.run("delay", {"sleepFor": 0.3}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["marked"] is True
    assert stamps["c"] - stamps["b"] >= 0.3 - CLOCK_SLACK


async def test_a_zero_sleep_delays_nothing_and_changes_nothing(make_engine: MakeEngine) -> None:
    stamps: dict[str, float] = {}
    async with make_engine(sleep_proxy(stamps)) as engine:
        outcome = await engine.run("delay", {"sleepFor": 0}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"sleepFor": 0, "marked": True}
    assert set(stamps) == {"a", "b", "c"}


async def test_a_sleeping_flow_leaves_the_worker_free_for_other_flows(
    make_engine: MakeEngine,
) -> None:
    stamps: dict[str, float] = {}
    proxy = sleep_proxy(stamps)
    other = Graph("other")
    other.add_transition_chain("quick", END)
    proxy.handle_graph("other", other)

    @proxy.task("quick")
    async def quick(flow: Flow) -> None:
        stamps["quick"] = time.monotonic()

    async with make_engine(proxy, workers=1) as engine:
        sleeper = await engine.create("delay", {"sleepFor": 60})
        await engine.start(sleeper)
        # Wait until taskB has armed its minute-long sleep, then run another flow meanwhile.
        for _ in range(300):
            if "b" in stamps:
                break
            polled = await engine.poll(sleeper, timeout=0.1)
            assert polled.status is Status.RUNNING
        assert "b" in stamps
        quick_outcome = await engine.run("other", timeout=30)
        still = await engine.snapshot(sleeper)
        await engine.cancel(sleeper, "test over")

    assert quick_outcome.status is Status.COMPLETED
    assert still.status is Status.RUNNING
    assert "c" not in stamps, "taskC must not run before its sleep has passed"
