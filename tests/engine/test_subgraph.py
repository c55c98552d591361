"""Subgraphs: a task calls another workflow like a function and continues with its result.

Ports upstream subgraphflow (the child's output adopted by the caller), dynamicsubgraphflow (the
caller re-runs and builds from the result, "parent:13"), subgraphentryflow (callers as first and
last node), subgraphfailflow (a child failure recovered through onError, or failing the parent),
stepdepthflow (the child's entry sits one below its caller) and retrysubgraphreapflow (a retried
caller runs a fresh child), plus the issue's contract: only ``input`` goes in, only the final
state comes back, the child runs on its parent's shard with the parent's baggage, ``history``
nests the child's steps, and cancelling the root takes the running child with it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dwarf.engine import TestProxy
from dwarf.workflow import (
    END,
    Flow,
    FlowOptions,
    FlowStep,
    Graph,
    Status,
    SubgraphFailedError,
    current_baggage,
)
from tests.fixtures.engines import MakeEngine


def chain(proxy: TestProxy, name: str, *tasks: str) -> Graph:
    """Register workflow ``name``: ``tasks`` in a line, then END."""
    graph = Graph(name)
    graph.add_transition_chain(*tasks, END)
    proxy.handle_graph(name, graph)
    return graph


def find_step(steps: list[FlowStep], task_name: str) -> FlowStep:
    """The first step running ``task_name``, searching nested subgraph histories too."""
    for step in steps:
        if step.task_name == task_name:
            return step
        if step.subgraph:
            try:
                return find_step(step.sub_history, task_name)
            except LookupError:
                pass
    raise LookupError(f"no step ran {task_name!r}")


def seed_proxy(seen_by_child: list[dict[str, Any]], child_keys: list[str]) -> TestProxy:
    """Upstream subgraphflow: parent taskA -> runInner -> taskZ; child taskX -> taskY.

    The child's entry task records the whole state it started from in ``seen_by_child`` and its
    flow key in ``child_keys``.
    """
    proxy = TestProxy()
    chain(proxy, "parent", "taskA", "runInner", "taskZ")
    chain(proxy, "inner", "taskX", "taskY")

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        flow.set_string("parentOnly", "not for the child")

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        flow.set_string("draft", "written before the call")
        out = flow.subgraph("inner", {"seed": flow.get_string("seed")})
        flow.set("innerResult", out["innerResult"])

    @proxy.task("taskX")
    async def task_x(flow: Flow) -> None:
        seen_by_child.append(flow.snapshot())
        child_keys.append(flow.flow_key)
        flow.set_string("innerResult", f"X({flow.get_string('seed')})")
        flow.set_string("childOnly", "stays in the child")

    @proxy.task("taskY")
    async def task_y(flow: Flow) -> None:
        flow.set_string("innerResult", f"Y({flow.get_string('innerResult')})")

    @proxy.task("taskZ")
    async def task_z(flow: Flow) -> None:
        flow.set_string("result", f"Z({flow.get_string('innerResult')})")

    return proxy


async def test_the_childs_output_is_adopted_into_the_parent_state(
    make_engine: MakeEngine,
) -> None:
    seen_by_child: list[dict[str, Any]] = []
    async with make_engine(seed_proxy(seen_by_child, [])) as engine:
        outcome = await engine.run("parent", {"seed": "seed1"}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"] == "Z(Y(X(seed1)))"
    # Only ``input`` went in: none of the parent's own fields reached the child.
    assert seen_by_child == [{"seed": "seed1"}]
    # Only what the caller chose to keep came back: the child's other fields stay in the child.
    assert "childOnly" not in outcome.state
    # The caller's writes made before it parked survive the park.
    assert outcome.state["draft"] == "written before the call"
    assert outcome.state["parentOnly"] == "not for the child"


async def test_the_caller_runs_again_after_the_child_and_builds_from_its_result(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "dynamic", "parent")
    chain(proxy, "inner", "innerA", "innerB")
    calls: Counter[str] = Counter()

    @proxy.task("parent")
    async def parent(flow: Flow) -> None:
        calls["parent"] += 1
        out = flow.subgraph("inner", {"value": flow.get_int("value")})
        flow.set_string("result", f"parent:{out['innerResult']}")

    @proxy.task("innerA")
    async def inner_a(flow: Flow) -> None:
        calls["innerA"] += 1
        flow.set_int("innerStage", flow.get_int("value") * 2)

    @proxy.task("innerB")
    async def inner_b(flow: Flow) -> None:
        calls["innerB"] += 1
        flow.set_int("innerResult", flow.get_int("innerStage") + 3)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("dynamic", {"value": 5}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"] == "parent:13"
    # Once to launch the child, once more to receive its result; the child ran once.
    assert calls == {"parent": 2, "innerA": 1, "innerB": 1}


async def test_subgraph_callers_work_as_the_first_and_the_last_node(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "outer", "runInner", "runTail")
    chain(proxy, "inner", "taskInner")
    chain(proxy, "tail", "taskTail")

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        out = flow.subgraph("inner")
        flow.set("innerResult", out["innerResult"])

    @proxy.task("taskInner")
    async def task_inner(flow: Flow) -> None:
        flow.set_string("innerResult", "inner")

    @proxy.task("runTail")
    async def run_tail(flow: Flow) -> None:
        out = flow.subgraph("tail", {"innerResult": flow.get_string("innerResult")})
        flow.set("finalResult", out["finalResult"])

    @proxy.task("taskTail")
    async def task_tail(flow: Flow) -> None:
        flow.set_string("finalResult", flow.get_string("innerResult") + "/tail")

    async with make_engine(proxy) as engine:
        outcome = await engine.run("outer", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["finalResult"] == "inner/tail"


def failing_child(proxy: TestProxy, child_keys: list[str] | None = None) -> None:
    """Workflow ``inner``: taskX (writes xDone) -> boom (raises "inner exploded").

    taskX records the child's flow key in ``child_keys`` (when given).
    """
    chain(proxy, "inner", "taskX", "boom")

    @proxy.task("taskX")
    async def task_x(flow: Flow) -> None:
        if child_keys is not None:
            child_keys.append(flow.flow_key)
        flow.set_bool("xDone", True)

    @proxy.task("boom")
    async def boom(flow: Flow) -> None:
        raise RuntimeError("inner exploded")


async def test_a_child_failure_is_recovered_through_the_callers_on_error(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    failing_child(proxy)
    parent = chain(proxy, "parent", "taskA", "runInner", "taskZ")
    parent.add_transition_on_error("runInner", "recover")
    parent.add_transition("recover", END)
    proxy.handle_graph("parent", parent)
    ran: list[str] = []

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        ran.append("taskA")

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        ran.append("runInner")
        flow.subgraph("inner")

    @proxy.task("taskZ")
    async def task_z(flow: Flow) -> None:
        ran.append("taskZ")

    @proxy.task("recover")
    async def recover(flow: Flow) -> None:
        ran.append("recover")
        flow.set_string("result", "recovered: " + flow.get("onErr", dict)["error"])

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"].startswith("recovered:")
    assert "inner exploded" in outcome.state["result"]
    assert ran == ["taskA", "runInner", "runInner", "recover"]


async def test_an_unhandled_child_failure_fails_the_parent_with_the_childs_error(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    child_keys: list[str] = []
    failing_child(proxy, child_keys)
    chain(proxy, "parent", "taskA", "runInner", "taskZ")
    ran: list[str] = []

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        ran.append("taskA")

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        ran.append("runInner")
        flow.subgraph("inner")

    @proxy.task("taskZ")
    async def task_z(flow: Flow) -> None:
        ran.append("taskZ")

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", timeout=30)
        child = await engine.snapshot(child_keys[0])

    assert outcome.status is Status.FAILED
    assert "inner exploded" in outcome.error
    assert "taskZ" not in ran
    # The child itself failed with its own error, and stays readable by its key.
    assert child.status is Status.FAILED
    assert "inner exploded" in child.error


async def test_a_caller_may_swallow_a_child_failure_and_see_its_state(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    failing_child(proxy)
    chain(proxy, "parent", "runInner", "after")

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        try:
            flow.subgraph("inner")
        except SubgraphFailedError as exc:
            flow.set_string("caught", str(exc))
            flow.set("childState", exc.final_state)

    @proxy.task("after")
    async def after(flow: Flow) -> None:
        flow.set_bool("afterRan", True)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert "inner exploded" in outcome.state["caught"]
    assert outcome.state["childState"]["xDone"] is True
    assert outcome.state["afterRan"] is True


async def test_an_unknown_child_workflow_fails_the_caller_naming_it(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "runMissing", "after")

    @proxy.task("runMissing")
    async def run_missing(flow: Flow) -> None:
        flow.subgraph("no-such-workflow")

    @proxy.task("after")
    async def after(flow: Flow) -> None:
        flow.set_bool("afterRan", True)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", timeout=30)

    assert outcome.status is Status.FAILED
    assert "no-such-workflow" in outcome.error
    assert "afterRan" not in outcome.state


async def test_the_child_runs_under_the_parents_baggage_in_loader_and_tasks(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "outer", "runMiddle")
    chain(proxy, "middle", "runInner")
    chain(proxy, "inner", "taskX")
    loaded_with: dict[str, Any] = {}
    in_task: dict[str, Any] = {}

    async def loader(name: str) -> Graph:
        loaded_with[name] = current_baggage()
        return await proxy.load_graph(name)

    @proxy.task("runMiddle")
    async def run_middle(flow: Flow) -> None:
        flow.subgraph("middle")

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        in_task["runInner"] = (current_baggage(), flow.baggage)
        flow.subgraph("inner")

    @proxy.task("taskX")
    async def task_x(flow: Flow) -> None:
        in_task["taskX"] = (current_baggage(), flow.baggage)

    baggage = {"actor": "carol", "scopes": ["a", "b"]}
    async with make_engine(proxy, graph_loader=loader) as engine:
        outcome = await engine.run("outer", options=FlowOptions(baggage=baggage), timeout=30)

    assert outcome.status is Status.COMPLETED
    # Two levels down, the loader and the tasks still see the root's baggage.
    assert loaded_with == {"outer": baggage, "middle": baggage, "inner": baggage}
    assert in_task == {"runInner": (baggage, baggage), "taskX": (baggage, baggage)}


@pytest.mark.sqlite_only
async def test_every_child_runs_on_its_parents_shard(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "call")
    chain(proxy, "child", "record")
    pairs: list[tuple[str, str]] = []

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        flow.subgraph("child", {"parentKey": flow.flow_key})

    @proxy.task("record")
    async def record(flow: Flow) -> None:
        pairs.append((flow.get_string("parentKey"), flow.flow_key))

    dsn = f"sqlite:///{tmp_path / 'shard-%d.sqlite'}"
    async with make_engine(proxy, dsn=dsn, num_shards=3) as engine:
        outcomes = await asyncio.gather(*(engine.run("parent", timeout=30) for _ in range(12)))

    assert all(outcome.status is Status.COMPLETED for outcome in outcomes)
    assert sorted(parent for parent, _ in pairs) == sorted(o.flow_key for o in outcomes)
    for parent, child in pairs:
        assert child != parent
        assert child.split("-")[0] == parent.split("-")[0], (parent, child)
    # Twelve random roots over three shards: the check above covered more than one shard.
    assert len({parent.split("-")[0] for parent, _ in pairs}) > 1


async def test_history_nests_the_childs_steps_under_its_caller(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "a", "runsub", "c")
    chain(proxy, "child", "x", "runGrand", "y")
    chain(proxy, "grand", "g")
    for name in ("a", "c", "x", "y", "g"):

        async def noop(flow: Flow) -> None:
            pass

        proxy.handle_task(name, noop)

    @proxy.task("runsub")
    async def runsub(flow: Flow) -> None:
        flow.subgraph("child")

    @proxy.task("runGrand")
    async def run_grand(flow: Flow) -> None:
        flow.subgraph("grand")

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", timeout=30)
        steps = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED
    assert [s.task_name for s in steps] == ["a", "runsub", "c"]
    assert [s.subgraph for s in steps] == [False, True, False]
    caller = steps[1]
    assert caller.sub_workflow_name == "child"
    assert [s.task_name for s in caller.sub_history] == ["x", "runGrand", "y"]
    nested = caller.sub_history[1]
    assert nested.subgraph
    assert nested.sub_workflow_name == "grand"
    assert [s.task_name for s in nested.sub_history] == ["g"]
    every = [steps[0], caller, steps[2], *caller.sub_history, *nested.sub_history]
    assert all(s.status is Status.COMPLETED for s in every)


async def test_a_childs_entry_step_sits_one_below_its_caller(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "a", "call")
    chain(proxy, "child", "inner", "inner2")
    for name in ("a", "inner", "inner2"):

        async def noop(flow: Flow) -> None:
            pass

        proxy.handle_task(name, noop)

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        flow.subgraph("child", {})

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", timeout=30)
        steps = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED
    depths = {name: find_step(steps, name).step_depth for name in ("a", "call", "inner", "inner2")}
    assert depths == {"a": 1, "call": 2, "inner": 3, "inner2": 4}


async def test_a_retried_caller_runs_a_fresh_child_and_keeps_the_newest(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "taskA", "runInner", "taskZ")
    chain(proxy, "inner", "taskX", "taskY")
    child_entry_keys: list[str] = []

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        pass

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        out = flow.subgraph("inner", {"seed": flow.get_string("seed")})
        flow.set("innerResult", out["innerResult"])
        if flow.attempt < 1:
            flow.retry(3, timedelta(0), 1.0, timedelta(0))

    @proxy.task("taskX")
    async def task_x(flow: Flow) -> None:
        child_entry_keys.append(flow.step_key)
        flow.set_string("innerResult", f"X{len(child_entry_keys)}")

    @proxy.task("taskY")
    async def task_y(flow: Flow) -> None:
        flow.set_string("innerResult", f"Y({flow.get_string('innerResult')})")

    @proxy.task("taskZ")
    async def task_z(flow: Flow) -> None:
        flow.set_string("result", f"Z({flow.get_string('innerResult')})")

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", {"seed": "s"}, timeout=30)
        steps = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED
    # The retry cleared the delivered result, so a second child ran and its result won.
    assert len(child_entry_keys) == 2
    assert child_entry_keys[0] != child_entry_keys[1]
    assert outcome.state["result"] == "Z(Y(X2))"
    caller = find_step(steps, "runInner")
    assert caller.attempt == 1
    assert caller.subgraph
    assert caller.sub_history[0].step_key == child_entry_keys[1]
    assert child_entry_keys[0] not in [s.step_key for s in caller.sub_history]


async def test_cancelling_the_root_cancels_a_running_child_and_its_steps(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "call", "afterCall")
    chain(proxy, "child", "block", "afterBlock")
    started = asyncio.Event()
    release = asyncio.Event()
    child_keys: list[str] = []
    ran: list[str] = []

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        ran.append("call")
        flow.subgraph("child")

    @proxy.task("block")
    async def block(flow: Flow) -> None:
        child_keys.append(flow.flow_key)
        started.set()
        await release.wait()
        flow.set_bool("blockDone", True)

    for name in ("afterCall", "afterBlock"):

        async def later(flow: Flow, name: str = name) -> None:
            ran.append(name)

        proxy.handle_task(name, later)

    async with make_engine(proxy) as engine:
        key = await engine.create("parent")
        await engine.start(key)
        try:
            await asyncio.wait_for(started.wait(), 30)
            await engine.cancel(key, "stop")
        finally:
            # Let the blocked task finish: its late write must find everything cancelled.
            release.set()
        root = await engine.await_flow(key, timeout=30)
        child = await engine.await_flow(child_keys[0], timeout=30)
    # The engine has shut down (the late worker's write is done); inspect from a fresh replica.
    async with make_engine(proxy, workers=0) as inspector:
        root_after = await inspector.snapshot(key)
        child_after = await inspector.snapshot(child_keys[0])
        parent_steps = await inspector.history(key)
        child_steps = await inspector.history(child_keys[0])

    assert root.status is Status.CANCELLED
    assert root.cancel_reason == "stop"
    assert child.status is Status.CANCELLED
    assert child.cancel_reason == "stop"
    assert root_after.status is Status.CANCELLED
    assert child_after.status is Status.CANCELLED
    assert [(s.task_name, s.status) for s in child_steps] == [("block", Status.CANCELLED)]
    assert [(s.task_name, s.status) for s in parent_steps] == [("call", Status.CANCELLED)]
    assert ran == ["call"]


async def test_a_child_key_reports_the_childs_own_outcome(make_engine: MakeEngine) -> None:
    child_keys: list[str] = []
    proxy = seed_proxy([], child_keys)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", {"seed": "s"}, timeout=30)
        child = await engine.await_flow(child_keys[0], timeout=30)

    assert outcome.status is Status.COMPLETED
    assert child.flow_key == child_keys[0] != outcome.flow_key
    assert child.status is Status.COMPLETED
    assert child.state == {"seed": "s", "innerResult": "Y(X(s))", "childOnly": "stays in the child"}


async def test_a_subgraph_call_with_a_non_object_input_fails_the_caller(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "call")
    chain(proxy, "child", "x")

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        flow.subgraph("child", ["not", "an", "object"])  # type: ignore[arg-type]

    @proxy.task("x")
    async def x(flow: Flow) -> None:
        pass

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", timeout=30)

    assert outcome.status is Status.FAILED
    assert "subgraph input" in outcome.error


async def test_a_caller_may_retry_after_a_child_failure_and_a_fresh_child_succeeds(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "call")
    chain(proxy, "flaky", "work")
    child_runs: list[int] = []

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        try:
            out = flow.subgraph("flaky")
        except SubgraphFailedError:
            if flow.retry(2, timedelta(0), 1.0, timedelta(0)):
                return
            raise
        flow.set_int("answer", out["answer"])
        flow.set_int("callerAttempt", flow.attempt)

    @proxy.task("work")
    async def work(flow: Flow) -> None:
        child_runs.append(len(child_runs) + 1)
        if len(child_runs) == 1:
            raise RuntimeError("first child fails")
        flow.set_int("answer", 42)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("parent", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"answer": 42, "callerAttempt": 1}
    assert child_runs == [1, 2]
