"""Tutorial step 3: fan out over an order's items, then fan in with reducers.

Run: python examples/tutorial/step3_fan_out.py [path/to/orders.sqlite]

``pick`` runs once per item, in parallel branches; ``ship`` is the fan-in: it runs once, after
every branch, on the branches' changes merged by the reducers.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import dwarf
from dwarf.engine import Registry
from dwarf.workflow import END, Flow, Graph, Reducer

# --8<-- [start:graph]
registry = Registry()

graph = Graph("packing")
graph.add_task("receive", "receive")
graph.add_task("pick", "pick")
graph.add_task("ship", "ship")
graph.add_transition_for_each("receive", "pick", "items", "item")  # one branch per item
graph.add_transition("pick", "ship")
graph.set_fan_in("ship")  # the branches converge here
graph.add_transition("ship", END)
graph.set_reducer("weight", Reducer.ADD)  # branches' weights are summed
graph.set_reducer("picked", Reducer.APPEND)  # branches' lists are joined, in item order
graph.validate()
registry.handle_graph("packing", graph)
# --8<-- [end:graph]

WEIGHTS = {"tea": 250, "cups": 900, "kettle": 1200}


# --8<-- [start:tasks]
@registry.task("receive")
async def receive(flow: Flow) -> None:
    flow.set_strings("items", [item.lower() for item in flow.get_strings("items")])


@registry.task("pick")
async def pick(flow: Flow) -> None:
    item = flow.get_string("item")  # this branch's element of "items"
    flow.set_int("weight", WEIGHTS[item])  # a delta for the ADD reducer
    flow.set("picked", [f"{flow.get_int('itemIndex') + 1}/{flow.get_int('itemCount')} {item}"])


@registry.task("ship")
async def ship(flow: Flow) -> None:
    grams = flow.get_int("weight")
    flow.set_string("parcel", "small parcel" if grams <= 1000 else "large parcel")


# --8<-- [end:tasks]


# --8<-- [start:main]
async def main(path: Path) -> None:
    engine = (
        dwarf.new_engine()
        .with_dsn(f"sqlite:///{path}")
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with engine:
        outcome = await engine.run("packing", {"items": ["Tea", "Cups", "Kettle"]}, timeout=30)
        print(f"status:  {outcome.status}")
        print(f"picked:  {outcome.state['picked']}")
        print(f"weight:  {outcome.state['weight']} g, {outcome.state['parcel']}")
        steps = await engine.history(outcome.flow_key)
        print(f"history: {', '.join(f'{s.task_name}@{s.step_depth}' for s in steps)}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "orders.sqlite"
    asyncio.run(main(target))
# --8<-- [end:main]
