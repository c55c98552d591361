"""A task refused by its downstream (backpressure, breaker trip) is handed back un-run.

Until the adaptive valve and the breaker are wired in, such a step is deferred by 100 ms and
dispatched again; it consumes no attempt and the flow is delayed, never failed.
"""

from __future__ import annotations

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status, err_backpressure, err_breaker_trip
from tests.fixtures.engines import MakeEngine


async def test_a_refused_task_runs_again_without_consuming_an_attempt(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("refused")
    graph.add_transition_chain("call", END)
    proxy.handle_graph("refused", graph)
    attempts: list[int] = []

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        attempts.append(flow.attempt)
        if len(attempts) == 1:
            raise err_backpressure("429 Too Many Requests", "rate")
        if len(attempts) == 2:
            raise err_breaker_trip("503 Service Unavailable", "unavailable")
        flow.set_int("runs", len(attempts))

    async with make_engine(proxy) as engine:
        outcome = await engine.run("refused", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"runs": 3}
    assert attempts == [0, 0, 0]
