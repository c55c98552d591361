"""A replica that gets stuck mid-flow and waits to be killed (run by test_crash_recovery.py).

Usage: ``python crash_worker.py`` with ``DWARF_CRASH_DSN`` (the database) and
``DWARF_CRASH_FLOWS`` (how many flows) in the environment. It starts an engine with a 2 s
time budget, creates and starts that many flows of ``t0 -> t1 -> t2``, prints their keys as
one JSON line on stdout, and keeps running. ``t0`` finishes normally; ``t1`` hangs for good: it
ignores the cancellation the time budget sends, like a task stuck in a call that never returns,
so its step stays ``running`` under this replica's lease until the test SIGKILLs the process.
Nothing here ever finishes ``t1`` or ``t2``: that is the recovering replica's job.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph

TASKS = ("t0", "t1", "t2")
TIME_BUDGET_SECONDS = 2.0


def crash_graph() -> Graph:
    """The graph both the crashing and the recovering replica serve."""
    graph = Graph("crash")
    graph.add_transition_chain(*TASKS, END)
    return graph


async def _stuck(flow: Flow) -> None:
    del flow
    never = asyncio.Event()
    while True:
        try:
            await never.wait()
        except asyncio.CancelledError:
            continue  # a hung call does not notice the time budget either


async def _t0(flow: Flow) -> None:
    flow.set_int("t0", flow.get_int("n"))


async def _never_reached(flow: Flow) -> None:
    raise AssertionError("the crashing replica must not get past t1")


async def main() -> None:
    """Start the flows, report their keys, then hang until killed."""
    dsn = os.environ["DWARF_CRASH_DSN"]
    count = int(os.environ["DWARF_CRASH_FLOWS"])
    proxy = TestProxy()
    proxy.handle_graph("crash", crash_graph())
    proxy.handle_task("t0", _t0)
    proxy.handle_task("t1", _stuck)
    proxy.handle_task("t2", _never_reached)
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(2 * count)
        .with_time_budget(TIME_BUDGET_SECONDS)
    )
    await engine.startup()
    keys = []
    for n in range(count):
        key = await engine.create("crash", {"n": n})
        await engine.start(key)
        keys.append(key)
    sys.stdout.write(json.dumps(keys) + "\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
