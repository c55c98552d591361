"""A replica killed mid-task loses nothing: another replica finishes its flows, once each.

``crash_worker.py`` runs a real engine in a subprocess against PostgreSQL; its flows complete
``t0`` and then hang in ``t1``. Once every ``t1`` step is claimed (stored as ``running`` under
the worker's lease) the test SIGKILLs the process, so nothing is cleaned up, and starts a
second engine here. That engine must notice the expired leases (time budget 2 s + the 30 s
lease margin, so this test waits about half a minute, once) and drive every flow to completion
with the right state, without re-running ``t0`` (whose completion was already durable) and
with exactly one stored completion per step.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import Flow, Status
from tests.engine.crash_worker import TASKS, crash_graph

WORKER = Path(__file__).with_name("crash_worker.py")
FLOWS = 20
STARTUP_LIMIT = 60.0
"""Seconds the worker may take to start its flows and have every ``t1`` claimed."""
RECOVERY_LIMIT = 120.0
"""Seconds to finish after the kill: the ~32 s lease plus generous slack for a busy machine."""


async def _count(dsn: str, sql: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cursor = await conn.execute(sql)
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def _worker_failure(proc: asyncio.subprocess.Process, stderr: Path) -> str:
    return f"crash worker exited with {proc.returncode}:\n{stderr.read_text()[-4000:]}"


async def _keys_from_worker(
    proc: asyncio.subprocess.Process, stdout: Path, stderr: Path
) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_LIMIT
    while loop.time() < deadline:
        text = await asyncio.to_thread(stdout.read_text)
        if text.endswith("\n"):
            keys: list[str] = json.loads(text)
            return keys
        if proc.returncode is not None:
            pytest.fail(_worker_failure(proc, stderr))
        await asyncio.sleep(0.1)
    pytest.fail(f"the crash worker did not report its flows within {STARTUP_LIMIT}s")


async def _wait_until_stuck(dsn: str, proc: asyncio.subprocess.Process, stderr: Path) -> None:
    """Wait until every flow's ``t1`` is claimed by the worker and ``t0`` is done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_LIMIT
    while loop.time() < deadline:
        running = await _count(
            dsn, "SELECT COUNT(*) FROM dwarf_steps WHERE task_name = 't1' AND status = 'running'"
        )
        if running == FLOWS:
            return
        if proc.returncode is not None:
            pytest.fail(_worker_failure(proc, stderr))
        await asyncio.sleep(0.1)
    pytest.fail(f"the crash worker did not claim every t1 within {STARTUP_LIMIT}s")


async def test_flows_of_a_killed_replica_complete_on_another_replica_exactly_once(
    postgres_dsn: str, tmp_path: Path
) -> None:
    stdout, stderr = tmp_path / "worker.out", tmp_path / "worker.err"
    env = {**os.environ, "DWARF_CRASH_DSN": postgres_dsn, "DWARF_CRASH_FLOWS": str(FLOWS)}
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), stdout=out, stderr=err, env=env
        )
    try:
        keys = await _keys_from_worker(proc, stdout, stderr)
        await _wait_until_stuck(postgres_dsn, proc, stderr)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert proc.returncode == -9, _worker_failure(proc, stderr)
    assert len(keys) == FLOWS

    ran: Counter[tuple[str, str]] = Counter()
    proxy = TestProxy()
    proxy.handle_graph("crash", crash_graph())
    for task in TASKS:

        async def handler(flow: Flow, task: str = task) -> None:
            ran[(flow.flow_key, task)] += 1
            flow.set_int(task, flow.get_int("n"))

        proxy.handle_task(task, handler)
    engine = (
        Engine()
        .with_dsn(postgres_dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(8)
    )
    async with engine:
        outcomes = await asyncio.gather(
            *(engine.await_flow(key, timeout=RECOVERY_LIMIT) for key in keys)
        )

    for n, outcome in enumerate(outcomes):
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        assert outcome.state == {"n": n, "t0": n, "t1": n, "t2": n}
    # t0 finished before the crash and stays finished: only the hung t1 and the unreached t2
    # run here, for every flow.
    assert set(ran) == {(key, task) for key in keys for task in ("t1", "t2")}
    async with await psycopg.AsyncConnection.connect(postgres_dsn) as conn:
        cursor = await conn.execute("SELECT flow_id, task_name, status FROM dwarf_steps")
        steps = await cursor.fetchall()
    assert Counter(status for *_, status in steps) == {"completed": FLOWS * len(TASKS)}
    per_task = Counter((flow_id, task) for flow_id, task, _ in steps)
    assert set(per_task.values()) == {1}
    assert len(per_task) == FLOWS * len(TASKS)
