"""Restart re-runs a stopped flow from its entry step, its input overlaid by the overrides."""

from __future__ import annotations

import asyncio

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.engine.rewind_support import (
    Runs,
    expect_error,
    fan_out_proxy,
    linear_proxy,
    subgraph_proxy,
)
from tests.fixtures.engines import MakeEngine


async def test_restart_reruns_a_completed_flow_from_the_entry_with_overrides(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        first = await engine.run("abc", {"seed": "orig", "extra": 1}, timeout=30)
        assert first.status is Status.COMPLETED
        assert first.state["bSaw"] == "orig"

        await engine.restart(first.flow_key, {"seed": "again", "extra": None})
        again = await engine.await_flow(first.flow_key, timeout=30)

    assert again.status is Status.COMPLETED
    assert again.flow_key == first.flow_key
    assert again.state["bSaw"] == "again"
    # A null override deletes the key; the entry re-ran on its original input, not its output.
    assert "extra" not in again.state
    assert again.state["aRuns"] == 1
    assert runs.count == {"a": 2, "b": 2, "c": 2}


async def test_restart_recovers_a_failed_flow_and_clears_its_error(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs, fail_unless="ok")) as engine:
        failed = await engine.run("abc", {}, timeout=30)
        assert failed.status is Status.FAILED
        assert "c needs ok" in failed.error

        await engine.restart(failed.flow_key, {"ok": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.error == ""
    assert outcome.state["done"] is True


async def test_restart_resumes_work_of_a_cancelled_flow(make_engine: MakeEngine) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        key = await engine.create("abc", {"seed": "s"})
        await engine.cancel(key, "not now")
        await engine.restart(key)
        outcome = await engine.await_flow(key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.cancel_reason == ""
    assert runs.count == {"a": 1, "b": 1, "c": 1}


async def test_restart_of_an_interrupted_flow_starts_over(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("ask")
    graph.add_transition_chain("prep", "ask", END)
    proxy.handle_graph("ask", graph)
    preps = 0

    @proxy.task("prep")
    async def prep(flow: Flow) -> None:
        nonlocal preps
        preps += 1

    @proxy.task("ask")
    async def ask(flow: Flow) -> None:
        if flow.get_bool("auto"):
            flow.set_string("answer", "auto")
            return
        flow.set_string("answer", flow.interrupt({"q": "?"})["a"])

    async with make_engine(proxy) as engine:
        paused = await engine.run("ask", {}, timeout=30)
        assert paused.status is Status.INTERRUPTED
        await engine.restart(paused.flow_key, {"auto": True})
        outcome = await engine.await_flow(paused.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["answer"] == "auto"
    assert preps == 2


async def test_restart_reruns_every_branch_of_a_failed_fan_out(make_engine: MakeEngine) -> None:
    runs = Runs()
    async with make_engine(fan_out_proxy(runs, failing=frozenset({1}))) as engine:
        failed = await engine.run("fan", {}, timeout=30)
        assert failed.status is Status.FAILED
        await engine.restart(failed.flow_key, {"fix": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["joined"] == [0, 1, 2]
    assert runs.count["seed"] == 2
    assert [runs.count[f"cell{i}"] for i in range(3)] == [2, 2, 2]
    assert runs.count["join"] == 1


async def test_restart_of_a_running_or_created_flow_is_a_conflict(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    gate = asyncio.Event()
    async with make_engine(linear_proxy(runs, gate=gate)) as engine:
        created = await engine.create("abc", {})
        await expect_error(409, engine.restart(created))

        running = await engine.create("abc", {})
        await engine.start(running)
        try:
            await runs.wait_for("c")
            await expect_error(409, engine.restart(running), match="running")
        finally:
            gate.set()
        assert (await engine.await_flow(running, timeout=30)).status is Status.COMPLETED


async def test_restart_rejects_unknown_and_malformed_keys_and_bad_overrides(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        done = await engine.run("abc", {}, timeout=30)
        shard, flow_id, _ = done.flow_key.split("-")
        await expect_error(404, engine.restart(f"{shard}-{flow_id}-0000000000000000"))
        await expect_error(404, engine.restart(f"{shard}-99999-0000000000000000"))
        await expect_error(400, engine.restart("not-a-key"))
        await expect_error(400, engine.restart(done.flow_key, ["x"]))  # type: ignore[arg-type]


async def test_restart_drops_the_old_subgraph_and_runs_a_fresh_one(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(subgraph_proxy(runs)) as engine:
        failed = await engine.run("parent", {"seed": "s"}, timeout=30)
        assert failed.status is Status.FAILED
        old_child = runs.keys["child"][0]
        await expect_error(400, engine.restart(old_child), match="subgraph")

        await engine.restart(failed.flow_key, {"fix": True})
        outcome = await engine.await_flow(failed.flow_key, timeout=30)
        await expect_error(404, engine.snapshot(old_child))

    assert outcome.status is Status.COMPLETED
    assert outcome.state["sub"] == "Y(s)"
    # runsub runs twice per launch: once to call the child, once to take its outcome.
    assert runs.count == {"a": 2, "runsub": 4, "x": 2, "y": 2, "c": 1}
