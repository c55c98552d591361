"""``history`` lists a flow's steps in execution order with their fields, and nests subgraphs.

The nesting tests here link child flows to caller steps by writing the rows a subgraph launch
writes (``insert_child_flow``, tests/fixtures/flows.py), so they can shape trees precisely; real
``flow.subgraph`` calls are covered by tests/engine/test_subgraph.py (history nesting included).
"""

from __future__ import annotations

import pytest

from dwarf.engine import TestProxy
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine
from tests.fixtures.flows import chain_proxy, insert_child_flow


async def test_history_lists_steps_in_order_with_their_fields(make_engine: MakeEngine) -> None:
    proxy = chain_proxy("abc", "a", "b", "c")

    async def flaky_b(flow: Flow) -> None:
        if flow.attempt == 0:
            assert flow.retry(3, 0, 0, 0)
            return
        flow.set_string("b", "done")

    proxy.handle_task("b", flaky_b)
    async with make_engine(proxy) as engine:
        key = await engine.create("abc")
        await engine.start(key)
        outcome = await engine.await_flow(key, timeout=30)
        steps = await engine.history(key)

    assert outcome.status is Status.COMPLETED
    assert [s.task_name for s in steps] == ["a", "b", "c"]
    assert [s.step_depth for s in steps] == [1, 2, 3]
    assert [s.attempt for s in steps] == [0, 1, 0]
    assert all(s.status is Status.COMPLETED and s.error == "" for s in steps)
    a, b, c = steps
    assert (a.predecessor_id, a.successor_id) == (0, b.step_id)
    assert (b.predecessor_id, b.successor_id) == (a.step_id, c.step_id)
    assert (c.predecessor_id, c.successor_id) == (b.step_id, 0)
    shard = key.split("-")[0]
    for s in steps:
        assert s.step_key.split("-")[:2] == [shard, str(s.step_id)]
        assert s.created_at is not None
        assert s.updated_at is not None
        assert s.started_at is not None
        assert s.updated_at >= s.started_at
        # History is the light view: no payloads, no navigation.
        assert s.state == {}
        assert s.changes == {}
        assert s.interrupt_payload == {}
        assert s.prev_key == ""
        assert s.next_key == ""
        assert not s.subgraph
        assert s.sub_history == []


async def test_history_shows_fan_out_siblings_at_one_depth(make_engine: MakeEngine) -> None:
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
        steps = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED
    assert [s.step_depth for s in steps] == [1, 2, 2, 3]
    assert steps[0].task_name == "start"
    assert steps[3].task_name == "join"
    assert {s.task_name for s in steps[1:3]} == {"left", "right"}
    assert steps[1].step_id < steps[2].step_id
    # Both branches follow the spawn step; the spawn points at its first branch.
    assert steps[1].predecessor_id == steps[2].predecessor_id == steps[0].step_id
    assert steps[0].successor_id == steps[1].step_id


async def test_history_reports_a_failed_steps_error(make_engine: MakeEngine) -> None:
    proxy = chain_proxy("ab", "a", "b")

    async def broken(flow: Flow) -> None:
        raise RuntimeError("the printer is on fire")

    proxy.handle_task("b", broken)
    async with make_engine(proxy) as engine:
        outcome = await engine.run("ab", timeout=30)
        steps = await engine.history(outcome.flow_key)

    assert outcome.status is Status.FAILED
    assert [s.status for s in steps] == [Status.COMPLETED, Status.FAILED]
    assert "the printer is on fire" in steps[1].error


async def test_history_of_an_unknown_flow_is_404(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("a", "a")) as engine:
        outcome = await engine.run("a", timeout=30)
        shard, flow_id, _ = outcome.flow_key.split("-")
        with pytest.raises(NotFoundError):
            await engine.history(f"{shard}-{flow_id}-0123456789abcdef")
        with pytest.raises(NotFoundError):
            await engine.history(f"{shard}-{int(flow_id) + 1000}-0123456789abcdef")
        with pytest.raises(NotFoundError):
            await engine.history("7-1-0123456789abcdef")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("bad", ["", "nonsense", "1-x-abc", "0-1-abc", "1-1-", "-1-1-ab"])
async def test_history_of_a_malformed_key_is_400(make_engine: MakeEngine, bad: str) -> None:
    async with make_engine(TestProxy(), workers=0) as engine:
        with pytest.raises(BadRequestError):
            await engine.history(bad)


@pytest.mark.sqlite_only
async def test_history_nests_a_subgraph_under_its_caller(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("outer", "a", "call", "c")) as engine:
        outcome = await engine.run("outer", timeout=30)
        before = await engine.history(outcome.flow_key)
        child_key = await insert_child_flow(engine, before[1].step_key, "inner", "x", "y")
        child_steps = await engine.history(child_key)
        await insert_child_flow(engine, child_steps[1].step_key, "innermost", "z")
        steps = await engine.history(outcome.flow_key)
        child_history = await engine.history(child_key)

    assert [s.task_name for s in steps] == ["a", "call", "c"]
    assert not steps[0].subgraph
    assert not steps[2].subgraph
    caller = steps[1]
    assert caller.subgraph
    assert caller.sub_workflow_name == "inner"
    assert [s.task_name for s in caller.sub_history] == ["x", "y"]
    assert [s.step_key for s in caller.sub_history] == [s.step_key for s in child_steps]
    nested = caller.sub_history[1]
    assert nested.subgraph
    assert nested.sub_workflow_name == "innermost"
    assert [s.task_name for s in nested.sub_history] == ["z"]
    # A child's own history starts at the child.
    assert [s.task_name for s in child_history] == ["x", "y"]
    assert child_history[1].sub_history[0].task_name == "z"
