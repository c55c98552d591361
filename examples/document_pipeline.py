"""A document pipeline on PostgreSQL: split into pages, read them in parallel, fold the results.

Run: python examples/document_pipeline.py [DSN]
(default DSN: postgresql://postgres@127.0.0.1:5432/test; the database must exist, and the engine
creates its tables there at startup, as every engine does: docs/migrate.md)

    split -> read_page x pages (forEach) -> assemble (fan-in) -> END

``split`` cuts the document into pages; a forEach transition runs one ``read_page`` step per page
(the OCR is faked: it counts words and keeps each page's first line); the branches meet at the
fan-in ``assemble``, where reducers fold their writes: ADD sums the word counts, APPEND keeps the
page summaries in page order whatever order the branches finished in. It prints the report and
the steps that ran.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter

import dwarf
from dwarf.engine import Registry
from dwarf.workflow import END, Flow, Graph, Reducer

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"

DOCUMENT = "\f".join(
    [
        "Durable workflows\nA flow is a graph of tasks checkpointed step by step.",
        "Fan-out\nA forEach transition starts one branch per element of an array.",
        "Fan-in\nThe branches meet at one task, and reducers fold what each branch wrote.",
        "Replicas\nAny replica sharing the database may run any step.",
    ]
)
"""Four pages, separated by form feeds the way text extracted from a PDF often is."""

registry = Registry()

graph = Graph("document")
graph.add_task("split", "split")
graph.add_task("read_page", "read-page")
graph.add_task("assemble", "assemble")
graph.add_transition_for_each("split", "read_page", "pages", "page")
graph.add_transition("read_page", "assemble")
graph.set_fan_in("assemble")
graph.add_transition("assemble", END)
graph.set_reducer("words", Reducer.ADD)
graph.set_reducer("outline", Reducer.APPEND)
graph.validate()
registry.handle_graph("document", graph)


@registry.task("split")
async def split(flow: Flow) -> None:
    flow.set_strings("pages", flow.get_string("document").split("\f"))


@registry.task("read-page")
async def read_page(flow: Flow) -> None:
    page = flow.get_string("page")
    number = flow.get_int("pageIndex") + 1  # the forEach gives each branch its position
    words = len(page.split())
    title = page.splitlines()[0]
    flow.set_int("words", words)  # a delta: ADD sums the branches
    flow.set("outline", [f"page {number}: {title} ({words} words)"])  # APPEND keeps page order


@registry.task("assemble")
async def assemble(flow: Flow) -> None:
    pages = len(flow.get_strings("pages"))
    flow.set_string("report", f"{pages} pages, {flow.get_int('words')} words")


async def main(dsn: str) -> None:
    engine = (
        dwarf.new_engine()
        .with_dsn(dsn)
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with engine:  # startup migrates the database, then starts dispatching
        outcome = await engine.run("document", {"document": DOCUMENT}, timeout=60)
        steps = Counter(step.task_name for step in await engine.history(outcome.flow_key))
    print(f"status: {outcome.status}")
    print(f"report: {outcome.state['report']}")
    for line in outcome.state["outline"]:
        print(f"  {line}")
    print("steps:  " + ", ".join(f"{task} x{count}" for task, count in steps.items()))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DSN))
