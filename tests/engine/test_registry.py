"""``Registry`` is the production name of the in-process loader and executor (``TestProxy``)."""

from __future__ import annotations

from dwarf.engine import Engine, Registry, TestProxy
from dwarf.workflow import END, Flow, Graph, Status


async def test_a_registry_serves_graphs_and_handlers_to_an_engine() -> None:
    registry = Registry()
    graph = Graph("greet")
    graph.add_transition_chain("hello", END)
    registry.handle_graph("greet", graph)

    @registry.task("hello")
    async def hello(flow: Flow) -> None:
        flow.set("greeting", f"hello {flow.get('name', str)}")

    engine = Engine().with_graph_loader(registry.load_graph)
    async with engine.with_task_executor(registry.execute_task).run_in_test():
        outcome = await engine.run("greet", {"name": "ada"}, timeout=10)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["greeting"] == "hello ada"
    assert issubclass(TestProxy, Registry)
