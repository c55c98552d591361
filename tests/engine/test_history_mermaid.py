"""``history_mermaid`` draws what ran: every executed step, the DAG edges, subgraph blocks."""

from __future__ import annotations

import pytest

from dwarf.engine import TestProxy
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import END, Flow, Graph, Status, render_history_mermaid
from tests.fixtures.engines import MakeEngine
from tests.fixtures.flows import chain_proxy, insert_child_flow


def mermaid_proxy() -> TestProxy:
    """start -> for each item: work -> collect (fan-in) -> finish."""
    proxy = TestProxy()
    graph = Graph("mermaid")
    graph.add_transition_for_each("start", "work", "items", "item")
    graph.add_transition_chain("work", "collect", "finish", END)
    graph.set_fan_in("collect")
    proxy.handle_graph("mermaid", graph)
    for task in ("start", "work", "collect", "finish"):

        async def handler(flow: Flow, task: str = task) -> None:
            flow.set_string(task, "done")

        proxy.handle_task(task, handler)
    return proxy


async def test_history_mermaid_draws_every_executed_step(make_engine: MakeEngine) -> None:
    async with make_engine(mermaid_proxy()) as engine:
        outcome = await engine.run("mermaid", {"items": ["x", "y", "z"]}, timeout=30)
        text = await engine.history_mermaid(outcome.flow_key)
        steps = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED
    assert text.startswith("flowchart TD\n")
    assert text == render_history_mermaid(steps)
    assert [s.task_name for s in steps].count("work") == 3
    for s in steps:
        assert f's{s.step_id}["{s.task_name}' in text
    start, collect = steps[0], next(s for s in steps if s.task_name == "collect")
    for work in (s for s in steps if s.task_name == "work"):
        assert f"s{start.step_id} --> s{work.step_id}" in text
        assert f"s{work.step_id} --> s{collect.step_id}" in text


@pytest.mark.sqlite_only
async def test_history_mermaid_draws_a_subgraph_block(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("outer", "a", "call", "c")) as engine:
        outcome = await engine.run("outer", timeout=30)
        call = (await engine.history(outcome.flow_key))[1]
        await insert_child_flow(engine, call.step_key, "inner", "inner-x", "inner-y")
        text = await engine.history_mermaid(outcome.flow_key)

    assert f'subgraph s{call.step_id}_sub ["inner"]' in text
    assert "inner-x" in text
    assert "inner-y" in text


async def test_history_mermaid_of_a_bad_key_is_an_error(make_engine: MakeEngine) -> None:
    async with make_engine(TestProxy(), workers=0) as engine:
        key = await engine.create_task("never-runs")
        with pytest.raises(NotFoundError):
            await engine.history_mermaid(key[:-1] + ("0" if key[-1] != "0" else "1"))
        with pytest.raises(BadRequestError):
            await engine.history_mermaid("garbage")
        text = await engine.history_mermaid(key)

    assert "never-runs" in text
