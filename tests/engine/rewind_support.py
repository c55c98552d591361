"""Shared pieces of the rewind tests (restart, restart_from, fork, continue, delete, breakpoints).

Step keys come from the tasks themselves (``flow.step_key``), so the tests need no history API.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import DwarfError
from dwarf.workflow import END, Flow, Graph, Reducer


class Runs:
    """Counts each task's executions and remembers the step keys it ran under."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.keys: defaultdict[str, list[str]] = defaultdict(list)
        self.started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    def saw(self, task: str, flow: Flow) -> None:
        """Record one execution of ``task``."""
        self.count[task] += 1
        self.keys[task].append(flow.step_key)
        self.started[task].set()

    async def wait_for(self, task: str) -> None:
        """Wait (at most 30 s) until ``task`` has started at least once."""
        await asyncio.wait_for(self.started[task].wait(), 30)

    def key(self, task: str, index: int = -1) -> str:
        """The step key of ``task``'s ``index``-th execution (the last by default)."""
        return self.keys[task][index]


async def expect_error(
    status_code: int, call: Awaitable[object], match: str | None = None
) -> DwarfError:
    """Await ``call`` and check it raised a ``DwarfError`` with ``status_code``."""
    with pytest.raises(DwarfError, match=match) as caught:
        await call
    assert caught.value.status_code == status_code, str(caught.value)
    return caught.value


async def cell_key(engine: Engine, flow_key: str, index: int) -> str:
    """Key of the ``cell`` step of branch ``index`` in the flow's history (copies included)."""
    for step in await engine.history(flow_key):
        if step.task_name == "cell":
            full = await engine.step(step.step_key)
            if full.state.get("itemIndex") == index:
                return step.step_key
    raise AssertionError(f"no cell {index} in {flow_key}")


def linear_proxy(
    runs: Runs, *, fail_unless: str = "", gate: asyncio.Event | None = None
) -> TestProxy:
    """Workflow ``abc``: a -> b -> c. ``b`` records ``bSaw`` = the ``seed`` it read.

    ``c`` fails unless the state field ``fail_unless`` is true (when given), and waits for
    ``gate`` (when given) before finishing.
    """
    proxy = TestProxy()
    graph = Graph("abc")
    graph.add_transition_chain("a", "b", "c", END)
    proxy.handle_graph("abc", graph)

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        runs.saw("a", flow)
        flow.set_int("aRuns", flow.get_int("aRuns") + 1)

    @proxy.task("b")
    async def b(flow: Flow) -> None:
        runs.saw("b", flow)
        flow.set_string("bSaw", flow.get_string("seed"))

    @proxy.task("c")
    async def c(flow: Flow) -> None:
        runs.saw("c", flow)
        if gate is not None:
            await gate.wait()
        if fail_unless and not flow.get_bool(fail_unless):
            raise RuntimeError(f"c needs {fail_unless}")
        flow.set_bool("done", True)

    return proxy


def fan_out_proxy(runs: Runs, *, failing: frozenset[int], enrich: bool = False) -> TestProxy:
    """Workflow ``fan``: seed -forEach(items)-> cell [-> enrich] -> join (fan-in) -> END.

    ``seed`` makes three items. The branch of each index in ``failing`` fails (in ``enrich``
    when present, else in ``cell``) unless its state carries ``fix`` = true. ``join`` records
    the sorted ``done`` list the branches appended.
    """
    proxy = TestProxy()
    graph = Graph("fan")
    graph.add_task("seed", "seed")
    graph.add_transition_for_each("seed", "cell", "items", "item")
    if enrich:
        graph.add_transition_chain("cell", "enrich", "join", END)
    else:
        graph.add_transition_chain("cell", "join", END)
    graph.set_fan_in("join")
    graph.set_reducer("done", Reducer.APPEND)
    proxy.handle_graph("fan", graph)

    def broken(flow: Flow) -> bool:
        return flow.get_int("itemIndex") in failing and not flow.get_bool("fix")

    @proxy.task("seed")
    async def seed(flow: Flow) -> None:
        runs.saw("seed", flow)
        flow.set("items", [0, 1, 2])

    @proxy.task("cell")
    async def cell(flow: Flow) -> None:
        runs.saw(f"cell{flow.get_int('itemIndex')}", flow)
        if not enrich and broken(flow):
            raise RuntimeError(f"cell {flow.get_int('itemIndex')} broken")
        if not enrich:
            flow.set("done", [flow.get_int("itemIndex")])

    @proxy.task("enrich")
    async def enrich_task(flow: Flow) -> None:
        runs.saw(f"enrich{flow.get_int('itemIndex')}", flow)
        if broken(flow):
            raise RuntimeError(f"enrich {flow.get_int('itemIndex')} broken")
        flow.set("done", [flow.get_int("itemIndex")])

    @proxy.task("join")
    async def join(flow: Flow) -> None:
        runs.saw("join", flow)
        flow.set("joined", sorted(flow.get("done", list[int])))

    return proxy


def subgraph_proxy(runs: Runs) -> TestProxy:
    """Workflow ``parent``: a -> runsub -> c, where runsub calls ``child``: x -> y.

    ``y`` fails unless its input carries ``fix``; the child's output reaches the parent as
    ``sub``. Child tasks record their flow key under ``runs.keys["child"]``.
    """
    proxy = TestProxy()
    parent = Graph("parent")
    parent.add_transition_chain("a", "runsub", "c", END)
    proxy.handle_graph("parent", parent)
    child = Graph("child")
    child.add_transition_chain("x", "y", END)
    proxy.handle_graph("child", child)

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        runs.saw("a", flow)

    @proxy.task("runsub")
    async def runsub(flow: Flow) -> None:
        runs.saw("runsub", flow)
        out = flow.subgraph("child", {"seed": flow.get_string("seed"), "fix": flow.get_bool("fix")})
        flow.set("sub", out.get("out"))

    @proxy.task("x")
    async def x(flow: Flow) -> None:
        runs.saw("x", flow)
        runs.keys["child"].append(flow.flow_key)
        flow.set_string("xr", flow.get_string("seed"))

    @proxy.task("y")
    async def y(flow: Flow) -> None:
        runs.saw("y", flow)
        if not flow.get_bool("fix"):
            raise RuntimeError("y broken")
        flow.set_string("out", f"Y({flow.get_string('xr')})")

    @proxy.task("c")
    async def c(flow: Flow) -> None:
        runs.saw("c", flow)
        flow.set_bool("done", True)

    return proxy
