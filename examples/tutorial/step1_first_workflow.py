"""Tutorial step 1: a first workflow, checkpointed step by step to a SQLite file.

Run: python examples/tutorial/step1_first_workflow.py [path/to/orders.sqlite]

It runs one order through two tasks, then opens a second engine on the same file and reads the
flow's history back: what ran is in the database, not in the process.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import dwarf
from dwarf.engine import Engine, Registry
from dwarf.workflow import END, Flow, Graph

# --8<-- [start:workflow]
registry = Registry()

graph = Graph("order")
graph.add_task("price", "price")  # node "price" runs the task registered at URL "price"
graph.add_task("confirm", "confirm")
graph.add_transition("price", "confirm")  # "price", the first task added, is the entry point
graph.add_transition("confirm", END)
graph.validate()
registry.handle_graph("order", graph)

PRICES = {"tea": 4, "cups": 12, "kettle": 30}


@registry.task("price")
async def price(flow: Flow) -> None:
    total = sum(PRICES[item] for item in flow.get_strings("items"))
    flow.set_int("total", total)


@registry.task("confirm")
async def confirm(flow: Flow) -> None:
    flow.set_string("message", f"order {flow.get_string('order')}: {flow.get_int('total')} EUR")


# --8<-- [end:workflow]


# --8<-- [start:engine]
def order_engine(dsn: str) -> Engine:
    """An engine on ``dsn`` that runs the order workflow's tasks in this process."""
    return (
        dwarf.new_engine()
        .with_dsn(dsn)
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )


# --8<-- [end:engine]


# --8<-- [start:main]
async def main(path: Path) -> None:
    dsn = f"sqlite:///{path}"
    async with order_engine(dsn) as engine:
        outcome = await engine.run("order", {"order": "o-1", "items": ["tea", "cups"]}, timeout=30)
        print(f"status:  {outcome.status}")
        print(f"message: {outcome.state['message']}")

    # A second engine on the same file, as after a restart: the flow is still there.
    async with order_engine(dsn) as engine:
        steps = await engine.history(outcome.flow_key)
        print(f"history: {' -> '.join(step.task_name for step in steps)}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "orders.sqlite"
    asyncio.run(main(target))
# --8<-- [end:main]
