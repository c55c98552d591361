"""NUL characters are a BadRequestError naming the field, on every dialect (state.md#c8).

NUL is refused in workflow and task names, graphs, keys, options and query fields, and inside
state, because PostgreSQL cannot store it and SQLite's LIKE stops at it.
"""

from __future__ import annotations

from typing import Any

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, FlowOptions, Graph, Query, Status
from tests.fixtures.engines import MakeEngine
from tests.fixtures.flows import ask_then_deep_proxy


async def rejects(engine: Engine, call: Any, field: str) -> None:
    with pytest.raises(BadRequestError, match=field) as info:
        await call
    assert "NUL" in str(info.value)


async def test_nul_characters_are_refused_naming_the_field_on_every_dialect(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(ask_then_deep_proxy()) as engine:
        key = await engine.create("wf", {"s": "text"})
        await rejects(engine, engine.create("w\x00f", {}), "workflow_name")
        await rejects(engine, engine.create_task("a\x00sk", {}), "task_name")
        await rejects(engine, engine.create("wf", {"s": "a\x00b"}), r"initial_state\.s")
        await rejects(engine, engine.create("wf", {"k\x00": 1}), "initial_state")
        await rejects(engine, engine.break_before(key, "a\x00", True), "task_name")
        await rejects(engine, engine.cancel(key, "r\x00"), "reason")
        with pytest.raises(BadRequestError, match=r"FlowOptions\.fairness_key.*NUL"):
            FlowOptions(fairness_key="t\x00")
        with pytest.raises(BadRequestError, match=r"FlowOptions\.thread_key.*NUL"):
            FlowOptions(thread_key=key + "\x00")
        for field in ("search", "workflow_name", "task_name", "fairness_key", "cursor"):
            with pytest.raises(BadRequestError, match=rf"Query\.{field}.*NUL"):
                Query(**{field: "\x00"})
        with pytest.raises(BadRequestError):
            await engine.await_flow(key + "\x00", timeout=1)
        flows, _ = await engine.list_flows(Query(search="text"))
        assert flows == []  # nothing matched a search, and nothing was written by the refusals
        assert len((await engine.list_flows(Query()))[0]) == 1


async def test_a_graph_with_a_nul_in_a_task_name_is_refused(make_engine: MakeEngine) -> None:
    p = TestProxy()
    graph = Graph("nul")
    graph.add_transition_chain("a\x00b", END)
    p.handle_graph("nul", graph)
    async with make_engine(p) as engine:
        with pytest.raises(BadRequestError, match="NUL"):
            await engine.create("nul", {})


async def test_an_error_message_holding_a_nul_is_stored_with_a_replacement_character(
    make_engine: MakeEngine,
) -> None:
    p = TestProxy()
    graph = Graph("raises")
    graph.add_transition("boom", END)
    p.handle_graph("raises", graph)
    calls: list[int] = []

    @p.task("boom")
    async def boom(flow: Flow) -> None:
        calls.append(flow.attempt)
        raise RuntimeError("bad\x00byte")

    async with make_engine(p) as engine:
        outcome = await engine.run("raises", {}, timeout=30)
        steps = await engine.history(outcome.flow_key)
    assert outcome.status is Status.FAILED
    assert outcome.error == "bad\ufffdbyte"
    assert [s.error for s in steps] == ["bad\ufffdbyte"]
    assert calls == [calls[0]], "the step failed once, it was not handed back"
