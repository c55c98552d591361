"""Nested fan-outs: a branch that fans out again converges twice, in input order, exactly once.

Single-level fan-out and forEach basics live in ``test_fan_out.py``; this module covers the shapes
where cohorts nest (docs/internals/fan-in.md): a per-element diamond inside a forEach, forEach
inside forEach, a branch that is a subgraph fanning out internally, multi-step branches. What a user
would notice if nesting went wrong: an inner branch's output missing from the outer fan-in, the
outer fold in completion order instead of input order, a fan-in running twice or never, or the
forEach bookkeeping (``<as>``, ``<as>Index``, ``<as>Count``) leaking past its own fan-in or
vanishing before it. Branches are made to finish in reverse input order (each waits for its
successor in the input to finish first) so that completion order and input order disagree.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowStep, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine

_GATE_TIMEOUT = 10.0


def _graph(name: str, *tasks: str) -> Graph:
    """A graph whose tasks are dispatched to URLs equal to their names (the first is the entry)."""
    graph = Graph(name)
    for task in tasks:
        graph.add_task(task, task)
    return graph


class _ReverseOrder:
    """Makes the branches of one cohort finish in reverse input order.

    Branch ``i`` of ``n`` returns only after branch ``i + 1`` returned, so the branch that comes
    first in the input finishes last. Needs every branch of the cohort running at once (enough
    workers); a missing sibling fails the branch after a timeout instead of hanging the test.
    """

    def __init__(self) -> None:
        self._done: defaultdict[tuple[str, int], asyncio.Event] = defaultdict(asyncio.Event)

    async def finish(self, scope: str, index: int, count: int) -> None:
        if index + 1 < count:
            await asyncio.wait_for(self._done[(scope, index + 1)].wait(), _GATE_TIMEOUT)
        self._done[(scope, index)].set()


def _task_counts(steps: list[FlowStep]) -> Counter[str]:
    return Counter(step.task_name for step in steps)


async def test_per_element_diamond_runs_one_pipeline_per_element(make_engine: MakeEngine) -> None:
    # perelementpipelineflow: S -forEach-> H -> {A, B} -> M (inner fan-in) -> L (outer fan-in).
    graph = _graph("pipeline", "S", "H", "A", "B", "M", "L")
    graph.set_fan_in("M")
    graph.set_fan_in("L")
    graph.set_reducer("mergedItems", Reducer.UNION)
    graph.add_transition_for_each("S", "H", "items", "item")
    graph.add_transition("H", "A")
    graph.add_transition("H", "B")
    graph.add_transition("A", "M")
    graph.add_transition_chain("B", "M", "L", END)
    proxy = TestProxy()
    proxy.handle_graph("pipeline", graph)

    async def s(flow: Flow) -> None:
        pass

    async def h(flow: Flow) -> None:
        flow.set_string("item", flow.get_string("item").upper())

    async def a(flow: Flow) -> None:
        flow.set_string("aResult", "a:" + flow.get_string("item"))

    async def b(flow: Flow) -> None:
        flow.set_string("bResult", "b:" + flow.get_string("item"))

    async def m(flow: Flow) -> None:
        flow.set("mergedItems", [flow.get_string("aResult") + "+" + flow.get_string("bResult")])

    async def last(flow: Flow) -> None:
        flow.set_int("finalCount", len(flow.get_strings("mergedItems")))

    for name, handler in (("S", s), ("H", h), ("A", a), ("B", b), ("M", m), ("L", last)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("pipeline", {"items": ["x", "y", "z"]}, timeout=30)
        history = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["finalCount"] == 3
    assert outcome.state["mergedItems"] == ["a:X+b:X", "a:Y+b:Y", "a:Z+b:Z"]
    assert _task_counts(history) == {"S": 1, "H": 3, "A": 3, "B": 3, "M": 3, "L": 1}
    # The outer cohort's bookkeeping ends at the outer fan-in.
    assert "item" not in outcome.state
    assert "itemIndex" not in outcome.state
    assert "itemCount" not in outcome.state


async def test_doc_extraction_joins_pages_and_chunks_in_input_order_despite_retries(
    make_engine: MakeEngine,
) -> None:
    # docextractionflow: pages -forEach-> chunks -forEach-> transcribe -> join page -> join doc,
    # with append reducers at both levels and constant-delay retries on some chunks.
    graph = _graph("docs", "Scan", "Identify", "Transcribe", "JoinPage", "JoinDoc")
    graph.set_fan_in("JoinPage")
    graph.set_fan_in("JoinDoc")
    graph.set_reducer("transcriptions", Reducer.APPEND)
    graph.set_reducer("pageTexts", Reducer.APPEND)
    graph.add_transition_for_each("Scan", "Identify", "pageImages", "page")
    graph.add_transition_for_each("Identify", "Transcribe", "chunks", "chunk")
    graph.add_transition_chain("Transcribe", "JoinPage", "JoinDoc", END)
    proxy = TestProxy()
    proxy.handle_graph("docs", graph)
    pages = 5
    chunks_of = {page: 2 + page % 3 for page in range(pages)}
    attempts: Counter[str] = Counter()

    async def scan(flow: Flow) -> None:
        flow.set("pdf", None)
        flow.set("pageImages", [f"page-{page}" for page in range(pages)])

    async def identify(flow: Flow) -> None:
        page = flow.get_int("pageIndex")
        flow.set("chunks", [f"p{page}c{chunk}" for chunk in range(chunks_of[page])])

    async def transcribe(flow: Flow) -> None:
        chunk = flow.get_string("chunk")
        attempts[chunk] += 1
        # Every third chunk asks for a retry on its first attempt, after a constant delay.
        retried = (flow.get_int("pageIndex") + flow.get_int("chunkIndex")) % 3 == 0
        if retried and flow.attempt == 0 and flow.retry(3, 0.05, 1.0, 0.05):
            return
        flow.set("transcriptions", [f"text({chunk})"])

    async def join_page(flow: Flow) -> None:
        flow.set("pageTexts", [" ".join(flow.get_strings("transcriptions"))])

    async def join_doc(flow: Flow) -> None:
        flow.set_string("doc", "\n".join(flow.get_strings("pageTexts")))

    for name, handler in (
        ("Scan", scan),
        ("Identify", identify),
        ("Transcribe", transcribe),
        ("JoinPage", join_page),
        ("JoinDoc", join_doc),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy, workers=4) as engine:
        outcome = await engine.run("docs", {"pdf": "mock-pdf-bytes"}, timeout=30)
        history = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED, outcome.error
    expected_pages = [
        " ".join(f"text(p{page}c{chunk})" for chunk in range(chunks_of[page]))
        for page in range(pages)
    ]
    assert outcome.state["doc"].split("\n") == expected_pages
    retried = {
        f"p{page}c{chunk}"
        for page in range(pages)
        for chunk in range(chunks_of[page])
        if (page + chunk) % 3 == 0
    }
    assert {chunk for chunk, runs in attempts.items() if runs == 2} == retried
    assert set(attempts.values()) == {1, 2}
    counts = _task_counts(history)
    assert counts["Transcribe"] == sum(chunks_of.values())
    assert counts["JoinPage"] == pages
    assert counts["JoinDoc"] == 1


async def test_branch_that_runs_a_fanning_out_subgraph_converges_with_its_sibling(
    make_engine: MakeEngine,
) -> None:
    # nestedfanoutflow: one branch of the outer fan-out is a subgraph that fans out internally.
    outer = _graph("nested", "A", "NormalB", "RunInner", "J")
    outer.set_fan_in("J")
    outer.add_transition("A", "NormalB")
    outer.add_transition("A", "RunInner")
    outer.add_transition("NormalB", "J")
    outer.add_transition_chain("RunInner", "J", END)
    inner = _graph("inner", "X", "Y", "Z", "W")
    inner.set_fan_in("W")
    inner.set_reducer("inner", Reducer.ADD)
    inner.add_transition("X", "Y")
    inner.add_transition("X", "Z")
    inner.add_transition("Y", "W")
    inner.add_transition_chain("Z", "W", END)
    proxy = TestProxy()
    proxy.handle_graph("nested", outer)
    proxy.handle_graph("inner", inner)

    async def nothing(flow: Flow) -> None:
        pass

    async def normal_b(flow: Flow) -> None:
        flow.set_string("normalResult", "normal")

    async def y(flow: Flow) -> None:
        flow.set_int("inner", 10)

    async def z(flow: Flow) -> None:
        flow.set_int("inner", 20)

    async def w(flow: Flow) -> None:
        flow.set_int("innerResult", flow.get_int("inner"))

    async def run_inner(flow: Flow) -> None:
        out = flow.subgraph("inner")
        flow.set("innerResult", out["innerResult"])

    async def j(flow: Flow) -> None:
        flow.set_string(
            "result", f"{flow.get_string('normalResult')}/{flow.get_int('innerResult')}"
        )

    for name, handler in (
        ("A", nothing),
        ("NormalB", normal_b),
        ("RunInner", run_inner),
        ("J", j),
        ("X", nothing),
        ("Y", y),
        ("Z", z),
        ("W", w),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("nested", timeout=30)
        history = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["result"] == "normal/30"
    assert _task_counts(history) == {"A": 1, "NormalB": 1, "RunInner": 1, "J": 1}


async def test_inner_branch_outputs_reach_the_outer_fan_in_in_input_order(
    make_engine: MakeEngine,
) -> None:
    # 3x3 forEach in forEach; the inner fan-in writes nothing of its own, so the cells can reach
    # the outer fan-in only by the outer merge inlining the inner cohorts' deltas.
    graph = _graph("grid", "Seed", "Row", "Cell", "JoinRow", "JoinGrid")
    graph.set_fan_in("JoinRow")
    graph.set_fan_in("JoinGrid")
    graph.set_reducer("cells", Reducer.APPEND)
    graph.set_reducer("total", Reducer.ADD)
    graph.add_transition_for_each("Seed", "Row", "rows", "row")
    graph.add_transition_for_each("Row", "Cell", "cols", "col")
    graph.add_transition_chain("Cell", "JoinRow", "JoinGrid", END)
    proxy = TestProxy()
    proxy.handle_graph("grid", graph)
    reverse = _ReverseOrder()
    fan_ins: Counter[str] = Counter()

    async def seed(flow: Flow) -> None:
        flow.set("rows", ["r0", "r1", "r2"])

    async def row(flow: Flow) -> None:
        flow.set("cols", [0, 1, 2])

    async def cell(flow: Flow) -> None:
        # Every cell of the grid waits on the next one, so the grid finishes back to front.
        index = flow.get_int("rowIndex") * 3 + flow.get_int("colIndex")
        await reverse.finish("grid", index, 9)
        flow.set("cells", [f"{flow.get_string('row')}.{flow.get_int('col')}"])
        flow.set_int("total", 10 ** flow.get_int("col"))

    async def join_row(flow: Flow) -> None:
        fan_ins["JoinRow"] += 1

    async def join_grid(flow: Flow) -> None:
        fan_ins["JoinGrid"] += 1
        flow.set_int("cellCount", len(flow.get_strings("cells")))

    for name, handler in (
        ("Seed", seed),
        ("Row", row),
        ("Cell", cell),
        ("JoinRow", join_row),
        ("JoinGrid", join_grid),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy, workers=10) as engine:
        outcome = await engine.run("grid", timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["cells"] == [f"r{r}.{c}" for r in range(3) for c in range(3)]
    assert outcome.state["total"] == 3 * (1 + 10 + 100)
    assert outcome.state["cellCount"] == 9
    assert fan_ins == {"JoinRow": 3, "JoinGrid": 1}


async def test_three_levels_of_for_each_fold_every_leaf_exactly_once(
    make_engine: MakeEngine,
) -> None:
    graph = _graph("cube", "Start", "L1", "L2", "Leaf", "J2", "J1", "J0")
    for fan_in in ("J2", "J1", "J0"):
        graph.set_fan_in(fan_in)
    graph.set_reducer("leaves", Reducer.APPEND)
    graph.set_reducer("sum", Reducer.ADD)
    graph.add_transition_for_each("Start", "L1", "xs", "x")
    graph.add_transition_for_each("L1", "L2", "ys", "y")
    graph.add_transition_for_each("L2", "Leaf", "zs", "z")
    graph.add_transition_chain("Leaf", "J2", "J1", "J0", END)
    proxy = TestProxy()
    proxy.handle_graph("cube", graph)
    joins: Counter[str] = Counter()

    async def start(flow: Flow) -> None:
        flow.set("xs", [0, 1])

    async def l1(flow: Flow) -> None:
        flow.set("ys", [0, 1])

    async def l2(flow: Flow) -> None:
        flow.set("zs", [0, 1])

    async def leaf(flow: Flow) -> None:
        x, y, z = flow.get_int("x"), flow.get_int("y"), flow.get_int("z")
        flow.set("leaves", [f"{x}{y}{z}"])
        flow.set_int("sum", 100 * x + 10 * y + z)

    for name, handler in (("Start", start), ("L1", l1), ("L2", l2), ("Leaf", leaf)):
        proxy.handle_task(name, handler)
    for fan_in in ("J2", "J1", "J0"):

        async def join(flow: Flow, fan_in: str = fan_in) -> None:
            joins[fan_in] += 1

        proxy.handle_task(fan_in, join)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("cube", timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    expected = [f"{x}{y}{z}" for x in range(2) for y in range(2) for z in range(2)]
    assert outcome.state["leaves"] == expected
    assert outcome.state["sum"] == sum(int(leaf, 10) for leaf in expected)
    assert joins == {"J2": 4, "J1": 2, "J0": 1}


async def test_static_fan_out_nested_in_a_static_branch_merges_both_levels(
    make_engine: MakeEngine,
) -> None:
    # A -> {B, C}; C -> {C1, C2} -> CJ; B and CJ -> J. Both levels are static fan-outs.
    graph = _graph("static", "A", "B", "C", "C1", "C2", "CJ", "J")
    graph.set_fan_in("CJ")
    graph.set_fan_in("J")
    graph.set_reducer("total", Reducer.ADD)
    graph.set_reducer("trail", Reducer.APPEND)
    graph.add_transition_fan_out("A", "B", "C")
    graph.add_transition_fan_out("C", "C1", "C2")
    graph.add_transition("C1", "CJ")
    graph.add_transition("C2", "CJ")
    graph.add_transition("B", "J")
    graph.add_transition_chain("CJ", "J", END)
    proxy = TestProxy()
    proxy.handle_graph("static", graph)
    amounts = {"B": 1, "C": 2, "C1": 4, "C2": 8, "CJ": 16}

    async def a(flow: Flow) -> None:
        flow.set_int("total", 100)

    proxy.handle_task("A", a)
    for name, amount in amounts.items():

        async def add(flow: Flow, name: str = name, amount: int = amount) -> None:
            flow.set_int("total", amount)
            flow.set("trail", [name])

        proxy.handle_task(name, add)

    async def j(flow: Flow) -> None:
        flow.set_int("seen", flow.get_int("total"))

    proxy.handle_task("J", j)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("static", {"total": 1000}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["seen"] == 1000 + 100 + sum(amounts.values())
    # Branch order: B (ordinal 0), then C's branch: C, its inner cohort C1, C2, then CJ.
    assert outcome.state["trail"] == ["B", "C", "C1", "C2", "CJ"]


async def test_multi_step_branches_fold_in_input_order_not_completion_order(
    make_engine: MakeEngine,
) -> None:
    # fanoutordinalflow: only the branch's SECOND step writes the reducer field.
    graph = _graph("ordinal", "Split", "Work", "Post", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("results", Reducer.APPEND)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition_chain("Work", "Post", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("ordinal", graph)
    reverse = _ReverseOrder()
    posted: list[str] = []

    async def split(flow: Flow) -> None:
        pass

    async def work(flow: Flow) -> None:
        await reverse.finish("work", flow.get_int("itemIndex"), flow.get_int("itemCount"))

    async def post(flow: Flow) -> None:
        posted.append(flow.get_string("item"))
        flow.set("results", [flow.get_string("item")])

    async def join(flow: Flow) -> None:
        pass

    for name, handler in (("Split", split), ("Work", work), ("Post", post), ("Join", join)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("ordinal", {"items": ["a", "b", "c", "d"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert sorted(posted) == ["a", "b", "c", "d"]
    assert outcome.state["results"] == ["a", "b", "c", "d"]


async def test_inner_fan_ins_fold_into_the_outer_fan_in_in_cell_order(
    make_engine: MakeEngine,
) -> None:
    # fanoutordinalflow_Nested: the inner fan-in is a member of the outer cohort and must carry
    # its cell's ordinal even though the cells converge back to front.
    graph = _graph("cells", "Seed", "Cell", "Chunk", "JoinChunk", "JoinCell")
    graph.set_fan_in("JoinChunk")
    graph.set_fan_in("JoinCell")
    graph.set_reducer("order", Reducer.APPEND)
    graph.add_transition_for_each("Seed", "Cell", "cells", "cell")
    graph.add_transition_for_each("Cell", "Chunk", "chunks", "chunk")
    graph.add_transition_chain("Chunk", "JoinChunk", "JoinCell", END)
    proxy = TestProxy()
    proxy.handle_graph("cells", graph)
    reverse = _ReverseOrder()

    async def seed(flow: Flow) -> None:
        pass

    async def cell(flow: Flow) -> None:
        flow.set("chunks", [flow.get_string("cell") + "-0"])

    async def chunk(flow: Flow) -> None:
        await reverse.finish("chunk", flow.get_int("cellIndex"), flow.get_int("cellCount"))

    async def join_chunk(flow: Flow) -> None:
        flow.set("order", [flow.get_string("cell")])

    async def join_cell(flow: Flow) -> None:
        pass

    for name, handler in (
        ("Seed", seed),
        ("Cell", cell),
        ("Chunk", chunk),
        ("JoinChunk", join_chunk),
        ("JoinCell", join_cell),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("cells", {"cells": ["a", "b", "c"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["order"] == ["a", "b", "c"]


async def test_fan_in_step_sits_one_level_below_the_deepest_branch(
    make_engine: MakeEngine,
) -> None:
    # One branch is a single step, the other three steps long: the fan-in's depth follows the
    # longest branch (stepdepthflow).
    graph = _graph("depth", "A", "Short", "Long1", "Long2", "Long3", "J")
    graph.set_fan_in("J")
    graph.add_transition_fan_out("A", "Short", "Long1")
    graph.add_transition_chain("Long1", "Long2", "Long3", "J")
    graph.add_transition_chain("Short", "J", END)
    proxy = TestProxy()
    proxy.handle_graph("depth", graph)

    async def nothing(flow: Flow) -> None:
        pass

    for name in ("A", "Short", "Long1", "Long2", "Long3", "J"):
        proxy.handle_task(name, nothing)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("depth", timeout=30)
        history = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED, outcome.error
    depth = {step.task_name: step.step_depth for step in history}
    assert depth == {"A": 1, "Short": 2, "Long1": 2, "Long2": 3, "Long3": 4, "J": 5}


async def test_fan_in_output_may_reuse_the_names_of_its_own_for_each_bookkeeping(
    make_engine: MakeEngine,
) -> None:
    # foreachstrip: the cohort's <as>/<as>Index/<as>Count are gone at its fan-in, and a fan-in
    # that then writes fields of the same names keeps them.
    graph = _graph("strip", "Split", "Page", "Join")
    graph.set_fan_in("Join")
    graph.set_reducer("done", Reducer.ADD)
    graph.add_transition_for_each("Split", "Page", "pages", "page")
    graph.add_transition_chain("Page", "Join", END)
    proxy = TestProxy()
    proxy.handle_graph("strip", graph)
    seen_at_join: list[dict[str, object]] = []

    async def split(flow: Flow) -> None:
        pass

    async def page(flow: Flow) -> None:
        flow.set_int("done", 1)

    async def join(flow: Flow) -> None:
        seen_at_join.append(flow.snapshot())
        flow.set_int("pageCount", flow.get_int("done"))
        flow.set_string("page", "summary")
        flow.set_int("pageIndex", 99)

    for name, handler in (("Split", split), ("Page", page), ("Join", join)):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("strip", {"pages": ["a", "b", "c"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert seen_at_join == [{"pages": ["a", "b", "c"], "done": 3}]
    assert outcome.state == {
        "pages": ["a", "b", "c"],
        "done": 3,
        "pageCount": 3,
        "page": "summary",
        "pageIndex": 99,
    }


async def test_inner_fan_in_keeps_the_outer_branch_bookkeeping_and_drops_its_own(
    make_engine: MakeEngine,
) -> None:
    # foreachstrip nested: the strip at a fan-in is scoped to the cohort it closes.
    graph = _graph("scoped", "Split", "Page", "Chunk", "JoinChunk", "JoinPage")
    graph.set_fan_in("JoinChunk")
    graph.set_fan_in("JoinPage")
    graph.set_reducer("seen", Reducer.APPEND)
    graph.add_transition_for_each("Split", "Page", "pages", "page")
    graph.add_transition_for_each("Page", "Chunk", "chunks", "chunk")
    graph.add_transition_chain("Chunk", "JoinChunk", "JoinPage", END)
    proxy = TestProxy()
    proxy.handle_graph("scoped", graph)
    chunk_views: list[tuple[str, str]] = []
    join_chunk_views: list[dict[str, object]] = []
    join_page_views: list[dict[str, object]] = []

    async def split(flow: Flow) -> None:
        pass

    async def page(flow: Flow) -> None:
        flow.set("chunks", ["c1", "c2"])

    async def chunk(flow: Flow) -> None:
        chunk_views.append((flow.get_string("page"), flow.get_string("chunk")))

    async def join_chunk(flow: Flow) -> None:
        join_chunk_views.append(
            {key: flow.snapshot().get(key) for key in ("page", "pageIndex", "pageCount")}
            | {"innerLeft": [k for k in ("chunk", "chunkIndex", "chunkCount") if flow.has(k)]}
        )
        flow.set("seen", [flow.get_string("page")])

    async def join_page(flow: Flow) -> None:
        join_page_views.append(
            {"left": [k for k in ("page", "pageIndex", "pageCount") if flow.has(k)]}
        )
        flow.set_int("pagesSeen", len(flow.get_strings("seen")))

    for name, handler in (
        ("Split", split),
        ("Page", page),
        ("Chunk", chunk),
        ("JoinChunk", join_chunk),
        ("JoinPage", join_page),
    ):
        proxy.handle_task(name, handler)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("scoped", {"pages": ["p1", "p2"]}, timeout=30)

    assert outcome.status is Status.COMPLETED, outcome.error
    assert sorted(chunk_views) == [("p1", "c1"), ("p1", "c2"), ("p2", "c1"), ("p2", "c2")]
    assert sorted(join_chunk_views, key=lambda view: str(view["page"])) == [
        {"page": "p1", "pageIndex": 0, "pageCount": 2, "innerLeft": []},
        {"page": "p2", "pageIndex": 1, "pageCount": 2, "innerLeft": []},
    ]
    assert join_page_views == [{"left": []}]
    assert outcome.state["seen"] == ["p1", "p2"]
    assert outcome.state["pagesSeen"] == 2
    for key in ("page", "pageIndex", "pageCount", "chunk", "chunkIndex", "chunkCount"):
        assert key not in outcome.state
