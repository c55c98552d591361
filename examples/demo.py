"""A demo workflow on an embedded SQLite file: fan-out over words, fan-in with reducers.

Run: python examples/demo.py [path/to/demo.sqlite]

It draws the graph as Mermaid, runs one flow durably (every step checkpointed to the file),
and prints the outcome and what ran.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import dwarf
from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Reducer

proxy = TestProxy()

graph = Graph("word-stats")
graph.add_task("split", "split")
graph.add_task("measure", "measure")
graph.add_task("summarize", "summarize")
graph.add_task("shout", "shout")
graph.add_transition_for_each("split", "measure", "words", "word")
graph.add_transition("measure", "summarize")
graph.set_fan_in("summarize")
graph.add_transition_switch("summarize", "shout", "total >= 20")
graph.add_transition_switch("summarize", END, "true")
graph.add_transition("shout", END)
graph.set_reducer("total", Reducer.ADD)
graph.set_reducer("lengths", Reducer.APPEND)
graph.validate()
proxy.handle_graph("word-stats", graph)


@proxy.task("split")
async def split(flow: Flow) -> None:
    flow.set_strings("words", flow.get_string("text").split())


@proxy.task("measure")
async def measure(flow: Flow) -> None:
    word = flow.get_string("word")
    flow.set_int("total", len(word))  # a delta: the ADD reducer sums the branches
    flow.set("lengths", [f"{word}={len(word)}"])  # a delta: APPEND keeps input order


@proxy.task("summarize")
async def summarize(flow: Flow) -> None:
    flow.set_string("summary", f"{flow.get_int('total')} letters")


@proxy.task("shout")
def shout(flow: Flow) -> None:  # a plain function runs in a worker thread
    flow.set_string("summary", flow.get_string("summary").upper() + "!")


async def main(path: Path) -> None:
    print(graph.mermaid())
    engine = (
        dwarf.new_engine()
        .with_dsn(f"sqlite:///{path}")
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
    )
    async with engine:
        outcome = await engine.run(
            "word-stats", {"text": "durable workflows for asyncio"}, timeout=30
        )
        print(f"status:  {outcome.status}")
        print(f"summary: {outcome.state['summary']}")
        print(f"lengths: {outcome.state['lengths']}")
    print(f"every step is checkpointed in {path}")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "demo.sqlite"
    asyncio.run(main(target))
