"""How-to "fan-out and reducers": a static fan-out folded in branch order, forEach with its
bindings, a failed branch and a nested forEach, run on SQLite in memory and printed
(tests/docs/test_howto_a.py)."""

import asyncio

import dwarf
from dwarf.engine import Registry
from dwarf.workflow import END, Flow, Graph, Reducer

registry = Registry()

# --8<-- [start:static]
quote = Graph("quote")
quote.add_task("ask", "ask")
quote.add_transition_fan_out("ask", "slow", "medium", "fast")  # three branches at once
quote.add_transition_chain("slow", "best")
quote.add_transition_chain("medium", "best")
quote.add_transition_chain("fast", "best")
quote.set_fan_in("best")  # where the branches converge; runs once, after all three
quote.add_transition("best", END)
quote.set_reducer("cheapest", Reducer.MIN)
quote.set_reducer("offers", Reducer.APPEND)
quote.set_reducer("calls", Reducer.ADD)
quote.set_reducer("currencies", Reducer.UNION)
registry.handle_graph("quote", quote)
# --8<-- [end:static]

# --8<-- [start:for-each]
scan = Graph("scan")
scan.add_task("load", "load")
scan.add_transition_for_each("load", "ocr", "pages", as_="page")  # one 'ocr' per element
scan.add_transition("ocr", "assemble")
scan.set_fan_in("assemble")
scan.add_transition("assemble", END)
scan.set_reducer("words", Reducer.ADD)
scan.set_reducer("lines", Reducer.APPEND)
registry.handle_graph("scan", scan)
# --8<-- [end:for-each]

# --8<-- [start:nested]
book = Graph("book")
book.add_task("load", "load")
book.add_transition_for_each("load", "chapter", "chapters", as_="chapter")
book.add_transition_for_each("chapter", "section", "sections", as_="section")
book.add_transition("section", "chapter_done")
book.set_fan_in("chapter_done")  # inner fan-in: one per chapter
book.add_transition("chapter_done", "book_done")
book.set_fan_in("book_done")  # outer fan-in: once for the book
book.add_transition("book_done", END)
book.set_reducer("toc", Reducer.APPEND)
registry.handle_graph("book", book)
# --8<-- [end:nested]


# --8<-- [start:quote-tasks]
def offer(name: str, price: int, currency: str, delay: float) -> None:
    """Register a quoting branch that answers after ``delay`` seconds."""

    async def task(flow: Flow) -> None:
        await asyncio.sleep(delay)  # 'fast' finishes first, 'slow' last
        flow.set_int("cheapest", price)
        flow.set("offers", [f"{name}={price}"])  # the increment, not the whole list
        flow.set_int("calls", 1)
        flow.set("currencies", [currency])
        flow.set_string("source", name)  # no reducer: replace, last branch in order wins

    registry.handle_task(name, task)


offer("slow", 120, "EUR", 0.3)
offer("medium", 90, "USD", 0.1)
offer("fast", 100, "EUR", 0.0)


@registry.task("ask")
async def ask(flow: Flow) -> None:
    flow.set_int("calls", 0)


@registry.task("best")
async def best(flow: Flow) -> None:
    flow.set_string("winner", f"{flow.get_int('cheapest')} of {flow.get_int('calls')} offers")


# --8<-- [end:quote-tasks]


# --8<-- [start:scan-tasks]
@registry.task("load")
async def load(flow: Flow) -> None:
    """Nothing to do: the array to fan out over is in the input."""


@registry.task("ocr")
async def ocr(flow: Flow) -> None:
    page = flow.get_string("page")  # this branch's element
    if page == "torn":
        raise ValueError(f"page {flow.get_int('pageIndex') + 1} is unreadable")
    flow.set_int("words", len(page.split()))
    flow.set("lines", [f"{flow.get_int('pageIndex') + 1}/{flow.get_int('pageCount')}: {page}"])


@registry.task("assemble")
async def assemble(flow: Flow) -> None:
    flow.set_string("summary", f"{flow.get_int('words')} words")


# --8<-- [end:scan-tasks]


@registry.task("chapter")
async def chapter(flow: Flow) -> None:
    flow.set_strings("sections", flow.get("chapter", dict)["sections"])


@registry.task("section")
async def section(flow: Flow) -> None:
    title = flow.get("chapter", dict)["title"]
    flow.set("toc", [f"{title}.{flow.get_int('sectionIndex') + 1} {flow.get_string('section')}"])


@registry.task("chapter_done")
@registry.task("book_done")
async def done(flow: Flow) -> None:
    """The fan-ins only converge."""


async def main() -> None:
    eng = (
        dwarf.new_engine()
        .with_graph_loader(registry.load_graph)
        .with_task_executor(registry.execute_task)
    )
    async with eng.run_in_test():
        out = await eng.run("quote")
        for field in ("offers", "cheapest", "calls", "currencies", "source", "winner"):
            print("quote", field, out.state[field])
        # --8<-- [start:run-scan]
        out = await eng.run("scan", {"pages": ["call me ishmael", "some years ago"]})
        print("scan", out.state["words"], out.state["lines"], "page" in out.state)
        empty = await eng.run("scan", {"pages": []})  # no branch: the fan-in runs at once
        print("scan empty", empty.status.value, empty.state["summary"])
        failed = await eng.run("scan", {"pages": ["intact", "torn", "fine"]})
        ran = [step.task_name for step in await eng.history(failed.flow_key)]
        print("scan failed", failed.status.value, failed.error, ran)
        # --8<-- [end:run-scan]
        chapters = [
            {"title": "1", "sections": ["Loomings", "The Carpet-Bag"]},
            {"title": "2", "sections": ["The Spouter-Inn"]},
        ]
        out = await eng.run("book", {"chapters": chapters})
        print("book", out.state["toc"])


asyncio.run(main())
