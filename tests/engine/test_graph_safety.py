"""Mistakes a new user makes get errors that say what to do (docs/internals/routing.md#r7 and
#r8, docs/internals/api-contract.md): each test asserts the error type and that the message
names the field or suggests the fix."""

from __future__ import annotations

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


async def test_an_unknown_handler_lists_the_nearest_registered_urls(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("ship")
    graph.add_task("ship", "svc/shipp")  # the handler below is registered as svc/ship
    graph.add_transition("ship", END)
    proxy.handle_graph("ship", graph)

    @proxy.task("svc/ship")
    async def ship(flow: Flow) -> None:
        pass

    async with make_engine(proxy) as engine:
        outcome = await engine.run("ship", timeout=30)

    assert outcome.status is Status.FAILED
    assert "'svc/shipp'" in outcome.error
    assert "nearest registered: 'svc/ship'" in outcome.error
