"""Interrupts inside subgraphs surface on the root flow, and one resume on the root continues them.

Ports upstream subgraphinterruptflow (an interrupt in a child reaches the root with its payload;
resume at the root completes), deepsubgraphflow (five levels deep: the interrupt surfaces at the
root, resume descends, completion bubbles up; cancelling the interrupted tree from the root) and
subgraphinterruptfailflow (a child cohort with an interrupted and a failed branch rests
interrupted until resumed, then fails the parent), plus the root's own view of its state while
paused, the stop callback for a deep interrupt, repeated interrupts in one child, several
interrupted (or breakpoint-held) branches inside one child, and child keys being read-only for
cancel and resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import DwarfError
from dwarf.workflow import END, Flow, FlowOutcome, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine


def chain(proxy: TestProxy, name: str, *tasks: str) -> Graph:
    """Register workflow ``name``: ``tasks`` in a line, then END."""
    graph = Graph(name)
    graph.add_transition_chain(*tasks, END)
    proxy.handle_graph(name, graph)
    return graph


async def expect_status_code(status_code: int, call: Awaitable[object]) -> None:
    """Await ``call`` and check it raised a ``DwarfError`` with ``status_code``."""
    with pytest.raises(DwarfError) as caught:
        await call
    assert caught.value.status_code == status_code, str(caught.value)


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after 30 s (a hang guard, no timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.02)


async def count_steps(engine: Engine, flow_key: str, task: str, status: Status) -> int:
    """How many of the flow's own ``task`` steps are in ``status``."""
    return sum(
        1 for s in await engine.history(flow_key) if s.task_name == task and s.status is status
    )


def interrupting_child_proxy(child_keys: list[str]) -> TestProxy:
    """Upstream subgraphinterruptflow: parent taskA -> runInner -> taskZ; child taskX -> pause
    (interrupts asking for ``answer``) -> taskY. taskX records the child's flow key."""
    proxy = TestProxy()
    chain(proxy, "parent", "taskA", "runInner", "taskZ")
    chain(proxy, "inner", "taskX", "pause", "taskY")

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        pass

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        out = flow.subgraph("inner")
        flow.set("innerResult", out["innerResult"])

    @proxy.task("taskX")
    async def task_x(flow: Flow) -> None:
        child_keys.append(flow.flow_key)
        flow.set_string("inner", "X")

    @proxy.task("pause")
    async def pause(flow: Flow) -> None:
        data = flow.interrupt({"need": "input"})
        flow.set("answer", data["answer"])

    @proxy.task("taskY")
    async def task_y(flow: Flow) -> None:
        flow.set_string("innerResult", f"{flow.get_string('inner')}->Y({flow.get('answer', str)})")

    @proxy.task("taskZ")
    async def task_z(flow: Flow) -> None:
        flow.set_string("result", f"Z({flow.get_string('innerResult')})")

    return proxy


async def test_an_interrupt_in_a_child_surfaces_on_the_root_and_resumes_from_it(
    make_engine: MakeEngine,
) -> None:
    child_keys: list[str] = []
    async with make_engine(interrupting_child_proxy(child_keys)) as engine:
        key = await engine.create("parent")
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        snapshot = await engine.snapshot(key)
        child_parked = await engine.snapshot(child_keys[0])
        await engine.resume(key, {"answer": "42"})
        outcome = await engine.await_flow(key, timeout=30)
        child_done = await engine.snapshot(child_keys[0])

    assert parked.status is Status.INTERRUPTED
    assert parked.flow_key == key
    assert parked.interrupt_payload == {"need": "input"}
    assert snapshot.status is Status.INTERRUPTED
    assert snapshot.interrupt_payload == {"need": "input"}
    assert child_parked.status is Status.INTERRUPTED
    assert child_parked.interrupt_payload == {"need": "input"}
    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"] == "Z(X->Y(42))"
    # Resume data reached the leaf task only; nothing of it was merged into the root's state.
    assert "answer" not in outcome.state
    assert child_done.status is Status.COMPLETED


async def test_an_interrupted_roots_state_is_its_own_not_the_childs(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "prepare", "runInner")
    chain(proxy, "inner", "childWork", "pause")
    child_keys: list[str] = []

    @proxy.task("prepare")
    async def prepare(flow: Flow) -> None:
        flow.set_string("parentField", "p")

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        flow.set_string("callerDraft", "d")
        flow.subgraph("inner", {"given": 1})

    @proxy.task("childWork")
    async def child_work(flow: Flow) -> None:
        child_keys.append(flow.flow_key)
        flow.set_string("childField", "c")

    @proxy.task("pause")
    async def pause(flow: Flow) -> None:
        flow.interrupt({"need": "ok"})

    async with make_engine(proxy) as engine:
        key = await engine.create("parent", {"start": True})
        await engine.start(key)
        root = await engine.await_flow(key, timeout=30)
        child = await engine.snapshot(child_keys[0])

    assert child.status is Status.INTERRUPTED
    assert child.state == {"given": 1, "childField": "c"}
    assert root.status is Status.INTERRUPTED
    assert root.interrupt_payload == {"need": "ok"}
    # The root reports its own view (the caller's state and writes), never the child's state.
    assert root.state == {"start": True, "parentField": "p", "callerDraft": "d"}


def deep_proxy(levels: int, flow_keys: list[str]) -> TestProxy:
    """Upstream deepsubgraphflow: g0 .. g{levels-1} each call the next level; g{levels} is a leaf
    that interrupts with ``{"depth": levels}``, then writes ``v = leaf(<answer>)``. Each level
    wraps the returned ``v`` in ``<level>``; every level records its flow key (g0 first)."""
    proxy = TestProxy()
    for level in range(levels):
        chain(proxy, f"g{level}", f"call{level}")

        async def call(flow: Flow, level: int = level) -> None:
            if len(flow_keys) == level:
                flow_keys.append(flow.flow_key)
            out = flow.subgraph(f"g{level + 1}")
            flow.set_string("v", f"{out['v']}<{level}>")

        proxy.handle_task(f"call{level}", call)
    chain(proxy, f"g{levels}", "leaf")

    @proxy.task("leaf")
    async def leaf(flow: Flow) -> None:
        if len(flow_keys) == levels:
            flow_keys.append(flow.flow_key)
        data = flow.interrupt({"depth": levels})
        flow.set_string("v", f"leaf({data['answer']})")

    return proxy


async def test_an_interrupt_five_levels_deep_surfaces_at_the_root_and_completion_bubbles_up(
    make_engine: MakeEngine,
) -> None:
    flow_keys: list[str] = []
    async with make_engine(deep_proxy(4, flow_keys)) as engine:
        key = await engine.create("g0")
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        parked_levels = [await engine.snapshot(k) for k in flow_keys]
        await engine.resume(key, {"answer": "ok"})
        outcome = await engine.await_flow(key, timeout=30)
        done_levels = [await engine.snapshot(k) for k in flow_keys]

    assert len(flow_keys) == 5
    assert flow_keys[0] == key
    assert parked.status is Status.INTERRUPTED
    assert parked.interrupt_payload == {"depth": 4}
    # Every flow on the chain reports the pause, with the leaf's payload.
    assert [o.status for o in parked_levels] == [Status.INTERRUPTED] * 5
    assert [o.interrupt_payload for o in parked_levels] == [{"depth": 4}] * 5
    assert outcome.status is Status.COMPLETED
    # State threaded back through every level: the leaf, then wrapped by g3, g2, g1, g0.
    assert outcome.state["v"] == "leaf(ok)<3><2><1><0>"
    assert [o.status for o in done_levels] == [Status.COMPLETED] * 5
    assert [o.state["v"] for o in done_levels] == [
        "leaf(ok)<3><2><1><0>",
        "leaf(ok)<3><2><1>",
        "leaf(ok)<3><2>",
        "leaf(ok)<3>",
        "leaf(ok)",
    ]


async def test_cancelling_a_deeply_interrupted_tree_from_the_root_cancels_every_level(
    make_engine: MakeEngine,
) -> None:
    flow_keys: list[str] = []
    async with make_engine(deep_proxy(4, flow_keys)) as engine:
        key = await engine.create("g0")
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        await engine.cancel(key, "stop")
        outcome = await engine.await_flow(key, timeout=30)
        levels = [await engine.snapshot(k) for k in flow_keys]
        leaf_steps = await engine.history(flow_keys[-1])
        await expect_status_code(409, engine.resume(key, {"answer": "late"}))

    assert parked.status is Status.INTERRUPTED
    assert outcome.status is Status.CANCELLED
    assert outcome.cancel_reason == "stop"
    assert [(o.status, o.cancel_reason) for o in levels] == [(Status.CANCELLED, "stop")] * 5
    assert [(s.task_name, s.status) for s in leaf_steps] == [("leaf", Status.CANCELLED)]


async def test_a_child_that_interrupts_twice_is_resumed_twice_from_the_root(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    chain(proxy, "parent", "runInner", "after")
    chain(proxy, "inner", "askName", "askAge", "greet")

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        out = flow.subgraph("inner")
        flow.set_string("greeting", out["greeting"])

    @proxy.task("askName")
    async def ask_name(flow: Flow) -> None:
        flow.set("name", flow.interrupt({"question": "name"})["name"])

    @proxy.task("askAge")
    async def ask_age(flow: Flow) -> None:
        flow.set("age", flow.interrupt({"question": "age"})["age"])

    @proxy.task("greet")
    async def greet(flow: Flow) -> None:
        flow.set_string("greeting", f"{flow.get_string('name')} is {flow.get_int('age')}")

    @proxy.task("after")
    async def after(flow: Flow) -> None:
        flow.set_bool("afterRan", True)

    async with make_engine(proxy) as engine:
        key = await engine.create("parent")
        await engine.start(key)
        first = await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"name": "ada"})
        second = await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"age": 36})
        outcome = await engine.await_flow(key, timeout=30)

    assert (first.status, first.interrupt_payload) == (Status.INTERRUPTED, {"question": "name"})
    assert (second.status, second.interrupt_payload) == (Status.INTERRUPTED, {"question": "age"})
    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"greeting": "ada is 36", "afterRan": True}


async def test_a_deep_interrupt_fires_the_roots_stop_callback_with_its_payload(
    make_engine: MakeEngine,
) -> None:
    calls: list[tuple[str, FlowOutcome]] = []

    async def stopped(hostname: str, outcome: FlowOutcome) -> None:
        calls.append((hostname, outcome))

    flow_keys: list[str] = []
    async with make_engine(deep_proxy(2, flow_keys), flow_stopped_callback=stopped) as engine:
        key = await engine.create("g0")
        await engine.start_notify(key, "host-a")
        await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"answer": "yes"})
        await engine.await_flow(key, timeout=30)

    # Only the root has a host to notify: one call for the pause, one for the completion.
    assert [(host, o.flow_key, o.status) for host, o in calls] == [
        ("host-a", key, Status.INTERRUPTED),
        ("host-a", key, Status.COMPLETED),
    ]
    assert calls[0][1].interrupt_payload == {"depth": 2}
    assert calls[1][1].state["v"] == "leaf(yes)<1><0>"


async def test_resume_is_refused_while_nothing_in_the_tree_is_interrupted(
    make_engine: MakeEngine,
) -> None:
    child_keys: list[str] = []
    async with make_engine(interrupting_child_proxy(child_keys)) as engine:
        key = await engine.create("parent")
        await expect_status_code(409, engine.resume(key, {"answer": "early"}))
        await engine.start(key)
        await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"answer": "1"})
        outcome = await engine.await_flow(key, timeout=30)
        await expect_status_code(409, engine.resume(key, {"answer": "late"}))

    assert outcome.status is Status.COMPLETED


def child_cohort_proxy(items: list[str], child_keys: list[str]) -> TestProxy:
    """Upstream subgraphinterruptfailflow: parent runInner calls ``inner`` with ``items``; the
    child's seed (recording the child's key) fans out ``work`` per item (``wait*`` interrupts,
    ``bad`` fails, others pass), joining at ``join``. Results append in item order."""
    proxy = TestProxy()
    chain(proxy, "parent", "runInner")
    inner = Graph("inner")
    inner.add_transition_for_each("seed", "work", "items", "item")
    inner.add_transition_chain("work", "join", END)
    inner.set_fan_in("join")
    inner.set_reducer("done", Reducer.APPEND)
    proxy.handle_graph("inner", inner)

    @proxy.task("runInner")
    async def run_inner(flow: Flow) -> None:
        out = flow.subgraph("inner", {"items": items})
        flow.set("done", out["done"])

    @proxy.task("seed")
    async def seed(flow: Flow) -> None:
        child_keys.append(flow.flow_key)

    @proxy.task("work")
    async def work(flow: Flow) -> None:
        item = flow.get_string("item")
        if item == "bad":
            raise RuntimeError("inner branch exploded")
        if item.startswith("wait"):
            data = flow.interrupt({"item": item})
            item = f"{item}:{data['token']}"
        flow.set("done", [item])

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        pass

    return proxy


async def test_a_child_cohort_with_a_failed_branch_rests_interrupted_until_resumed(
    make_engine: MakeEngine,
) -> None:
    child_keys: list[str] = []
    async with make_engine(child_cohort_proxy(["ok", "wait", "bad"], child_keys)) as engine:
        key = await engine.create("parent")
        await engine.start(key)
        await engine.await_flow(key, timeout=30)

        async def bad_branch_failed() -> bool:
            return await count_steps(engine, child_keys[0], "work", Status.FAILED) == 1

        await wait_until(bad_branch_failed, "the 'bad' branch fails")
        parked = await engine.snapshot(key)
        child_parked = await engine.snapshot(child_keys[0])
        await engine.resume(key, {"token": "approved"})
        outcome = await engine.await_flow(key, timeout=30)
        child = await engine.snapshot(child_keys[0])

    # The failed branch cannot end the child while a sibling waits at an interrupt.
    assert parked.status is Status.INTERRUPTED
    assert parked.interrupt_payload == {"item": "wait"}
    assert child_parked.status is Status.INTERRUPTED
    # Once the waiting branch arrives, the cohort resolves with its failure and the child's
    # failure reaches the parent's subgraph call, which does not handle it.
    assert outcome.status is Status.FAILED
    assert "inner branch exploded" in outcome.error
    assert child.status is Status.FAILED


async def test_several_interrupted_branches_in_a_child_keep_the_root_interrupted_until_all_resume(
    make_engine: MakeEngine,
) -> None:
    child_keys: list[str] = []
    async with make_engine(child_cohort_proxy(["waitA", "ok", "waitB"], child_keys)) as engine:
        key = await engine.create("parent")
        await engine.start(key)
        await engine.await_flow(key, timeout=30)

        async def both_wait() -> bool:
            return await count_steps(engine, child_keys[0], "work", Status.INTERRUPTED) == 2

        await wait_until(both_wait, "both waiting branches interrupt")
        first = await engine.snapshot(key)
        await engine.resume(key, {"token": "R1"})
        # Resume releases one branch in its own transaction: no wait is needed to see the other.
        second = await engine.snapshot(key)
        # The second branch still waits after the first resume: the root must say so (and
        # accept the resume that releases it).
        assert second.status is Status.INTERRUPTED
        await engine.resume(key, {"token": "R2"})
        outcome = await engine.await_flow(key, timeout=30)

    assert first.status is Status.INTERRUPTED
    tokens = {first.interrupt_payload["item"]: "R1", second.interrupt_payload["item"]: "R2"}
    assert sorted(tokens) == ["waitA", "waitB"]
    assert outcome.status is Status.COMPLETED
    assert outcome.state["done"] == [f"waitA:{tokens['waitA']}", "ok", f"waitB:{tokens['waitB']}"]


async def test_a_child_key_cannot_cancel_its_subgraph_out_from_under_the_parent(
    make_engine: MakeEngine,
) -> None:
    child_keys: list[str] = []
    async with make_engine(interrupting_child_proxy(child_keys)) as engine:
        key = await engine.create("parent")
        await engine.start(key)
        await engine.await_flow(key, timeout=30)
        # Child keys are read-only for cancel (as for delete, restart and continue): cancelling
        # only the child would leave its caller parked forever and the root never finishing.
        await expect_status_code(400, engine.cancel(child_keys[0], "from below"))
        child = await engine.snapshot(child_keys[0])
        await engine.resume(key, {"answer": "7"})
        outcome = await engine.await_flow(key, timeout=30)

    assert child.status is Status.INTERRUPTED
    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"] == "Z(X->Y(7))"


async def test_a_child_key_cannot_resume_the_tree(make_engine: MakeEngine) -> None:
    child_keys: list[str] = []
    async with make_engine(interrupting_child_proxy(child_keys)) as engine:
        key = await engine.create("parent")
        await engine.start(key)
        await engine.await_flow(key, timeout=30)
        await expect_status_code(400, engine.resume(child_keys[0], {"answer": "from below"}))
        still = await engine.snapshot(key)
        await engine.resume(key, {"answer": "8"})
        outcome = await engine.await_flow(key, timeout=30)

    assert still.status is Status.INTERRUPTED
    assert outcome.state["result"] == "Z(X->Y(8))"


async def test_breakpoints_on_several_branches_in_a_child_keep_the_root_paused_until_all_resume(
    make_engine: MakeEngine,
) -> None:
    child_keys: list[str] = []
    async with make_engine(child_cohort_proxy(["x", "y"], child_keys)) as engine:
        key = await engine.create("parent")
        await engine.break_before(key, "work", True)
        await engine.start(key)
        await engine.await_flow(key, timeout=30)

        async def both_held() -> bool:
            return await count_steps(engine, child_keys[0], "work", Status.INTERRUPTED) == 2

        await wait_until(both_held, "both branches reach the breakpoint")
        await engine.resume_break(key)
        second = await engine.snapshot(key)
        assert second.status is Status.INTERRUPTED
        await engine.resume_break(key)
        outcome = await engine.await_flow(key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["done"] == ["x", "y"]
