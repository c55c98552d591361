"""Retry: a task re-runs its own step with backoff, bounded by attempts or a wall-clock horizon.

Ports upstream retryflow (``retry(5, 0, 0, 0)`` allows six executions: succeeding on the third,
failing when ten would be needed) and retryloopflow (an onError handler looping back to the task
until it succeeds).
"""

from __future__ import annotations

import time

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


def flaky_proxy(attempts_seen: list[int]) -> TestProxy:
    """taskA -> flaky -> taskB; flaky retries until its ``attempts`` counter reaches ``target``."""
    proxy = TestProxy()
    graph = Graph("retry")
    graph.add_transition_chain("taskA", "flaky", "taskB", END)
    proxy.handle_graph("retry", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        pass

    @proxy.task("flaky")
    async def flaky(flow: Flow) -> None:
        attempts_seen.append(flow.attempt)
        attempts = flow.get_int("attempts") + 1
        flow.set_int("attempts", attempts)
        if attempts >= flow.get_int("target"):
            return
        if not flow.retry(5, 0, 0, 0):
            raise RuntimeError(f"flaky exhausted retries at attempt {attempts}")

    @proxy.task("taskB")
    async def task_b(flow: Flow) -> None:
        flow.set_int("finalAttempts", flow.get_int("attempts"))

    return proxy


async def test_retry_succeeds_on_the_target_attempt_keeping_earlier_attempts_writes(
    make_engine: MakeEngine,
) -> None:
    seen: list[int] = []
    async with make_engine(flaky_proxy(seen)) as engine:
        outcome = await engine.run("retry", {"target": 3}, timeout=30)

    assert outcome.status is Status.COMPLETED
    # The counter survives across attempts: each retry sees its previous attempt's output.
    assert outcome.state["finalAttempts"] == 3
    assert seen == [0, 1, 2]


async def test_retry_exhausts_its_attempts_and_fails_the_flow(make_engine: MakeEngine) -> None:
    seen: list[int] = []
    async with make_engine(flaky_proxy(seen)) as engine:
        outcome = await engine.run("retry", {"target": 10}, timeout=30)

    assert outcome.status is Status.FAILED
    # retry(5, ...) allows five retries: six executions, the last of which gives up.
    assert seen == [0, 1, 2, 3, 4, 5]
    assert outcome.error == "flaky exhausted retries at attempt 6"


async def test_an_on_error_handler_can_loop_back_to_the_failing_task(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("retry-loop")
    graph.add_task("taskA", "task-a")
    graph.add_task("taskB", "task-b")
    graph.add_task("handler", "handler")
    graph.add_task("taskC", "task-c")
    graph.add_transition("taskA", "taskB")
    graph.add_transition_on_error("taskB", "handler")
    graph.add_transition("taskB", "taskC")
    graph.add_transition("handler", "taskB")
    graph.add_transition("taskC", END)
    proxy.handle_graph("retry-loop", graph)
    runs: list[str] = []

    @proxy.task("task-a")
    async def task_a(flow: Flow) -> None:
        runs.append("taskA")

    @proxy.task("task-b")
    async def task_b(flow: Flow) -> None:
        runs.append("taskB")
        if flow.get_int("attempts") < flow.get_int("target"):
            raise RuntimeError("not yet")

    @proxy.task("handler")
    async def handler(flow: Flow) -> None:
        runs.append("handler")
        flow.set_int("attempts", flow.get_int("attempts") + 1)

    @proxy.task("task-c")
    async def task_c(flow: Flow) -> None:
        runs.append("taskC")
        flow.set_int("finalAttempts", flow.get_int("attempts"))

    async with make_engine(proxy) as engine:
        outcome = await engine.run("retry-loop", {"target": 3}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["finalAttempts"] == 3
    assert runs == ["taskA"] + ["taskB", "handler"] * 3 + ["taskB", "taskC"]


async def test_retry_waits_at_least_its_backoff_between_attempts(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    proxy.handle_graph("backoff", _single("backoff", "slowly"))
    started: list[float] = []
    finished: list[float] = []

    @proxy.task("slowly")
    async def slowly(flow: Flow) -> None:
        started.append(time.monotonic())
        if flow.attempt < 2:
            # 0.15 s, then 0.3 s (multiplier 2).
            assert flow.retry(5, 0.15, 2.0, 10.0)
        finished.append(time.monotonic())

    async with make_engine(proxy) as engine:
        outcome = await engine.run("backoff", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert len(started) == 3
    tolerance = 0.02  # database clocks keep milliseconds; never a reason for an early run
    assert started[1] - finished[0] >= 0.15 - tolerance
    assert started[2] - finished[1] >= 0.30 - tolerance


async def test_retry_gives_up_once_its_wall_clock_horizon_would_pass(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    proxy.handle_graph("horizon", _single("horizon", "patient"))
    attempts: list[int] = []

    @proxy.task("patient")
    async def patient(flow: Flow) -> None:
        attempts.append(flow.attempt)
        # Unbounded attempts; the 1 s horizon measured from the step's creation decides.
        if not flow.retry(1_000_000, 0.2, 1.0, 0, give_up_after=1.0):
            raise RuntimeError(f"gave up after {flow.attempt + 1} runs")

    async with make_engine(proxy) as engine:
        outcome = await engine.run("horizon", timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.error.startswith("gave up after")
    # At least 0.2 s apart under a 1 s horizon: a handful of runs, never the unbounded count.
    assert 2 <= len(attempts) <= 6
    assert attempts == list(range(len(attempts)))


async def test_a_step_waiting_out_its_backoff_does_not_occupy_the_only_worker(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    proxy.handle_graph("wait", _single("wait", "waiting"))
    proxy.handle_graph("quick", _single("quick", "quickly"))
    runs: list[str] = []

    @proxy.task("waiting")
    async def waiting(flow: Flow) -> None:
        runs.append(f"waiting-{flow.attempt}")
        if flow.attempt == 0:
            assert flow.retry(1, 60.0, 1.0, 0)  # due again only in a minute

    @proxy.task("quickly")
    async def quickly(flow: Flow) -> None:
        runs.append("quick")

    async with make_engine(proxy, workers=1) as engine:
        slow_key = await engine.create("wait")
        await engine.start(slow_key)
        quick = await engine.run("quick", timeout=30)
        slow = await engine.snapshot(slow_key)
        await engine.cancel(slow_key, "test over")

    assert quick.status is Status.COMPLETED
    assert slow.status is Status.RUNNING
    assert "waiting-1" not in runs
    assert "quick" in runs


def _single(name: str, task: str) -> Graph:
    graph = Graph(name)
    graph.add_transition_chain(task, END)
    return graph
