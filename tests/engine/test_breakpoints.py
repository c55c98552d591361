"""Breakpoints pause a flow before a task runs; resume_break lets the task run, overlaid."""

from __future__ import annotations

from typing import Any

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOutcome, Graph, Status
from tests.engine.rewind_support import Runs, expect_error, linear_proxy, subgraph_proxy
from tests.fixtures.engines import MakeEngine


async def test_break_before_pauses_before_the_task_and_resume_break_runs_it(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        key = await engine.create("abc", {"seed": "s", "keep": 1})
        await engine.break_before(key, "b", True)
        await engine.start(key)
        paused = await engine.await_flow(key, timeout=30)
        assert paused.status is Status.INTERRUPTED
        assert runs.count == {"a": 1}
        # The paused step's input is what the task is about to see.
        assert paused.state["seed"] == "s"

        await engine.resume_break(key, {"seed": "patched", "keep": None})
        outcome = await engine.await_flow(key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["bSaw"] == "patched"
    assert runs.count == {"a": 1, "b": 1, "c": 1}


async def test_a_breakpoint_override_of_null_reaches_the_task_as_null(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("one")
    graph.add_transition_chain("first", "probe", END)
    proxy.handle_graph("one", graph)
    seen: list[dict[str, Any]] = []

    @proxy.task("first")
    async def first(flow: Flow) -> None:
        flow.set_int("n", 1)

    @proxy.task("probe")
    async def probe(flow: Flow) -> None:
        seen.append(flow.snapshot())

    async with make_engine(proxy) as engine:
        key = await engine.create("one", {})
        await engine.break_before(key, "probe", True)
        await engine.start(key)
        await engine.await_flow(key, timeout=30)
        await engine.resume_break(key, {"n": None})
        await engine.await_flow(key, timeout=30)

    assert seen == [{"n": None}]


async def test_breakpoints_match_a_task_url_and_can_be_removed(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("urls")
    graph.add_task("first", "svc/first")
    graph.add_task("second", "svc/second")
    graph.add_transition_chain("first", "second", "third", END)
    proxy.handle_graph("urls", graph)
    ran: list[str] = []
    for url in ("svc/first", "svc/second", "third"):

        async def handler(flow: Flow, url: str = url) -> None:
            ran.append(url)

        proxy.handle_task(url, handler)

    async with make_engine(proxy) as engine:
        key = await engine.create("urls", {})
        await engine.break_before(key, "svc/second", True)
        await engine.break_before(key, "third", True)
        await engine.break_before(key, "third", False)
        await engine.start(key)
        assert (await engine.await_flow(key, timeout=30)).status is Status.INTERRUPTED
        assert ran == ["svc/first"]
        await engine.resume_break(key)
        assert (await engine.await_flow(key, timeout=30)).status is Status.COMPLETED

    assert ran == ["svc/first", "svc/second", "third"]


async def test_a_breakpoint_pause_fires_the_stop_callback(make_engine: MakeEngine) -> None:
    runs = Runs()
    calls: list[tuple[str, FlowOutcome]] = []

    async def stopped(host: str, outcome: FlowOutcome) -> None:
        calls.append((host, outcome))

    async with make_engine(linear_proxy(runs), flow_stopped_callback=stopped) as engine:
        key = await engine.create("abc", {})
        await engine.break_before(key, "c", True)
        await engine.start_notify(key, "host-1")
        await engine.await_flow(key, timeout=30)
        await engine.resume_break(key)
        await engine.await_flow(key, timeout=30)
        await engine.shutdown()  # drains the background callbacks

    assert [(host, outcome.flow_key, outcome.status) for host, outcome in calls] == [
        ("host-1", key, Status.INTERRUPTED),
        ("host-1", key, Status.COMPLETED),
    ]


async def test_resume_and_resume_break_each_refuse_the_other_kind_of_pause(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("ask")
    graph.add_transition_chain("ask", "after", END)
    proxy.handle_graph("ask", graph)

    @proxy.task("ask")
    async def ask(flow: Flow) -> None:
        flow.set("answer", flow.interrupt({"q": "?"}))

    @proxy.task("after")
    async def after(flow: Flow) -> None:
        flow.set_bool("after", True)

    async with make_engine(proxy) as engine:
        key = await engine.create("ask", {})
        await engine.break_before(key, "after", True)
        await engine.start(key)
        await engine.await_flow(key, timeout=30)
        await expect_error(409, engine.resume_break(key), match="use resume")
        await engine.resume(key, {"a": 1})
        await engine.await_flow(key, timeout=30)
        await expect_error(409, engine.resume(key, {}), match="resume_break")
        await engine.resume_break(key)
        outcome = await engine.await_flow(key, timeout=30)
        await expect_error(409, engine.resume_break(key), match="completed")

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"answer": {"a": 1}, "after": True}


async def test_breakpoint_operations_reject_bad_input_and_unknown_flows(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        key = await engine.create("abc", {})
        shard, flow_id, _ = key.split("-")
        unknown = f"{shard}-{flow_id}-0123456789abcdef"
        await expect_error(404, engine.break_before(unknown, "b", True))
        await expect_error(404, engine.resume_break(unknown))
        await expect_error(400, engine.break_before(key, "", True))
        await expect_error(400, engine.break_before(key, "b", "yes"))  # type: ignore[arg-type]
        await expect_error(400, engine.break_before("x", "b", True))
        await expect_error(409, engine.resume_break(key), match="created")
        await expect_error(400, engine.resume_break(key, [1]))  # type: ignore[arg-type]


async def test_a_breakpoint_inside_a_subgraph_pauses_the_root_and_resumes_from_it(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(subgraph_proxy(runs)) as engine:
        key = await engine.create("parent", {"seed": "s", "fix": True})
        await engine.break_before(key, "y", True)  # children inherit the parent's breakpoints
        await engine.start(key)
        paused = await engine.await_flow(key, timeout=30)
        assert paused.status is Status.INTERRUPTED
        assert runs.count["x"] == 1
        assert "y" not in runs.count
        await engine.resume_break(key, {"xr": "patched"})
        outcome = await engine.await_flow(key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["sub"] == "Y(patched)"
    assert runs.count["y"] == 1
