"""A linear flow runs every task once, in order, and ends with every task's output."""

from __future__ import annotations

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


async def test_linear_flow_completes_with_every_tasks_output(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("abc")
    graph.add_transition_chain("a", "b", "c", END)
    proxy.handle_graph("abc", graph)
    order: list[str] = []
    for name in ("a", "b", "c"):

        async def handler(flow: Flow, name: str = name) -> None:
            order.append(name)
            flow.set_string(name, name.upper())
            flow.set_int("count", flow.get_int("count") + 1)

        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("abc", {"count": 0}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"count": 3, "a": "A", "b": "B", "c": "C"}
    assert order == ["a", "b", "c"]
