"""The smallest dwarf program, shown verbatim in the README: one task greets by name on SQLite."""

import asyncio

import dwarf
from dwarf.engine import Registry
from dwarf.workflow import END, Flow, Graph

registry = Registry()  # in-process graphs and task handlers (TestProxy in the API contract)
g = Graph("greet")
g.add_task("hello", "hello")
g.add_transition("hello", END)
registry.handle_graph("greet", g)


@registry.task("hello")
async def hello(flow: Flow) -> None:
    flow.set_string("greeting", "hello " + flow.get_string("name"))


async def main() -> None:
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with eng.run_in_test():  # SQLite in memory, dropped on exit
        out = await eng.run("greet", {"name": "ada"})
        print(out.state["greeting"])  # hello ada


asyncio.run(main())
