"""A replica that gets stuck mid-flow, to be killed or paused (run by test_crash_recovery.py).

Usage: ``python crash_worker.py`` with ``DWARF_CRASH_DSN`` (the database), ``DWARF_CRASH_FLOWS``
(how many flows) and ``DWARF_CRASH_MODE`` in the environment. It starts an engine with a one-hour
time budget (so a lease can never be what hands its steps on during a test), creates and starts
that many flows of ``t0 -> t1 -> t2``, prints their keys as one JSON line on stdout, and keeps
running until SIGTERM (then it shuts down cleanly) or SIGKILL.

- ``hang``: ``t1`` hangs for good (it ignores cancellation, like a call that never returns), so its
  step stays ``running`` under this replica's claim until the test SIGKILLs the process. ``t2``
  must never run here.
- ``hang-entry``: the flows are submitted with ``run`` instead, so each entry step ``t0`` is
  claimed by the create that inserts it (dispatch D13), and ``t0`` hangs for good. The keys are
  those of the running flows, read once every flow exists.
- ``pause``: ``t1`` of the first flows waits ``PAUSE_TASK_SECONDS`` (the test SIGSTOPs the process
  meanwhile and lets a peer take the steps); ``t1`` of later flows and ``t2`` run normally. Every
  task stamps ``<task>_by = "worker"`` so the test can tell whose result was kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Query

TASKS = ("t0", "t1", "t2")
TIME_BUDGET_SECONDS = 3600.0
PAUSE_TASK_SECONDS = 2.0


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


def _worker_task(task: str, first_flows: int) -> Callable[[Flow], Awaitable[None]]:
    async def run(flow: Flow) -> None:
        n = flow.get_int("n")
        if task == "t1" and n < first_flows:
            await asyncio.sleep(PAUSE_TASK_SECONDS)
        flow.set_int(task, n)
        flow.set_string(f"{task}_by", "worker")

    return run


async def main() -> None:
    """Start the flows, report their keys, then run until SIGTERM (or killed)."""
    dsn = os.environ["DWARF_CRASH_DSN"]
    count = int(os.environ["DWARF_CRASH_FLOWS"])
    mode = os.environ.get("DWARF_CRASH_MODE", "hang")
    proxy = TestProxy()
    proxy.handle_graph("crash", crash_graph())
    if mode == "hang":
        proxy.handle_task("t0", _t0)
        proxy.handle_task("t1", _stuck)
        proxy.handle_task("t2", _never_reached)
    elif mode == "hang-entry":
        proxy.handle_task("t0", _stuck)
        proxy.handle_task("t1", _never_reached)
        proxy.handle_task("t2", _never_reached)
    else:
        for task in TASKS:
            proxy.handle_task(task, _worker_task(task, count))
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(2 * count)
        .with_time_budget(TIME_BUDGET_SECONDS)
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await engine.startup()
    keys = await (_run_all(engine, count) if mode == "hang-entry" else _start_all(engine, count))
    sys.stdout.write(json.dumps(keys) + "\n")
    sys.stdout.flush()
    await stop.wait()
    await engine.shutdown()


async def _start_all(engine: Engine, count: int) -> list[str]:
    keys = []
    for n in range(count):
        key = await engine.create("crash", {"n": n})
        await engine.start(key)
        keys.append(key)
    return keys


_runs: list[asyncio.Task[object]] = []
"""The ``run`` calls of ``hang-entry``, kept alive until the process dies."""


async def _run_all(engine: Engine, count: int) -> list[str]:
    _runs.extend(asyncio.create_task(engine.run("crash", {"n": n})) for n in range(count))
    while True:
        flows, _ = await engine.list_flows(Query(workflow_name="crash"))
        if len(flows) == count:
            return [flow.flow_key for flow in flows]
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main())
