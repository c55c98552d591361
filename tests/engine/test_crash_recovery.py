"""A replica killed or paused mid-task loses nothing: a live peer finishes its flows, once each.

``crash_worker.py`` runs a real engine in a subprocess against PostgreSQL with a one-hour time
budget, so its steps' leases outlast the test: only heartbeat recovery can hand them on
(docs/internals/liveness.md). Its flows complete ``t0`` and then sit in ``t1``.

- Killed: once every ``t1`` is claimed the test SIGKILLs the process and starts a peer here,
  which must notice that the dead replica stopped heartbeating and drive every flow to
  completion with the right state, without re-running ``t0`` and with exactly one stored
  completion per step.
- Killed with its entry steps claimed by ``run``'s creates (dispatch D13), on PostgreSQL,
  MariaDB and a SQLite file: ``t0`` hangs instead, in a step no refill ever saw pending; the
  peer takes and finishes every flow just the same.
- Paused: the test SIGSTOPs the process instead; the peer takes and finishes its steps; after
  SIGCONT the worker's own late results are fenced out (the peer's stay), and the worker carries
  on with new work and removes its heartbeat row when it shuts down cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dwarf._storage._connect import connect_mysql
from dwarf._storage._dsn import parse_dsn
from dwarf.engine import Engine, TestProxy
from dwarf.workflow import Flow, Status
from tests.engine.crash_worker import TASKS, crash_graph

WORKER = Path(__file__).with_name("crash_worker.py")
FLOWS = 20
STARTUP_LIMIT = 60.0
"""Seconds the worker may take to start its flows and have every ``t1`` claimed."""
RECOVERY_LIMIT = 120.0
"""A hang guard, not a timing: the leases last an hour, so only heartbeat recovery gets here."""


async def _rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` on the database ``dsn`` names (PostgreSQL, MariaDB or a SQLite file)."""
    if dsn.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(parse_dsn(dsn).path)) as lite:
            return list(lite.execute(sql).fetchall())
    if dsn.startswith("mysql"):
        conn = await connect_mysql(parse_dsn(dsn))
        try:
            async with conn.cursor() as cur:
                await cur.execute(sql)
                return list(await cur.fetchall())
        finally:
            conn.close()
    async with await psycopg.AsyncConnection.connect(dsn) as pg_conn:
        cursor = await pg_conn.execute(sql)
        return list(await cursor.fetchall())


async def _count(dsn: str, sql: str) -> int:
    (row,) = await _rows(dsn, sql)
    return int(row[0])


def _worker_failure(proc: asyncio.subprocess.Process, stderr: Path) -> str:
    return f"crash worker exited with {proc.returncode}:\n{stderr.read_text()[-4000:]}"


async def _start_worker(
    dsn: str, mode: str, tmp_path: Path
) -> tuple[asyncio.subprocess.Process, Path]:
    stdout, stderr = tmp_path / "worker.out", tmp_path / "worker.err"
    env = {
        **os.environ,
        "DWARF_CRASH_DSN": dsn,
        "DWARF_CRASH_FLOWS": str(FLOWS),
        "DWARF_CRASH_MODE": mode,
    }
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), stdout=out, stderr=err, env=env
        )
    return proc, stderr


async def _keys_from_worker(proc: asyncio.subprocess.Process, stderr: Path) -> list[str]:
    stdout = stderr.with_suffix(".out")
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


async def _wait_until_stuck(
    dsn: str, proc: asyncio.subprocess.Process, stderr: Path, task: str = "t1"
) -> None:
    """Wait until every flow's ``task`` is claimed by the worker (and what precedes it done)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_LIMIT
    while loop.time() < deadline:
        running = await _count(
            dsn,
            f"SELECT COUNT(*) FROM dwarf_steps WHERE task_name = '{task}' AND status = 'running'",
        )
        if running == FLOWS:
            return
        if proc.returncode is not None:
            pytest.fail(_worker_failure(proc, stderr))
        await asyncio.sleep(0.1)
    pytest.fail(f"the crash worker did not claim every {task} within {STARTUP_LIMIT}s")


def _peer(dsn: str, ran: Counter[tuple[str, str]]) -> Engine:
    proxy = TestProxy()
    proxy.handle_graph("crash", crash_graph())
    for task in TASKS:

        async def handler(flow: Flow, task: str = task) -> None:
            ran[(flow.flow_key, task)] += 1
            flow.set_int(task, flow.get_int("n"))
            flow.set_string(f"{task}_by", "peer")

        proxy.handle_task(task, handler)
    return (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(8)
    )


async def _one_completion_per_step(dsn: str, flows: int) -> None:
    steps = await _rows(dsn, "SELECT flow_id, task_name, status FROM dwarf_steps")
    assert Counter(status for *_, status in steps) == {"completed": flows * len(TASKS)}
    per_task = Counter((flow_id, task) for flow_id, task, _ in steps)
    assert set(per_task.values()) == {1}
    assert len(per_task) == flows * len(TASKS)


async def test_flows_of_a_killed_replica_complete_on_a_live_peer_exactly_once(
    postgres_dsn: str, tmp_path: Path
) -> None:
    proc, stderr = await _start_worker(postgres_dsn, "hang", tmp_path)
    try:
        keys = await _keys_from_worker(proc, stderr)
        await _wait_until_stuck(postgres_dsn, proc, stderr)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert proc.returncode == -9, _worker_failure(proc, stderr)
    assert len(keys) == FLOWS

    ran: Counter[tuple[str, str]] = Counter()
    async with _peer(postgres_dsn, ran) as engine:
        outcomes = await asyncio.gather(
            *(engine.await_flow(key, timeout=RECOVERY_LIMIT) for key in keys)
        )

    for n, outcome in enumerate(outcomes):
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        assert outcome.state == {
            "n": n,
            "t0": n,
            "t1": n,
            "t2": n,
            "t1_by": "peer",
            "t2_by": "peer",
        }
    # t0 finished before the crash and stays finished: only the hung t1 and the unreached t2
    # run here, for every flow.
    assert set(ran) == {(key, task) for key in keys for task in ("t1", "t2")}
    await _one_completion_per_step(postgres_dsn, FLOWS)


@pytest.fixture(
    params=["postgres_dsn", "mysql_dsn", "sqlite_dsn"], ids=["postgresql", "mysql", "sqlite"]
)
def claiming_dsn(request: pytest.FixtureRequest) -> str:
    """A fresh database of each dialect whose creates claim entry steps (dispatch D13)."""
    dsn: str = request.getfixturevalue(request.param)
    return dsn


async def test_entries_claimed_by_a_killed_replicas_creates_complete_on_a_live_peer_once(
    claiming_dsn: str, tmp_path: Path
) -> None:
    # run's create inserts each entry step already claimed (dispatch D13): a step nobody else
    # saw pending, running under the killed replica. Its peer must take it all the same.
    dsn = claiming_dsn
    proc, stderr = await _start_worker(dsn, "hang-entry", tmp_path)
    try:
        keys = await _keys_from_worker(proc, stderr)
        await _wait_until_stuck(dsn, proc, stderr, "t0")
        # Claimed as inserted: one instant for the row's creation and its start (a refill's
        # claim starts a step after it was created).
        assert (
            await _count(
                dsn,
                "SELECT COUNT(*) FROM dwarf_steps"
                " WHERE task_name = 't0' AND started_at = created_at",
            )
            == FLOWS
        )
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert proc.returncode == -9, _worker_failure(proc, stderr)
    assert len(keys) == FLOWS

    ran: Counter[tuple[str, str]] = Counter()
    async with _peer(dsn, ran) as engine:
        outcomes = await asyncio.gather(
            *(engine.await_flow(key, timeout=RECOVERY_LIMIT) for key in keys)
        )

    for outcome in outcomes:
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        n = outcome.state["n"]
        assert outcome.state == {
            "n": n,
            **dict.fromkeys(TASKS, n),
            **{f"{task}_by": "peer" for task in TASKS},
        }
    assert set(ran) == {(key, task) for key in keys for task in TASKS}
    assert set(ran.values()) == {1}
    await _one_completion_per_step(dsn, FLOWS)


async def test_a_paused_replica_is_fenced_out_of_taken_steps_and_then_carries_on(
    postgres_dsn: str, tmp_path: Path
) -> None:
    proc, stderr = await _start_worker(postgres_dsn, "pause", tmp_path)
    try:
        keys = await _keys_from_worker(proc, stderr)
        await _wait_until_stuck(postgres_dsn, proc, stderr)
        proc.send_signal(signal.SIGSTOP)
        ran: Counter[tuple[str, str]] = Counter()
        async with _peer(postgres_dsn, ran).with_replica_timeout(3) as peer:
            taken = await asyncio.gather(
                *(peer.await_flow(key, timeout=RECOVERY_LIMIT) for key in keys)
            )

        # The peer is gone: only the worker that was paused can run these. They are pending
        # before it wakes: with no peer notifier nothing would tell it about later ones but its
        # poll timer (up to a minute); the refills after its fenced finishes find these.
        proxy = TestProxy()
        proxy.handle_graph("crash", crash_graph())
        creator = Engine().with_dsn(postgres_dsn).with_graph_loader(proxy.load_graph)
        async with creator.with_workers(0):
            later = [await creator.create("crash", {"n": FLOWS + n}) for n in range(3)]
            for key in later:
                await creator.start(key)
            proc.send_signal(signal.SIGCONT)
            after = await asyncio.gather(
                *(creator.await_flow(key, timeout=RECOVERY_LIMIT) for key in later)
            )
            # A clean shutdown lets the worker's late writes land (or be fenced) first.
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), RECOVERY_LIMIT) == 0, _worker_failure(
                proc, stderr
            )
            kept = [await creator.snapshot(key) for key in keys]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        await proc.wait()

    for n, (outcome, now) in enumerate(zip(taken, kept, strict=True)):
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        # t0 ran on the worker before the pause; t1 and t2 are the peer's, and stay the peer's.
        expected = {"n": n, "t0": n, "t1": n, "t2": n, "t0_by": "worker"}
        assert outcome.state == {**expected, "t1_by": "peer", "t2_by": "peer"}
        assert now.state == outcome.state
    assert set(ran) == {(key, task) for key in keys for task in ("t1", "t2")}
    for n, outcome in enumerate(after, start=FLOWS):
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        assert outcome.state["t2_by"] == "worker"
        assert outcome.state["t2"] == n
    await _one_completion_per_step(postgres_dsn, FLOWS + len(later))
    assert await _count(postgres_dsn, "SELECT COUNT(*) FROM dwarf_replicas") == 0
