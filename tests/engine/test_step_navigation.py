"""``step`` returns one step with its payloads and prev/next keys along the execution DAG."""

from __future__ import annotations

import pytest

from dwarf.engine import TestProxy
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine
from tests.fixtures.flows import chain_proxy, insert_child_flow


async def test_step_links_a_linear_flow_both_ways(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("abc", "a", "b", "c")) as engine:
        outcome = await engine.run("abc", {"seed": 1}, timeout=30)
        a, b, c = await engine.history(outcome.flow_key)
        first = await engine.step(a.step_key)
        middle = await engine.step(b.step_key)
        last = await engine.step(c.step_key)

    assert (first.prev_key, first.next_key) == ("", b.step_key)
    assert (middle.prev_key, middle.next_key) == (a.step_key, c.step_key)
    assert (last.prev_key, last.next_key) == (b.step_key, "")
    assert middle.step_key == b.step_key
    assert middle.task_name == "b"
    assert middle.status is Status.COMPLETED
    # The step's input is what ran before it; its changes are what it wrote.
    assert first.state == {"seed": 1}
    assert middle.state == {"seed": 1, "a": "done"}
    assert middle.changes == {"b": "done"}
    assert middle.created_at is not None
    assert middle.updated_at is not None


async def test_step_carries_its_interrupt_payload(make_engine: MakeEngine) -> None:
    proxy = chain_proxy("ask", "a", "ask")

    async def ask(flow: Flow) -> None:
        answer = flow.interrupt({"question": "name?"})
        flow.set_string("name", answer["name"])

    proxy.handle_task("ask", ask)
    async with make_engine(proxy) as engine:
        outcome = await engine.run("ask", timeout=30)
        paused = (await engine.history(outcome.flow_key))[1]
        detail = await engine.step(paused.step_key)

    assert outcome.status is Status.INTERRUPTED
    assert detail.status is Status.INTERRUPTED
    assert detail.interrupt_payload == {"question": "name?"}
    assert detail.next_key == ""


async def test_step_navigates_a_fan_out_to_its_first_branch(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("fan")
    graph.add_transition_fan_out("start", "left", "right")
    graph.add_transition("left", "join")
    graph.add_transition("right", "join")
    graph.set_fan_in("join")
    graph.add_transition("join", END)
    proxy.handle_graph("fan", graph)
    for task in ("start", "left", "right", "join"):

        async def handler(flow: Flow, task: str = task) -> None:
            flow.set_string(task, "done")

        proxy.handle_task(task, handler)
    async with make_engine(proxy) as engine:
        outcome = await engine.run("fan", timeout=30)
        start, first, second, join = await engine.history(outcome.flow_key)
        spawn = await engine.step(start.step_key)
        branches = [await engine.step(s.step_key) for s in (first, second)]
        fan_in = await engine.step(join.step_key)

    assert spawn.next_key == first.step_key
    assert [b.prev_key for b in branches] == [start.step_key, start.step_key]
    assert [b.next_key for b in branches] == [join.step_key, join.step_key]
    # The fan-in looks back at whichever branch arrived last.
    assert fan_in.prev_key in (first.step_key, second.step_key)
    assert fan_in.next_key == ""


async def test_step_of_an_unknown_step_is_404(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("a", "a")) as engine:
        outcome = await engine.run("a", timeout=30)
        (only,) = await engine.history(outcome.flow_key)
        shard, step_id, _ = only.step_key.split("-")
        with pytest.raises(NotFoundError):
            await engine.step(f"{shard}-{step_id}-0123456789abcdef")
        with pytest.raises(NotFoundError):
            await engine.step(f"{shard}-{int(step_id) + 1000}-0123456789abcdef")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("bad", ["", "step", "1-2", "1-a-b", "0-1-abc", "1-1-" + "f" * 17])
async def test_step_of_a_malformed_key_is_400(make_engine: MakeEngine, bad: str) -> None:
    async with make_engine(TestProxy(), workers=0) as engine:
        with pytest.raises(BadRequestError):
            await engine.step(bad)


@pytest.mark.sqlite_only
async def test_step_navigation_crosses_subgraph_boundaries(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("outer", "a", "call", "c")) as engine:
        outcome = await engine.run("outer", timeout=30)
        a, call, c = await engine.history(outcome.flow_key)
        child_key = await insert_child_flow(engine, call.step_key, "inner", "x", "y")
        x, y = await engine.history(child_key)
        at_a = await engine.step(a.step_key)
        at_call = await engine.step(call.step_key)
        at_x = await engine.step(x.step_key)
        at_y = await engine.step(y.step_key)
        at_c = await engine.step(c.step_key)

    # Forward: into the child at its entry, out of it to the caller's successor.
    assert at_a.next_key == x.step_key
    assert at_call.next_key == x.step_key
    assert at_x.next_key == y.step_key
    assert at_y.next_key == c.step_key
    # Backward: into the child at its last completed tail, out of it to the caller's predecessor.
    assert at_c.prev_key == y.step_key
    assert at_y.prev_key == x.step_key
    assert at_x.prev_key == a.step_key
    assert at_call.prev_key == a.step_key
    # The caller shows what it launched.
    assert at_call.subgraph
    assert at_call.sub_workflow_name == "inner"
    assert [s.task_name for s in at_call.sub_history] == ["x", "y"]
    assert not at_a.subgraph
