"""A replica on a SQLite file that another process writes too (run by test_sqlite_processes.py).

Usage: ``python sqlite_peer_worker.py`` with ``DWARF_PEER_DSN`` (the shared file),
``DWARF_PEER_FLOWS`` (how many flows this process creates), ``DWARF_PEER_TOTAL`` (how many all
processes create) and ``DWARF_PEER_NAME`` in the environment. It serves ``t0 -> t1 -> t2``, runs
its flows to the end, keeps serving until every flow in the file has completed (so no process
leaves while a peer's steps are still to run), then prints one JSON line: how many tasks it ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from urllib.parse import urlsplit

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status

TASKS = ("t0", "t1", "t2")
WORKFLOW = "shared"


async def main() -> None:
    dsn = os.environ["DWARF_PEER_DSN"]
    flows = int(os.environ["DWARF_PEER_FLOWS"])
    total = int(os.environ["DWARF_PEER_TOTAL"])
    name = os.environ["DWARF_PEER_NAME"]
    ran = 0
    proxy = TestProxy()
    graph = Graph(WORKFLOW)
    graph.add_transition_chain(*TASKS, END)
    proxy.handle_graph(WORKFLOW, graph)
    for task in TASKS:

        async def run(flow: Flow, task: str = task) -> None:
            nonlocal ran
            ran += 1
            flow.set_string(f"{task}_by", name)

        proxy.handle_task(task, run)
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(16)
    )

    async def one(n: int) -> None:
        key = await engine.create(WORKFLOW, {"n": n})
        await engine.start(key)
        outcome = await engine.await_flow(key, timeout=120)
        if outcome.status is not Status.COMPLETED:
            raise RuntimeError(f"flow {key} ended {outcome.status.value}: {outcome.error}")

    async with engine:
        await asyncio.gather(*(one(n) for n in range(flows)))
        path = urlsplit(dsn).path
        while True:
            reader = sqlite3.connect(path)
            try:
                (done,) = reader.execute(
                    "SELECT COUNT(*) FROM dwarf_flows WHERE status = 'completed'"
                ).fetchone()
            finally:
                reader.close()
            if done >= total:
                break
            await asyncio.sleep(0.05)
    print(json.dumps({"ran": ran}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
