"""An operator engine (``with_workers(0)``, no graph loader, no task executor) serves operations.

This is the engine ``dwarf flows`` opens: it must start without the host's loader and executor,
act on flows through their frozen graphs, and never claim or run a step itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, Graph, Query, Status
from tests.fixtures.engines import MakeEngine


def _ask_proxy(calls: list[str]) -> TestProxy:
    """ask (interrupts once, then records the answer) -> done."""
    proxy = TestProxy()
    graph = Graph("ask")
    graph.add_transition_chain("ask", "done", END)
    proxy.handle_graph("ask", graph)

    @proxy.task("ask")
    async def ask(flow: Flow) -> None:
        calls.append("ask")
        answer: dict[str, Any] = flow.interrupt({"question": "approve?"})
        flow.set("approved", answer.get("approved"))

    @proxy.task("done")
    async def done(flow: Flow) -> None:
        calls.append("done")

    return proxy


def _operator(dsn: str) -> Engine:
    return Engine().with_dsn(dsn).with_workers(0)


async def test_an_operator_engine_resumes_a_flow_but_never_runs_its_steps(
    make_engine: MakeEngine, engine_dsn: str
) -> None:
    calls: list[str] = []
    proxy = _ask_proxy(calls)
    async with make_engine(proxy, workers=1) as worker:
        key = await worker.create("ask")
        await worker.start(key)
        parked = await worker.await_flow(key, timeout=30)
    assert parked.status is Status.INTERRUPTED

    async with _operator(engine_dsn) as operator:
        listed, _ = await operator.list_flows(Query())
        await operator.resume(key, {"approved": True})
        await asyncio.sleep(0.5)  # ample time for a dispatcher, were there one, to claim
        waiting = await operator.snapshot(key)
        with pytest.raises(BadRequestError, match="graph loader"):
            await operator.create("ask")

    assert [summary.flow_key for summary in listed] == [key]
    assert waiting.status is Status.RUNNING
    assert calls == ["ask"], "the operator engine ran a step"

    async with make_engine(proxy, workers=1) as worker:
        outcome = await worker.await_flow(key, timeout=30)
    assert outcome.status is Status.COMPLETED
    assert outcome.state["approved"] is True
    assert calls == ["ask", "ask", "done"]


@pytest.mark.sqlite_only
async def test_an_engine_that_dispatches_still_needs_a_loader_and_an_executor(
    engine_dsn: str,
) -> None:
    with pytest.raises(BadRequestError, match="graph loader"):
        await Engine().with_dsn(engine_dsn).with_workers(1).startup()
