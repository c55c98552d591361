"""Interrupts inside fan-out branches: the flow waits while any branch waits, each resume reaches
the branch the snapshot names, and the other branches keep their results.

Ports upstream interruptedfanoutflow (one of three branches interrupts; add reducer total 3 after
resume) and interruptselectionflow (snapshot reports the interrupt the next resume resolves;
parallel subgraph callers whose children interrupt are resumed one by one), plus cancelling a
flow whose branch waits at an interrupt.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import DwarfError
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


async def interrupted_steps(engine: Engine, flow_key: str) -> list[str]:
    """Task names of the flow's own steps that are interrupted."""
    return [s.task_name for s in await engine.history(flow_key) if s.status is Status.INTERRUPTED]


def three_branch_proxy(runs: Counter[str]) -> TestProxy:
    """Upstream interruptedfanoutflow: src -> {a, b, c} -> j; b interrupts; ``executed`` adds."""
    proxy = TestProxy()
    graph = Graph("interrupted-fan-out")
    graph.add_transition_fan_out("src", "a", "b", "c")
    for branch in ("a", "b", "c"):
        graph.add_transition(branch, "j")
    graph.add_transition("j", END)
    graph.set_fan_in("j")
    graph.set_reducer("executed", Reducer.ADD)
    proxy.handle_graph("interrupted-fan-out", graph)

    @proxy.task("src")
    async def src(flow: Flow) -> None:
        runs["src"] += 1

    for name in ("a", "c"):

        async def plain(flow: Flow, name: str = name) -> None:
            runs[name] += 1
            flow.set_int("executed", 1)

        proxy.handle_task(name, plain)

    @proxy.task("b")
    async def b(flow: Flow) -> None:
        runs["b"] += 1
        data = flow.interrupt({"branch": "b"})
        flow.set_int("executed", 1)
        flow.set("bResumedWith", data)

    @proxy.task("j")
    async def j(flow: Flow) -> None:
        runs["j"] += 1
        flow.set_int("totalExecuted", flow.get_int("executed"))

    return proxy


async def test_one_interrupted_branch_pauses_the_flow_and_resume_sums_all_three(
    make_engine: MakeEngine,
) -> None:
    runs: Counter[str] = Counter()
    async with make_engine(three_branch_proxy(runs)) as engine:
        key = await engine.create("interrupted-fan-out")
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)

        async def siblings_done() -> bool:
            done = {s.task_name for s in await engine.history(key) if s.status is Status.COMPLETED}
            return {"a", "c"} <= done

        await wait_until(siblings_done, "branches a and c complete")
        still = await engine.snapshot(key)
        before = {s.task_name: s.status for s in await engine.history(key)}
        await engine.resume(key, {"resumed": True})
        outcome = await engine.await_flow(key, timeout=30)

    assert parked.status is Status.INTERRUPTED
    assert parked.interrupt_payload == {"branch": "b"}
    # The finished siblings do not end the wait: the fan-in cannot fire without b.
    assert still.status is Status.INTERRUPTED
    assert before == {
        "src": Status.COMPLETED,
        "a": Status.COMPLETED,
        "b": Status.INTERRUPTED,
        "c": Status.COMPLETED,
    }
    assert outcome.status is Status.COMPLETED
    assert outcome.state["totalExecuted"] == 3
    assert outcome.state["bResumedWith"] == {"resumed": True}
    # The other branches kept their results: only the interrupted one ran again.
    assert runs == {"src": 1, "a": 1, "b": 2, "c": 1, "j": 1}


def sibling_proxy(gate_b: asyncio.Event) -> TestProxy:
    """Upstream interruptselectionflow: src -> {a, b} -> j; both interrupt, b only once
    ``gate_b`` is set. Each records the resume data it got as ``<branch>Got``."""
    proxy = TestProxy()
    graph = Graph("siblings")
    graph.add_transition_fan_out("src", "a", "b")
    graph.add_transition("a", "j")
    graph.add_transition("b", "j")
    graph.add_transition("j", END)
    graph.set_fan_in("j")
    proxy.handle_graph("siblings", graph)

    @proxy.task("src")
    async def src(flow: Flow) -> None:
        pass

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        flow.set("aGot", flow.interrupt({"branch": "a"}))

    @proxy.task("b")
    async def b(flow: Flow) -> None:
        await gate_b.wait()
        flow.set("bGot", flow.interrupt({"branch": "b"}))

    @proxy.task("j")
    async def j(flow: Flow) -> None:
        flow.set_bool("joined", True)

    return proxy


async def test_snapshot_names_the_interrupt_the_next_resume_releases(
    make_engine: MakeEngine,
) -> None:
    gate_b = asyncio.Event()
    async with make_engine(sibling_proxy(gate_b), workers=4) as engine:
        key = await engine.create("siblings")
        await engine.start(key)
        try:
            first_stop = await engine.await_flow(key, timeout=30)
            only_a = await interrupted_steps(engine, key)
        finally:
            gate_b.set()

        async def both_wait() -> bool:
            return len(await interrupted_steps(engine, key)) == 2

        await wait_until(both_wait, "both branches interrupt")
        named_first = await engine.snapshot(key)
        await engine.resume(key, {"token": "R1"})
        # Resume releases its step in its own transaction: the other one is what is left.
        left = await interrupted_steps(engine, key)
        named_second = await engine.snapshot(key)
        await engine.resume(key, {"token": "R2"})
        outcome = await engine.await_flow(key, timeout=30)

    assert first_stop.status is Status.INTERRUPTED
    assert first_stop.interrupt_payload == {"branch": "a"}
    assert only_a == ["a"]
    # a interrupted first, so it is both what the snapshot reports and what resume releases.
    assert named_first.interrupt_payload == {"branch": "a"}
    assert left == ["b"]
    assert named_second.status is Status.INTERRUPTED
    assert named_second.interrupt_payload == {"branch": "b"}
    assert outcome.status is Status.COMPLETED
    assert outcome.state["aGot"] == {"token": "R1"}
    assert outcome.state["bGot"] == {"token": "R2"}
    assert outcome.state["joined"] is True


async def test_several_interrupted_branches_are_resumed_one_by_one(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("many")
    graph.add_transition_for_each("seed", "work", "items", "item")
    graph.add_transition_chain("work", "join", END)
    graph.set_fan_in("join")
    graph.set_reducer("done", Reducer.APPEND)
    proxy.handle_graph("many", graph)

    @proxy.task("seed")
    async def seed(flow: Flow) -> None:
        flow.set("items", ["w1", "ok", "w2", "w3"])

    @proxy.task("work")
    async def work(flow: Flow) -> None:
        item = flow.get_string("item")
        if item.startswith("w"):
            item = f"{item}:{flow.interrupt({'item': item})['token']}"
        flow.set("done", [item])

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        pass

    async with make_engine(proxy, workers=4) as engine:
        key = await engine.create("many")
        await engine.start(key)
        await engine.await_flow(key, timeout=30)

        async def three_wait() -> bool:
            return len(await interrupted_steps(engine, key)) == 3

        await wait_until(three_wait, "three branches interrupt")
        named: list[str] = []
        statuses: list[Status] = []
        for token in ("R1", "R2", "R3"):
            stop = await engine.snapshot(key)
            statuses.append(stop.status)
            named.append(stop.interrupt_payload["item"])
            await engine.resume(key, {"token": token})
        outcome = await engine.await_flow(key, timeout=30)

    # Until the last waiting branch is released, the flow stays interrupted.
    assert statuses == [Status.INTERRUPTED] * 3
    assert sorted(named) == ["w1", "w2", "w3"]
    token_of = dict(zip(named, ("R1", "R2", "R3"), strict=True))
    assert outcome.status is Status.COMPLETED
    # Each token reached the branch the snapshot named; the fan-in folds in item order.
    assert outcome.state["done"] == [
        f"w1:{token_of['w1']}",
        "ok",
        f"w2:{token_of['w2']}",
        f"w3:{token_of['w3']}",
    ]


async def test_parallel_subgraph_callers_with_interrupted_children_resume_one_by_one(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    parent = Graph("ps-parent")
    parent.add_transition_for_each("seed", "call", "items", "n")
    parent.add_transition_chain("call", "join", END)
    parent.set_fan_in("join")
    parent.set_reducer("results", Reducer.APPEND)
    proxy.handle_graph("ps-parent", parent)
    child = Graph("ps-child")
    child.add_transition("inner", END)
    proxy.handle_graph("ps-child", child)

    @proxy.task("seed")
    async def seed(flow: Flow) -> None:
        flow.set("items", [1, 2])

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        out = flow.subgraph("ps-child", {"n": flow.get_int("n")})
        flow.set("results", [out["childResult"]])

    @proxy.task("inner")
    async def inner(flow: Flow) -> None:
        resume = flow.interrupt({"n": flow.get_int("n")})
        # Tag this child's own n with the token it received: a resume delivered to the wrong
        # child shows up as a wrong pairing.
        flow.set_string("childResult", f"n{flow.get_int('n')}-{resume['token']}")

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        flow.set_bool("joined", True)

    async with make_engine(proxy, workers=4) as engine:
        key = await engine.create("ps-parent")
        await engine.start(key)
        await engine.await_flow(key, timeout=30)

        async def both_callers_wait() -> bool:
            return await interrupted_steps(engine, key) == ["call", "call"]

        await wait_until(both_callers_wait, "both children's interrupts reach the parent")
        first = await engine.snapshot(key)
        await engine.resume(key, {"token": "R1"})
        second = await engine.snapshot(key)
        await engine.resume(key, {"token": "R2"})
        outcome = await engine.await_flow(key, timeout=30)

    assert first.status is Status.INTERRUPTED
    assert second.status is Status.INTERRUPTED
    assert {first.interrupt_payload["n"], second.interrupt_payload["n"]} == {1, 2}
    assert outcome.status is Status.COMPLETED
    results = outcome.state["results"]
    assert sorted(results) == sorted(
        [f"n{first.interrupt_payload['n']}-R1", f"n{second.interrupt_payload['n']}-R2"]
    )
    # The fan-in folds in item order, whatever order the children were resumed in.
    assert [r.split("-")[0] for r in results] == ["n1", "n2"]
    assert outcome.state["joined"] is True


async def test_cancelling_a_flow_with_a_waiting_branch_cancels_every_branch(
    make_engine: MakeEngine,
) -> None:
    runs: Counter[str] = Counter()
    async with make_engine(three_branch_proxy(runs)) as engine:
        key = await engine.create("interrupted-fan-out")
        await engine.start(key)
        await engine.await_flow(key, timeout=30)

        async def siblings_done() -> bool:
            return runs["a"] == 1 and runs["c"] == 1

        await wait_until(siblings_done, "branches a and c run")
        await engine.cancel(key, "no answer")
        outcome = await engine.await_flow(key, timeout=30)
        steps = {s.task_name: s.status for s in await engine.history(key)}
        with pytest.raises(DwarfError) as caught:
            await engine.resume(key, {"late": True})

    assert outcome.status is Status.CANCELLED
    assert outcome.cancel_reason == "no answer"
    assert steps["b"] is Status.CANCELLED
    assert "j" not in steps
    assert caught.value.status_code == 409
    assert runs["b"] == 1
