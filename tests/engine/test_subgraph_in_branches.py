"""Subgraphs inside fan-out branches: callers as cohort members, children with their own cohorts.

Ports upstream subgraphfanoutflow (a caller as one fan-out sibling), fanoutsubgraphflow (a
trivial child never wedges its caller: the caller parks before the child starts), nestedfanoutflow
(a branch's child fans out internally), subgraphfanoutfailflow (a branch's child failure either
fails the cohort or is swallowed by the branch), subgraphcohortfail and subgraphcohortfailwaitflow
(a child whose own cohort has a failed branch stays running while a sibling is live, then fails,
waking an await on the child key), plus cancelling a root while its branches' children run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after 30 s (a hang guard, no timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.02)


async def step_statuses(engine: Engine, flow_key: str) -> dict[str, list[Status]]:
    """The statuses of the flow's own steps, by task name, in history order."""
    found: dict[str, list[Status]] = {}
    for step in await engine.history(flow_key):
        found.setdefault(step.task_name, []).append(step.status)
    return found


def noop_tasks(proxy: TestProxy, *names: str) -> None:
    """Register tasks that do nothing."""
    for name in names:

        async def noop(flow: Flow) -> None:
            pass

        proxy.handle_task(name, noop)


def fan_out(name: str, source: str, branches: list[str], fan_in: str) -> Graph:
    """``source`` -> each of ``branches`` -> ``fan_in`` -> END."""
    graph = Graph(name)
    graph.add_transition_fan_out(source, *branches)
    for branch in branches:
        graph.add_transition(branch, fan_in)
    graph.add_transition(fan_in, END)
    graph.set_fan_in(fan_in)
    return graph


async def test_a_subgraph_caller_works_as_one_fan_out_sibling(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    proxy.handle_graph("sub-fan-out", fan_out("sub-fan-out", "taskA", ["b", "runSub", "d"], "e"))
    sub = Graph("sub")
    sub.add_transition_chain("taskX", "taskY", END)
    proxy.handle_graph("sub", sub)
    noop_tasks(proxy, "taskA")

    @proxy.task("b")
    async def b(flow: Flow) -> None:
        flow.set_string("bResult", "b")

    @proxy.task("runSub")
    async def run_sub(flow: Flow) -> None:
        out = flow.subgraph("sub")
        flow.set("subResult", out["subResult"])

    @proxy.task("taskX")
    async def task_x(flow: Flow) -> None:
        flow.set_bool("xPassed", True)

    @proxy.task("taskY")
    async def task_y(flow: Flow) -> None:
        flow.set_string("subResult", "sub" if flow.get_bool("xPassed") else "sub-no-x")

    @proxy.task("d")
    async def d(flow: Flow) -> None:
        flow.set_string("dResult", "d")

    @proxy.task("e")
    async def e(flow: Flow) -> None:
        parts = (flow.get_string(k) for k in ("bResult", "subResult", "dResult"))
        flow.set_string("result", "/".join(parts))

    async with make_engine(proxy) as engine:
        outcome = await engine.run("sub-fan-out", timeout=30)
        steps = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"] == "b/sub/d"
    caller = next(s for s in steps if s.task_name == "runSub")
    assert caller.subgraph
    assert [s.task_name for s in caller.sub_history] == ["taskX", "taskY"]
    assert not any(s.subgraph for s in steps if s.task_name != "runSub")


async def test_a_trivial_child_in_a_fan_out_never_wedges_its_caller(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    proxy.handle_graph("parent", fan_out("parent", "entry", ["a", "b", "sub"], "join"))
    inner = Graph("inner")
    inner.add_transition("innerEntry", END)
    proxy.handle_graph("inner", inner)
    noop_tasks(proxy, "entry", "a", "b", "join", "innerEntry")

    @proxy.task("sub")
    async def sub(flow: Flow) -> None:
        flow.subgraph("inner")

    async with make_engine(proxy, workers=4) as engine:
        keys = [await engine.create("parent") for _ in range(20)]
        for key in keys:
            await engine.start(key)
        outcomes = [await engine.await_flow(key, timeout=30) for key in keys]

    assert [o.status for o in outcomes] == [Status.COMPLETED] * 20


async def test_a_branchs_child_can_fan_out_and_fan_in_on_its_own(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    proxy.handle_graph("nested", fan_out("nested", "taskA", ["normalB", "runInner"], "taskJ"))
    inner = fan_out("inner", "taskX", ["taskY", "taskZ"], "taskW")
    inner.set_reducer("inner", Reducer.ADD)
    proxy.handle_graph("inner", inner)
    noop_tasks(proxy, "taskA", "taskX")

    @proxy.task("normalB")
    async def normal_b(flow: Flow) -> None:
        flow.set_string("normalResult", "normal")

    @proxy.task("taskY")
    async def task_y(flow: Flow) -> None:
        flow.set_int("inner", 10)

    @proxy.task("taskZ")
    async def task_z(flow: Flow) -> None:
        flow.set_int("inner", 20)

    @proxy.task("taskW")
    async def task_w(flow: Flow) -> None:
        flow.set_int("innerResult", flow.get_int("inner"))

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        out = flow.subgraph("inner")
        flow.set("innerResult", out["innerResult"])

    @proxy.task("taskJ")
    async def task_j(flow: Flow) -> None:
        flow.set_string(
            "result", f"{flow.get_string('normalResult')}/{flow.get_int('innerResult')}"
        )

    async with make_engine(proxy) as engine:
        outcome = await engine.run("nested", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"] == "normal/30"
    # The child's own fields (its reducer-summed "inner") never leaked into the parent.
    assert "inner" not in outcome.state


def for_each_children(proxy: TestProxy, *, swallow: bool) -> None:
    """``outer``: split -> forEach item -> branch (calls ``inner`` with the item) -> join.

    The child fails for item "bad". With ``swallow`` the branch records ``recovered:<item>``
    instead of raising; ``outs`` appends at the fan-in.
    """
    outer = Graph("outer")
    outer.add_transition_for_each("split", "branch", "items", "item")
    outer.add_transition_chain("branch", "join", END)
    outer.set_fan_in("join")
    outer.set_reducer("outs", Reducer.APPEND)
    proxy.handle_graph("outer", outer)
    inner = Graph("inner")
    inner.add_transition("do", END)
    proxy.handle_graph("inner", inner)
    noop_tasks(proxy, "split", "join")

    @proxy.task("do")
    async def do(flow: Flow) -> None:
        if flow.get_string("item") == "bad":
            raise RuntimeError(f"child exploded for {flow.get_string('item')}")
        flow.set_string("out", "ok:" + flow.get_string("item"))

    @proxy.task("branch")
    async def branch(flow: Flow) -> None:
        item = flow.get_string("item")
        try:
            out = flow.subgraph("inner", {"item": item})
        except Exception:
            if not swallow:
                raise
            flow.set("outs", [f"recovered:{item}"])
            return
        flow.set("outs", [out["out"]])


async def test_a_branch_propagating_its_childs_failure_fails_the_flow(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    for_each_children(proxy, swallow=False)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("outer", {"items": ["a", "bad", "c"]}, timeout=30)
        steps = await step_statuses(engine, outcome.flow_key)

    assert outcome.status is Status.FAILED
    assert "child exploded for bad" in outcome.error
    assert sorted(steps["branch"]) == sorted([Status.COMPLETED, Status.FAILED, Status.COMPLETED])
    assert "join" not in steps


async def test_branches_swallowing_a_child_failure_all_reach_the_fan_in(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    for_each_children(proxy, swallow=True)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("outer", {"items": ["a", "bad", "c"]}, timeout=30)

    assert outcome.status is Status.COMPLETED
    # Every branch converged, in item order, the failed child recovered by its branch.
    assert outcome.state["outs"] == ["ok:a", "recovered:bad", "ok:c"]


async def test_each_branch_child_gets_its_own_input_and_results_fold_in_item_order(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    outer = Graph("doubler")
    outer.add_transition_for_each("split", "call", "items", "n")
    outer.add_transition_chain("call", "join", END)
    outer.set_fan_in("join")
    outer.set_reducer("doubled", Reducer.APPEND)
    proxy.handle_graph("doubler", outer)
    child = Graph("double")
    child.add_transition("twice", END)
    proxy.handle_graph("double", child)
    noop_tasks(proxy, "split", "join")
    child_inputs: list[dict[str, object]] = []

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        out = flow.subgraph("double", {"n": flow.get_int("n")})
        flow.set("doubled", [out["n2"]])

    @proxy.task("twice")
    async def twice(flow: Flow) -> None:
        child_inputs.append(flow.snapshot())
        flow.set_int("n2", flow.get_int("n") * 2)

    async with make_engine(proxy, workers=4) as engine:
        outcome = await engine.run("doubler", {"items": [1, 2, 3, 4, 5]}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["doubled"] == [2, 4, 6, 8, 10]
    # Each child started from its own input only (no forEach bookkeeping, no parent fields).
    assert sorted(child_inputs, key=lambda s: str(s["n"])) == [{"n": n} for n in range(1, 6)]


def cohort_child_proxy(
    release: asyncio.Event, child_keys: list[str], grandchild_started: asyncio.Event
) -> TestProxy:
    """Upstream subgraphcohortfail: parent ``call`` runs ``child`` (split -> {boom, slow} ->
    join); boom fails; slow calls ``grandchild``, whose ``wait`` blocks until ``release``."""
    proxy = TestProxy()
    parent = Graph("parent")
    parent.add_transition("call", END)
    proxy.handle_graph("parent", parent)
    proxy.handle_graph("child", fan_out("child", "split", ["boom", "slow"], "join"))
    grandchild = Graph("grandchild")
    grandchild.add_transition("wait", END)
    proxy.handle_graph("grandchild", grandchild)
    noop_tasks(proxy, "join")

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        flow.subgraph("child")

    @proxy.task("split")
    async def split(flow: Flow) -> None:
        child_keys.append(flow.flow_key)

    @proxy.task("boom")
    async def boom(flow: Flow) -> None:
        raise RuntimeError("boom-branch-failed")

    @proxy.task("slow")
    async def slow(flow: Flow) -> None:
        flow.subgraph("grandchild")

    @proxy.task("wait")
    async def wait(flow: Flow) -> None:
        child_keys.append(flow.flow_key)
        grandchild_started.set()
        await release.wait()

    return proxy


async def test_a_child_with_a_failed_branch_keeps_running_until_its_live_sibling_arrives(
    make_engine: MakeEngine,
) -> None:
    release = asyncio.Event()
    grandchild_started = asyncio.Event()
    child_keys: list[str] = []
    proxy = cohort_child_proxy(release, child_keys, grandchild_started)
    async with make_engine(proxy, workers=4) as engine:
        key = await engine.create("parent")
        await engine.start(key)
        try:
            await asyncio.wait_for(grandchild_started.wait(), 30)
            child_key, grandchild_key = child_keys

            async def boom_failed() -> bool:
                statuses = await step_statuses(engine, child_key)
                return statuses.get("boom") == [Status.FAILED]

            await wait_until(boom_failed, "the boom branch fails")
            child_meanwhile = await engine.snapshot(child_key)
            root_meanwhile = await engine.snapshot(key)
            # Someone is already waiting on the child when its cohort resolves.
            child_wait = asyncio.create_task(engine.await_flow(child_key, timeout=30))
        finally:
            release.set()
        outcome = await engine.await_flow(key, timeout=30)
        child = await child_wait
        grandchild = await engine.await_flow(grandchild_key, timeout=30)

    # A failed branch does not end the child while its sibling is parked on a grandchild.
    assert child_meanwhile.status is Status.RUNNING
    assert root_meanwhile.status is Status.RUNNING
    # Once the sibling arrives the cohort resolves with its failure: the child fails, and the
    # failure reaches the parent's subgraph call, which does not handle it.
    assert child.status is Status.FAILED
    assert "boom-branch-failed" in child.error
    assert outcome.status is Status.FAILED
    assert "boom-branch-failed" in outcome.error
    # Nothing in the tree was left behind.
    assert grandchild.status is Status.COMPLETED


async def test_cancelling_the_root_cancels_every_branchs_running_child(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    outer = Graph("outer")
    outer.add_transition_for_each("split", "call", "items", "n")
    outer.add_transition_chain("call", "join", END)
    outer.set_fan_in("join")
    proxy.handle_graph("outer", outer)
    child = Graph("child")
    child.add_transition_chain("block", "afterBlock", END)
    proxy.handle_graph("child", child)
    release = asyncio.Event()
    child_keys: list[str] = []
    ran_after: list[str] = []
    noop_tasks(proxy, "split")

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        flow.subgraph("child")

    @proxy.task("block")
    async def block(flow: Flow) -> None:
        child_keys.append(flow.flow_key)
        await release.wait()

    @proxy.task("afterBlock")
    async def after_block(flow: Flow) -> None:
        ran_after.append(flow.flow_key)

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        ran_after.append("join")

    async with make_engine(proxy, workers=4) as engine:
        key = await engine.create("outer", {"items": [1, 2, 3]})
        await engine.start(key)
        try:

            async def three_children_blocked() -> bool:
                return len(child_keys) == 3

            await wait_until(three_children_blocked, "three children block")
            await engine.cancel(key, "abort")
        finally:
            release.set()
        outcome = await engine.await_flow(key, timeout=30)
        children = [await engine.await_flow(k, timeout=30) for k in child_keys]
    # Shut down so the released tasks' late writes are done; inspect from a fresh replica.
    async with make_engine(proxy, workers=0) as inspector:
        children_after = [await inspector.snapshot(k) for k in child_keys]
        child_steps = [await step_statuses(inspector, k) for k in child_keys]
        parent_steps = await step_statuses(inspector, key)

    assert outcome.status is Status.CANCELLED
    assert outcome.cancel_reason == "abort"
    assert [(c.status, c.cancel_reason) for c in children] == [(Status.CANCELLED, "abort")] * 3
    assert [c.status for c in children_after] == [Status.CANCELLED] * 3
    assert child_steps == [{"block": [Status.CANCELLED]}] * 3
    assert parent_steps == {"split": [Status.COMPLETED], "call": [Status.CANCELLED] * 3}
    assert ran_after == []


async def test_a_branch_callers_on_error_handles_its_childs_failure_and_joins_the_fan_in(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = fan_out("guarded", "src", ["plain", "call"], "join")
    graph.add_transition_on_error("call", "handler")
    graph.add_transition("handler", "join")
    graph.set_reducer("parts", Reducer.APPEND)
    proxy.handle_graph("guarded", graph)
    child = Graph("fragile")
    child.add_transition("explode", END)
    proxy.handle_graph("fragile", child)
    noop_tasks(proxy, "src")

    @proxy.task("plain")
    async def plain(flow: Flow) -> None:
        flow.set("parts", ["plain"])

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        flow.subgraph("fragile")
        flow.set("parts", ["call"])

    @proxy.task("explode")
    async def explode(flow: Flow) -> None:
        raise RuntimeError("fragile child broke")

    @proxy.task("handler")
    async def handler(flow: Flow) -> None:
        flow.set("parts", ["handled: " + flow.get("onErr", dict)["error"]])

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        flow.set_string("summary", " | ".join(flow.get_strings("parts")))

    async with make_engine(proxy) as engine:
        outcome = await engine.run("guarded", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["summary"] == "plain | handled: fragile child broke"


async def test_a_fan_in_task_can_call_a_subgraph_with_the_merged_state(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = fan_out("gather", "src", ["a", "b"], "summarize")
    graph.set_reducer("vals", Reducer.APPEND)
    proxy.handle_graph("gather", graph)
    child = Graph("sum")
    child.add_transition("add", END)
    proxy.handle_graph("sum", child)
    noop_tasks(proxy, "src")
    fan_in_runs: list[list[int]] = []

    for name, value in (("a", 3), ("b", 4)):

        async def branch(flow: Flow, value: int = value) -> None:
            flow.set("vals", [value])

        proxy.handle_task(name, branch)

    @proxy.task("summarize")
    async def summarize(flow: Flow) -> None:
        fan_in_runs.append(flow.get("vals", list[int]))
        out = flow.subgraph("sum", {"vals": flow.get("vals", list[int])})
        flow.set_int("total", out["total"])

    @proxy.task("add")
    async def add(flow: Flow) -> None:
        flow.set_int("total", sum(flow.get("vals", list[int])))

    async with make_engine(proxy) as engine:
        outcome = await engine.run("gather", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["total"] == 7
    # The fan-in ran once to launch the child and once more to take its result.
    assert fan_in_runs == [[3, 4], [3, 4]]
