"""Failures, error routes, retries and cancellation inside fan-out branches.

docs/internals/fan-in.md#f9: a branch that fails unhandled counts as an arrival with a failure, and
the flow fails only once its whole cohort has arrived, so siblings keep running until then and the
fan-in never runs. An onError route inside a branch continues that branch, and the cohort converges
as usual. A retry re-runs the same step row, so it never counts twice. A cancelled flow's branches
stop where they are: a sibling still running when the flow is cancelled cannot complete its step,
reach the fan-in or revive the flow. Single-level basics (failedfanoutflow, fanouterrorflow,
onerrorsiblingsflow, cancelledfanoutflow) are in ``test_fan_out.py``; this module covers nested
cohorts, multi-step branches and the interplay with retries.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.engine._dispatch._poll_timer import PollTimer
from dwarf.workflow import END, Flow, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine

_WAIT = 10.0


def _graph(name: str, *tasks: str) -> Graph:
    """A graph whose tasks are dispatched to URLs equal to their names (the first is the entry)."""
    graph = Graph(name)
    for task in tasks:
        graph.add_task(task, task)
    return graph


async def _until(predicate: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (bounded) until ``predicate`` holds; fail the test naming ``what`` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _WAIT
    while not await predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _step_failed(engine: Engine, flow_key: str, task: str) -> bool:
    return any(
        step.task_name == task and step.status is Status.FAILED
        for step in await engine.history(flow_key)
    )


async def test_failing_cell_of_nested_for_each_fails_the_flow_only_after_every_sibling(
    make_engine: MakeEngine,
) -> None:
    # nestedfailfanoutflow: A -forEach-> O -forEach-> I -> JoinI -> JoinO, cell (1, 1) fails.
    graph = _graph("nested", "A", "O", "I", "JoinI", "JoinO")
    graph.set_fan_in("JoinI")
    graph.set_fan_in("JoinO")
    graph.add_transition_for_each("A", "O", "outers", "outerItem")
    graph.add_transition_for_each("O", "I", "inners", "innerItem")
    graph.add_transition_chain("I", "JoinI", "JoinO", END)
    proxy = TestProxy()
    proxy.handle_graph("nested", graph)
    counts: Counter[str] = Counter()
    all_started = asyncio.Event()
    gate = asyncio.Event()

    async def a(flow: Flow) -> None:
        flow.set("outers", [0, 1, 2])

    async def o(flow: Flow) -> None:
        flow.set("inners", [0, 1, 2])
        flow.set_int("currentOuter", flow.get_int("outerItem"))

    async def i(flow: Flow) -> None:
        counts["started"] += 1
        if counts["started"] == 9:
            all_started.set()
        if flow.get_int("currentOuter") == 1 and flow.get_int("innerItem") == 1:
            raise RuntimeError("simulated failure at outer=1 inner=1")
        await asyncio.wait_for(gate.wait(), _WAIT)
        counts["completed"] += 1

    async def join_i(flow: Flow) -> None:
        counts["JoinI"] += 1

    async def join_o(flow: Flow) -> None:
        counts["JoinO"] += 1

    for name, handler in (("A", a), ("O", o), ("I", i), ("JoinI", join_i), ("JoinO", join_o)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy, workers=12) as engine:
        key = await engine.create("nested")
        await engine.start(key)
        await asyncio.wait_for(all_started.wait(), _WAIT)
        await _until(lambda: _step_failed(engine, key, "I"), "the failing cell to be recorded")
        while_siblings_run = await engine.snapshot(key)
        gate.set()
        outcome = await engine.await_flow(key, timeout=30)
        history = await engine.history(key)

    assert while_siblings_run.status is Status.RUNNING
    assert outcome.status is Status.FAILED
    assert "simulated failure at outer=1 inner=1" in outcome.error
    assert counts == {"started": 9, "completed": 8, "JoinI": 2}
    statuses = Counter((step.task_name, step.status) for step in history)
    assert statuses[("I", Status.COMPLETED)] == 8
    assert statuses[("I", Status.FAILED)] == 1
    assert statuses[("JoinI", Status.COMPLETED)] == 2
    assert not any(step.task_name == "JoinO" for step in history)


async def test_branch_with_no_onward_edge_fails_the_flow_after_its_live_sibling(
    make_engine: MakeEngine,
) -> None:
    # cohortdeadendflow: Work's only edge is conditional; item 0 dead-ends inside the cohort.
    graph = _graph("deadend", "Spawn", "Work", "Join")
    graph.set_fan_in("Join")
    graph.add_transition_for_each("Spawn", "Work", "items", "item")
    graph.add_transition_when("Work", "Join", "ok == true")
    graph.add_transition("Join", END)
    proxy = TestProxy()
    proxy.handle_graph("deadend", graph)
    events: list[str] = []
    seen_by_sibling: list[Status] = []
    engine_box: list[Engine] = []

    async def spawn(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        if flow.get_int("item") == 0:
            flow.set_bool("ok", False)
            return
        # The live sibling waits until the dead end has been disposed of, then looks at the flow.
        engine = engine_box[0]
        await _until(lambda: _step_failed(engine, flow.flow_key, "Work"), "the dead end to fail")
        seen_by_sibling.append((await engine.snapshot(flow.flow_key)).status)
        events.append("sibling finished")
        flow.set_bool("ok", True)

    async def join(flow: Flow) -> None:
        events.append("join")

    for name, handler in (("Spawn", spawn), ("Work", work), ("Join", join)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        engine_box.append(engine)
        outcome = await engine.run("deadend", {"items": [0, 1]}, timeout=30)

    assert outcome.status is Status.FAILED
    assert "Work" in outcome.error
    assert seen_by_sibling == [Status.RUNNING]
    assert events == ["sibling finished"]


async def test_cohort_whose_branches_all_converge_completes_through_the_trunk(
    make_engine: MakeEngine,
) -> None:
    # cohortdeadendflow, negative control: a trunk step routed to END completes the flow.
    graph = _graph("converges", "Spawn", "Work", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("done", Reducer.ADD)
    graph.add_transition_for_each("Spawn", "Work", "items", "item")
    graph.add_transition_chain("Work", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("converges", graph)

    async def nothing(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        flow.set_int("done", 1)

    for name, handler in (("Spawn", nothing), ("Work", work), ("Join", nothing)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("converges", {"items": [0, 1, 2]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["done"] == 3


async def test_on_error_inside_an_inner_branch_lets_both_cohorts_converge(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("grid", "Seed", "Row", "Cell", "Fix", "JoinRow", "JoinGrid")
    graph.set_fan_in("JoinRow")
    graph.set_fan_in("JoinGrid")
    graph.set_reducer("cells", Reducer.APPEND)
    graph.add_transition_for_each("Seed", "Row", "rows", "row")
    graph.add_transition_for_each("Row", "Cell", "cols", "col")
    graph.add_transition("Cell", "JoinRow")
    graph.add_transition_on_error("Cell", "Fix")
    graph.add_transition("Fix", "JoinRow")
    graph.add_transition_chain("JoinRow", "JoinGrid", END)
    proxy = TestProxy()
    proxy.handle_graph("grid", graph)
    joins: Counter[str] = Counter()

    async def seed(flow: Flow) -> None:
        flow.set("rows", [0, 1, 2])

    async def row(flow: Flow) -> None:
        flow.set("cols", [0, 1, 2])

    async def cell(flow: Flow) -> None:
        name = f"{flow.get_int('row')}.{flow.get_int('col')}"
        flow.set("cells", [name + " (lost)"])
        if name == "1.1":
            raise RuntimeError("cell 1.1 is broken")
        flow.set("cells", [name])

    async def fix(flow: Flow) -> None:
        error = flow.get("onErr", dict)["error"]
        flow.set("cells", [f"fixed {flow.get_int('row')}.{flow.get_int('col')}: {error}"])

    async def join_row(flow: Flow) -> None:
        joins["JoinRow"] += 1

    async def join_grid(flow: Flow) -> None:
        joins["JoinGrid"] += 1

    for name, handler in (
        ("Seed", seed),
        ("Row", row),
        ("Cell", cell),
        ("Fix", fix),
        ("JoinRow", join_row),
        ("JoinGrid", join_grid),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("grid", timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["cells"] == [
        "0.0",
        "0.1",
        "0.2",
        "1.0",
        "fixed 1.1: cell 1.1 is broken",
        "1.2",
        "2.0",
        "2.1",
        "2.2",
    ]
    assert joins == {"JoinRow": 3, "JoinGrid": 1}


async def test_on_error_handler_continuing_a_multi_step_branch_keeps_its_place_in_order(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("recover", "Split", "Work", "Recover", "Post", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("results", Reducer.APPEND)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition("Work", "Post")
    graph.add_transition_on_error("Work", "Recover")
    graph.add_transition("Recover", "Post")
    graph.add_transition_chain("Post", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("recover", graph)

    async def split(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        flow.set_string("label", "lost")
        if flow.get_string("item") == "b":
            raise RuntimeError("b cannot be worked")
        flow.set_string("label", flow.get_string("item"))

    async def recover(flow: Flow) -> None:
        assert flow.get_string("label") == ""  # the failed attempt's writes are void
        flow.set_string("label", "recovered:" + flow.get_string("item"))

    async def post(flow: Flow) -> None:
        flow.set("results", [flow.get_string("label")])

    async def join(flow: Flow) -> None:
        flow.set_int("joined", len(flow.get_strings("results")))

    for name, handler in (
        ("Split", split),
        ("Work", work),
        ("Recover", recover),
        ("Post", post),
        ("Join", join),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("recover", {"items": ["a", "b", "c", "d"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["results"] == ["a", "recovered:b", "c", "d"]
    assert outcome.state["joined"] == 4


async def test_failing_on_error_handler_inside_a_branch_fails_the_flow_without_the_fan_in(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("handlerfails", "Split", "Work", "Recover", "Join")
    graph.set_fan_in("Join")
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition("Work", "Join")
    graph.add_transition_on_error("Work", "Recover")
    graph.add_transition_chain("Recover", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("handlerfails", graph)
    ran: Counter[str] = Counter()

    async def split(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        ran["Work"] += 1
        if flow.get_string("item") == "b":
            raise RuntimeError("b cannot be worked")

    async def recover(flow: Flow) -> None:
        ran["Recover"] += 1
        raise RuntimeError("and b cannot be recovered either")

    async def join(flow: Flow) -> None:
        ran["Join"] += 1

    for name, handler in (("Split", split), ("Work", work), ("Recover", recover), ("Join", join)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("handlerfails", {"items": ["a", "b", "c"]}, timeout=30)

    assert outcome.status is Status.FAILED
    assert "and b cannot be recovered either" in outcome.error
    assert ran == {"Work": 3, "Recover": 1}


async def test_failed_branch_contributes_nothing_to_the_failed_flows_state(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("failstate", "Seed", "Cell", "Enrich", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("enriched", Reducer.APPEND)
    graph.add_transition_for_each("Seed", "Cell", "items", "item")
    graph.add_transition_chain("Cell", "Enrich", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("failstate", graph)

    async def nothing(flow: Flow) -> None:
        pass

    async def enrich(flow: Flow) -> None:
        flow.set("enriched", ["enriched:" + flow.get_string("item")])
        if flow.get_string("item") == "b":
            raise RuntimeError("branch b failed at Enrich")

    for name, handler in (("Seed", nothing), ("Cell", nothing), ("Enrich", enrich)):
        proxy.handle_task(name, handler)
    proxy.handle_task("Join", nothing)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("failstate", {"items": ["a", "b", "c"]}, timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.error == "branch b failed at Enrich"
    assert sorted(outcome.state["enriched"]) == ["enriched:a", "enriched:c"]
    assert outcome.state["items"] == ["a", "b", "c"]


async def test_failed_for_each_leaves_no_branch_bookkeeping_in_the_final_state(
    make_engine: MakeEngine,
) -> None:
    # foreachstrip: a cohort that never reaches its fan-in still must not leak one branch's
    # element (whichever happened to be the merge base) into the flow's final state.
    graph = _graph("failstrip", "Split", "Page", "Join")
    graph.set_fan_in("Join")
    graph.add_transition_for_each("Split", "Page", "pages", "page")
    graph.add_transition_chain("Page", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("failstrip", graph)

    async def nothing(flow: Flow) -> None:
        pass

    async def page(flow: Flow) -> None:
        if flow.get_string("page") == "bad":
            raise RuntimeError("branch failed")

    for name, handler in (("Split", nothing), ("Page", page), ("Join", nothing)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("failstrip", {"pages": ["ok1", "bad", "ok2"]}, timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.state == {"pages": ["ok1", "bad", "ok2"]}


async def test_branch_that_exhausts_its_retries_fails_the_flow_after_its_siblings(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("exhaust", "Split", "Work", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("done", Reducer.APPEND)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition_chain("Work", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("exhaust", graph)
    attempts: Counter[str] = Counter()
    ran: Counter[str] = Counter()

    async def split(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        item = flow.get_string("item")
        attempts[item] += 1
        if item == "b":
            if flow.retry(3, 0, 0, 0):
                return
            raise RuntimeError(f"b gave up after attempt {flow.attempt}")
        flow.set("done", [item])

    async def join(flow: Flow) -> None:
        ran["Join"] += 1

    for name, handler in (("Split", split), ("Work", work), ("Join", join)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("exhaust", {"items": ["a", "b", "c"]}, timeout=30)
        history = await engine.history(outcome.flow_key)

    assert outcome.status is Status.FAILED
    assert outcome.error == "b gave up after attempt 3"
    assert attempts == {"a": 1, "b": 4, "c": 1}
    assert ran == {}
    # One row per branch: the retries re-ran the same step.
    work_steps = [step for step in history if step.task_name == "Work"]
    assert sorted((step.status, step.attempt) for step in work_steps) == sorted(
        [(Status.COMPLETED, 0), (Status.COMPLETED, 0), (Status.FAILED, 3)]
    )


async def test_retried_inner_branches_are_folded_exactly_once(make_engine: MakeEngine) -> None:
    graph = _graph("retrygrid", "Seed", "Row", "Cell", "JoinRow", "JoinGrid")
    graph.set_fan_in("JoinRow")
    graph.set_fan_in("JoinGrid")
    graph.set_reducer("total", Reducer.ADD)
    graph.set_reducer("cells", Reducer.APPEND)
    graph.add_transition_for_each("Seed", "Row", "rows", "row")
    graph.add_transition_for_each("Row", "Cell", "cols", "col")
    graph.add_transition_chain("Cell", "JoinRow", "JoinGrid", END)
    proxy = TestProxy()
    proxy.handle_graph("retrygrid", graph)
    runs: Counter[str] = Counter()

    async def seed(flow: Flow) -> None:
        flow.set("rows", [0, 1, 2])

    async def row(flow: Flow) -> None:
        flow.set("cols", [0, 1, 2, 3])

    async def cell(flow: Flow) -> None:
        r, c = flow.get_int("row"), flow.get_int("col")
        runs[f"{r}.{c}"] += 1
        flow.set_int("total", 10 * r + c)
        flow.set("cells", [f"{r}.{c}"])
        # Odd columns retry twice (no delay) before succeeding.
        if c % 2 == 1 and flow.retry(2, 0, 0, 0):
            return

    async def join_row(flow: Flow) -> None:
        runs["JoinRow"] += 1

    async def join_grid(flow: Flow) -> None:
        runs["JoinGrid"] += 1

    for name, handler in (
        ("Seed", seed),
        ("Row", row),
        ("Cell", cell),
        ("JoinRow", join_row),
        ("JoinGrid", join_grid),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("retrygrid", timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    cells = [f"{r}.{c}" for r in range(3) for c in range(4)]
    assert outcome.state["cells"] == cells
    assert outcome.state["total"] == sum(10 * r + c for r in range(3) for c in range(4))
    assert {cell: runs[cell] for cell in cells} == {
        cell: 3 if int(cell[-1]) % 2 else 1 for cell in cells
    }
    assert (runs["JoinRow"], runs["JoinGrid"]) == (3, 1)


@pytest.mark.sqlite_only
async def test_delayed_retry_armed_during_a_poll_still_runs_when_due(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # White-box: hold the poll timer's first poll open until a branch has armed a delayed retry,
    # which is the window a busy database leaves open by itself (seen flaking the doc-extraction
    # fixture on MariaDB). The retry must still run once its delay has passed.
    woken = asyncio.Event()
    polls = 0
    real_poll = PollTimer._poll_once
    real_wake = PollTimer.wake_in

    async def slow_first_poll(self: PollTimer) -> float:
        nonlocal polls
        polls += 1
        delay = await real_poll(self)
        if polls == 1:
            await asyncio.wait_for(woken.wait(), _WAIT)
        return delay

    def wake_in(self: PollTimer, delay: timedelta) -> None:
        woken.set()
        real_wake(self, delay)

    monkeypatch.setattr(PollTimer, "_poll_once", slow_first_poll)
    monkeypatch.setattr(PollTimer, "wake_in", wake_in)

    graph = _graph("later", "Split", "Work", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("done", Reducer.APPEND)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition_chain("Work", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("later", graph)

    async def nothing(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        # Only one branch retries: a second retry's wake_in would mask the lost one.
        if flow.get_string("item") == "a" and flow.retry(1, 0.2, 1.0, 0.2):
            return
        flow.set("done", [flow.get_string("item")])

    for name, handler in (("Split", nothing), ("Work", work), ("Join", nothing)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("later", {"items": ["a", "b"]}, timeout=5)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["done"] == ["a", "b"]


async def test_cancel_mid_nested_fan_out_stops_every_branch_and_never_runs_a_fan_in(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("cancel", "Seed", "Row", "Cell", "JoinRow", "JoinGrid")
    graph.set_fan_in("JoinRow")
    graph.set_fan_in("JoinGrid")
    graph.add_transition_for_each("Seed", "Row", "rows", "row")
    graph.add_transition_for_each("Row", "Cell", "cols", "col")
    graph.add_transition_chain("Cell", "JoinRow", "JoinGrid", END)
    proxy = TestProxy()
    proxy.handle_graph("cancel", graph)
    ran: Counter[str] = Counter()
    all_started = asyncio.Event()
    gate = asyncio.Event()

    async def seed(flow: Flow) -> None:
        flow.set("rows", [0, 1])

    async def row(flow: Flow) -> None:
        flow.set("cols", [0, 1])

    async def cell(flow: Flow) -> None:
        ran["Cell started"] += 1
        if ran["Cell started"] == 4:
            all_started.set()
        await asyncio.wait_for(gate.wait(), _WAIT)
        ran["Cell finished"] += 1
        flow.set_int("late", 1)

    async def join(flow: Flow) -> None:
        ran["join"] += 1

    for name, handler in (("Seed", seed), ("Row", row), ("Cell", cell)):
        proxy.handle_task(name, handler)
    proxy.handle_task("JoinRow", join)
    proxy.handle_task("JoinGrid", join)

    async with make_engine(proxy) as engine:
        key = await engine.create("cancel")
        await engine.start(key)
        await asyncio.wait_for(all_started.wait(), _WAIT)
        await engine.cancel(key, "operator said stop")
        cancelled = await engine.await_flow(key, timeout=30)
        # The in-flight branches now finish; shutting the engine down waits for their writes.
        gate.set()
    async with make_engine(proxy, workers=0) as reader:
        after = await reader.snapshot(key)
        history = await reader.history(key)

    assert cancelled.status is Status.CANCELLED
    assert cancelled.cancel_reason == "operator said stop"
    assert ran == {"Cell started": 4, "Cell finished": 4}
    assert after.status is Status.CANCELLED
    assert "late" not in after.state
    assert Counter((step.task_name, step.status) for step in history) == {
        ("Seed", Status.COMPLETED): 1,
        ("Row", Status.COMPLETED): 2,
        ("Cell", Status.CANCELLED): 4,
    }
