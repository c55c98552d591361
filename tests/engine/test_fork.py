"""Fork copies a stopped flow up to a step into a new running flow; the origin is untouched."""

from __future__ import annotations

import asyncio

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Reducer, Status
from tests.engine.rewind_support import (
    Runs,
    cell_key,
    expect_error,
    fan_out_proxy,
    linear_proxy,
    subgraph_proxy,
)
from tests.fixtures.engines import MakeEngine


async def test_fork_reruns_from_the_step_with_overrides_and_leaves_the_origin_alone(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        origin = await engine.run("abc", {"seed": "orig", "gone": 1}, timeout=30)
        fork_key = await engine.fork(runs.key("b"), {"seed": "forked", "gone": None})
        assert fork_key != origin.flow_key
        forked = await engine.await_flow(fork_key, timeout=30)
        after = await engine.snapshot(origin.flow_key)

    assert forked.status is Status.COMPLETED
    assert forked.state["bSaw"] == "forked"
    assert forked.state["done"] is True
    assert forked.state["aRuns"] == 1  # a's output was copied, not re-run
    assert "gone" not in forked.state  # a null override deletes the key
    assert runs.count == {"a": 1, "b": 2, "c": 2}
    assert after == origin


async def test_fork_at_the_failed_step_recovers_while_the_origin_stays_failed(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs, fail_unless="ok")) as engine:
        origin = await engine.run("abc", {}, timeout=30)
        assert origin.status is Status.FAILED
        forked = await engine.await_flow(await engine.fork(runs.key("c"), {"ok": True}), timeout=30)
        after = await engine.snapshot(origin.flow_key)

    assert forked.status is Status.COMPLETED
    assert forked.error == ""
    assert after.status is Status.FAILED
    assert runs.count == {"a": 1, "b": 1, "c": 2}


async def test_fork_of_a_fork_fixes_a_fan_out_one_branch_at_a_time(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(fan_out_proxy(runs, failing=frozenset({0, 2}))) as engine:
        origin = await engine.run("fan", {}, timeout=30)
        assert origin.status is Status.FAILED

        first = await engine.await_flow(
            await engine.fork(runs.key("cell0"), {"fix": True}), timeout=30
        )
        # Branch 2 is still broken in the copy: the fork converges to failed, it does not hang.
        assert first.status is Status.FAILED
        assert "cell 2 broken" in first.error
        assert runs.count["cell0"] == 2

        # Branch 2 of the first fork is a copy that never ran there: find it in the history.
        second_key = await engine.fork(await cell_key(engine, first.flow_key, 2), {"fix": True})
        second = await engine.await_flow(second_key, timeout=30)

    assert second.status is Status.COMPLETED
    assert second.state["joined"] == [0, 1, 2]
    assert runs.count["seed"] == 1
    assert runs.count["join"] == 1


async def test_fork_inside_a_multi_step_branch_counts_that_branch_as_not_arrived(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(fan_out_proxy(runs, failing=frozenset({1}), enrich=True)) as engine:
        origin = await engine.run("fan", {}, timeout=30)
        assert origin.status is Status.FAILED
        forked = await engine.await_flow(
            await engine.fork(runs.key("enrich1"), {"fix": True}), timeout=30
        )

    assert forked.status is Status.COMPLETED
    assert forked.state["joined"] == [0, 1, 2]
    assert [runs.count[f"cell{i}"] for i in range(3)] == [1, 1, 1]
    assert [runs.count[f"enrich{i}"] for i in range(3)] == [1, 2, 1]
    assert runs.count["join"] == 1


def _interrupting_fan_out(runs: Runs) -> TestProxy:
    """seed -forEach-> cell -> join: cell 0 interrupts unless ``skip``; the others complete."""
    proxy = TestProxy()
    graph = Graph("ask")
    graph.add_task("seed", "seed")
    graph.add_transition_for_each("seed", "cell", "items", "item")
    graph.add_transition_chain("cell", "join", END)
    graph.set_fan_in("join")
    proxy.handle_graph("ask", graph)

    @proxy.task("seed")
    async def seed(flow: Flow) -> None:
        flow.set("items", [0, 1])

    @proxy.task("cell")
    async def cell(flow: Flow) -> None:
        runs.saw(f"cell{flow.get_int('itemIndex')}", flow)
        if flow.get_int("itemIndex") == 0 and not flow.get_bool("skip"):
            flow.interrupt({"need": "input"})

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        runs.saw("join", flow)

    return proxy


async def test_fork_that_would_keep_an_interrupted_step_is_a_conflict(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(_interrupting_fan_out(runs)) as engine:
        origin = await engine.run("ask", {}, timeout=30)
        assert origin.status is Status.INTERRUPTED
        await runs.wait_for("cell1")
        await expect_error(409, engine.fork(runs.key("cell1")), match="interrupted")
        # Forking at the interrupted step itself re-runs it instead of keeping it.
        forked = await engine.await_flow(
            await engine.fork(runs.key("cell0"), {"skip": True}), timeout=30
        )
        assert (await engine.snapshot(origin.flow_key)).status is Status.INTERRUPTED

    assert forked.status is Status.COMPLETED
    assert runs.count["join"] == 1


async def test_a_fork_is_its_own_thread_so_continue_still_follows_the_origin(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        origin = await engine.run("abc", {"seed": "origin"}, timeout=30)
        forked = await engine.await_flow(
            await engine.fork(runs.key("b"), {"seed": "forked"}), timeout=30
        )
        turn = await engine.continue_thread(origin.flow_key)
        await engine.start(turn)
        continued = await engine.await_flow(turn, timeout=30)
        fork_turn = await engine.continue_thread(forked.flow_key)
        await engine.start(fork_turn)
        fork_continued = await engine.await_flow(fork_turn, timeout=30)

    assert continued.state["bSaw"] == "origin"
    assert fork_continued.state["bSaw"] == "forked"


async def test_fork_rejects_live_flows_and_bad_keys(make_engine: MakeEngine) -> None:
    runs = Runs()
    gate = asyncio.Event()
    async with make_engine(linear_proxy(runs, gate=gate)) as engine:
        running = await engine.create("abc", {})
        await engine.start(running)
        try:
            await runs.wait_for("c")
            await expect_error(409, engine.fork(runs.key("b")), match="running")
        finally:
            gate.set()
        await engine.await_flow(running, timeout=30)

        shard, step_id, _ = runs.key("b").split("-")
        await expect_error(404, engine.fork(f"{shard}-{step_id}-0000000000000000"))
        await expect_error(400, engine.fork("nope"))
        await expect_error(400, engine.fork(runs.key("b"), "x"))  # type: ignore[arg-type]


async def test_fork_at_a_subgraph_caller_runs_a_fresh_child(make_engine: MakeEngine) -> None:
    runs = Runs()
    async with make_engine(subgraph_proxy(runs)) as engine:
        origin = await engine.run("parent", {"seed": "orig", "fix": True}, timeout=30)
        fork_key = await engine.fork(runs.key("runsub", 0), {"seed": "forked"})
        forked = await engine.await_flow(fork_key, timeout=30)
        after = await engine.snapshot(origin.flow_key)

    assert forked.state["sub"] == "Y(forked)"
    assert after.state["sub"] == "Y(orig)"
    assert runs.count["x"] == 2
    assert runs.keys["child"][0] != runs.keys["child"][1]


async def test_fork_from_a_step_inside_a_subgraph_reruns_it_in_a_fresh_copy_of_the_chain(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(subgraph_proxy(runs)) as engine:
        origin = await engine.run("parent", {"seed": "orig", "fix": False}, timeout=30)
        assert origin.status is Status.FAILED
        fork_key = await engine.fork(runs.key("y", 0), {"fix": True})
        forked = await engine.await_flow(fork_key, timeout=30)
        history = await engine.history(fork_key)
        after = await engine.snapshot(origin.flow_key)

    assert forked.status is Status.COMPLETED
    assert forked.state["sub"] == "Y(orig)"  # x's output was copied, y re-ran with the fix
    assert forked.state["done"] is True
    # runsub: the origin's launch and failed re-entry, then the fork's revived re-entry only.
    assert runs.count == {"a": 1, "runsub": 3, "x": 1, "y": 2, "c": 1}
    assert after.status is Status.FAILED  # the origin is untouched
    assert [step.task_name for step in history] == ["a", "runsub", "c"]
    caller = history[1]
    assert caller.subgraph
    assert caller.status is Status.COMPLETED
    assert [(step.task_name, step.status) for step in caller.sub_history] == [
        ("x", Status.COMPLETED),
        ("y", Status.COMPLETED),
    ]


async def test_a_straggler_still_running_in_the_origin_is_copied_as_cancelled(
    make_engine: MakeEngine,
) -> None:
    # seed -forEach-> cell -> join: cell 0 interrupts (unless skip), cell 1 is held running.
    proxy = TestProxy()
    graph = Graph("held")
    graph.add_task("seed", "seed")
    graph.add_transition_for_each("seed", "cell", "items", "item")
    graph.add_transition_chain("cell", "join", END)
    graph.set_fan_in("join")
    graph.set_reducer("done", Reducer.APPEND)
    proxy.handle_graph("held", graph)
    runs = Runs()
    gate = asyncio.Event()

    @proxy.task("seed")
    async def seed(flow: Flow) -> None:
        flow.set("items", [0, 1])

    @proxy.task("cell")
    async def cell(flow: Flow) -> None:
        index = flow.get_int("itemIndex")
        runs.saw(f"cell{index}", flow)
        if index == 0 and not flow.get_bool("skip"):
            flow.interrupt({"need": "input"})
        if index == 1:
            await gate.wait()
        flow.set("done", [index])

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        flow.set("joined", sorted(flow.get("done", list[int])))

    async with make_engine(proxy) as engine:
        origin = await engine.create("held", {})
        await engine.start(origin)
        try:
            await runs.wait_for("cell1")
            assert (await engine.await_flow(origin, timeout=30)).status is Status.INTERRUPTED
            forked = await engine.await_flow(
                await engine.fork(runs.key("cell0"), {"skip": True}), timeout=30
            )
        finally:
            gate.set()

    # The held branch is frozen in the fork: it counts as arrived but contributes nothing.
    assert forked.status is Status.COMPLETED
    assert forked.state["joined"] == [0]
    assert runs.count["cell1"] == 1


async def test_fork_from_a_step_two_subgraphs_deep_copies_every_level(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    for name, task in (("top", "call_mid"), ("mid", "call_leaf"), ("leaf", "z")):
        graph = Graph(name)
        graph.add_transition_chain(task, END)
        proxy.handle_graph(name, graph)
    ran: list[str] = []
    z_keys: list[str] = []

    @proxy.task("call_mid")
    async def call_mid(flow: Flow) -> None:
        ran.append("call_mid")
        flow.set("out", flow.subgraph("mid", {"fix": flow.get_bool("fix")}).get("out"))

    @proxy.task("call_leaf")
    async def call_leaf(flow: Flow) -> None:
        ran.append("call_leaf")
        flow.set("out", flow.subgraph("leaf", {"fix": flow.get_bool("fix")}).get("out"))

    @proxy.task("z")
    async def z(flow: Flow) -> None:
        ran.append("z")
        z_keys.append(flow.step_key)
        if not flow.get_bool("fix"):
            raise RuntimeError("z broken")
        flow.set_string("out", "fixed")

    async with make_engine(proxy) as engine:
        origin = await engine.run("top", {"fix": False}, timeout=30)
        assert origin.status is Status.FAILED
        forked = await engine.await_flow(await engine.fork(z_keys[0], {"fix": True}), timeout=30)
        history = await engine.history(forked.flow_key)

    assert forked.status is Status.COMPLETED
    assert forked.state["out"] == "fixed"
    assert ran[-3:] == ["z", "call_leaf", "call_mid"]  # z re-ran; its result climbed the chain
    assert history[0].sub_history[0].sub_history[0].task_name == "z"
    assert history[0].sub_history[0].sub_history[0].step_key != z_keys[0]
