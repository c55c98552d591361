"""A task refused by its downstream (backpressure, breaker trip) is handed back un-run.

Such a step goes back to pending with its state (docs/internals/protection.md): it consumes no
attempt and the flow is delayed, never failed. A wrapper found anywhere in the exception chain
counts, the outermost deciding.
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


async def test_a_wrapped_refusal_deep_in_the_cause_chain_still_counts(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("wrapped")
    graph.add_transition_chain("call", END)
    proxy.handle_graph("wrapped", graph)
    attempts: list[int] = []

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        attempts.append(flow.attempt)
        if len(attempts) == 1:
            try:
                raise err_backpressure("429 Too Many Requests", "rate")
            except Exception as exc:
                raise RuntimeError("client gave up") from exc

    async with make_engine(proxy) as engine:
        outcome = await engine.run("wrapped", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert attempts == [0, 0]
