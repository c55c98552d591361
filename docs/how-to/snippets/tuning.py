"""Freeze what startup built, then serve: the garbage collector no longer walks it.

The how-to guide docs/how-to/tuning.md includes its section; the docs test runs it and checks what
it prints.
"""

import asyncio
import gc

import dwarf
from dwarf.engine import Registry
from dwarf.workflow import END, Flow, Graph

registry = Registry()
g = Graph("greet")
g.add_task("hello", "hello")
g.add_transition("hello", END)
registry.handle_graph("greet", g)


@registry.task("hello")
async def hello(flow: Flow) -> None:
    flow.set_string("greeting", "hello " + flow.get_string("name"))


async def main() -> None:
    engine = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    # --8<-- [start:freeze]
    async with engine.run_in_test():
        gc.collect()  # what startup left for the collector goes first
        gc.freeze()  # the rest is never examined again
        print(gc.get_freeze_count() > 0)  # True
        outcome = await engine.run("greet", {"name": "ada"})  # serve as usual
        print(outcome.state["greeting"])  # hello ada
    # --8<-- [end:freeze]


asyncio.run(main())
