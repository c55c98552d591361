"""Database faults under a running engine: dropped sessions and an outage lose nothing.

The engine runs the soak's fan-out workload while the test kills every session of its own
database again and again (``pg_terminate_backend`` on PostgreSQL, ``KILL`` on MariaDB), restarts
the PostgreSQL server once (left running: it is shared), or
makes that database refuse connections for a while. Host calls made meanwhile either succeed
or raise ``UnavailableError`` (never a ``StorageError``), every flow that was created finishes
with the right state, and ``shard_info`` reports the outage while it lasts
(docs/internals/storage.md, "Database faults").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from dwarf._soak._workload import WORKFLOW, proxy, verdict
from dwarf.engine import Engine
from dwarf.errors import ConflictError, UnavailableError
from dwarf.workflow import FlowOutcome, Status
from tests.fixtures.databases import in_ci
from tests.fixtures.faults import (
    allow_postgres_connections,
    kill_mysql_sessions,
    restart_postgres_server,
    terminate_postgres_sessions,
)

FLOWS = 40
KILL_ROUNDS = 5
HANG_GUARD = 120.0
"""Seconds before a wait is called a hang (a guard, not a timing)."""
OUTAGE_WINDOW = 2.0
"""Seconds the outage test's stores retry before a 503, instead of ``FAULT_WINDOW``'s 15: the
refusal is the same, sooner (docs/internals/storage.md, S9)."""


def _engine(dsn: str) -> Engine:
    p = proxy()
    return (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(p.load_graph)
        .with_task_executor(p.execute_task)
        .with_workers(8)
        .with_max_open_conns(4)
    )


def _shorten_fault_window(engine: Engine, seconds: float) -> None:
    rt = engine._rt
    assert rt is not None
    for shard in rt.shards:
        shard.fault_window = seconds


async def _create_and_start(engine: Engine, n: int) -> str | None:
    """Create and start flow ``n``; None when the create's outcome is unknown (503)."""
    try:
        key = await engine.create(WORKFLOW, {"n": n})
    except UnavailableError:
        return None
    while True:
        try:
            await engine.start(key)
            return key
        except UnavailableError:
            continue
        except ConflictError:
            return key  # a start cut off in its COMMIT had started it


async def _await_all(engine: Engine, keys: dict[str, int]) -> dict[str, FlowOutcome | None]:
    outcomes: dict[str, FlowOutcome | None] = {}
    for key in keys:
        while True:
            try:
                outcomes[key] = await engine.await_flow(key, timeout=HANG_GUARD)
                break
            except UnavailableError:
                continue
    return outcomes


async def _run_under_kills(
    dsn: str, kill: Callable[[str], Awaitable[int]], rounds: int = KILL_ROUNDS
) -> None:
    killed = 0
    async with _engine(dsn) as engine:

        async def killer() -> None:
            nonlocal killed
            for _ in range(rounds):
                await asyncio.sleep(0.3)
                killed += await kill(dsn)

        chaos = asyncio.create_task(killer())
        keys: dict[str, int] = {}
        for n in range(FLOWS):
            key = await _create_and_start(engine, n)
            if key is not None:
                keys[key] = n
        await chaos
        outcomes = await _await_all(engine, keys)
        info = await engine.shard_info()

    assert killed > 0
    result = verdict(keys, outcomes)
    assert (result.lost, result.failed, result.stuck, result.wrong_state) == (0, 0, 0, 0), result
    assert result.duplicates == 0
    assert len(keys) >= FLOWS - rounds  # at most one create per kill is left unknown
    assert [s.error for s in info] == [""]


async def test_flows_survive_terminated_postgresql_sessions(postgres_dsn: str) -> None:
    await _run_under_kills(postgres_dsn, terminate_postgres_sessions)


async def test_flows_survive_a_postgresql_server_restart(postgres_dsn: str) -> None:
    async def restart(dsn: str) -> int:
        del dsn
        if not await restart_postgres_server():
            if in_ci():
                raise RuntimeError("CI must be able to restart PostgreSQL (pg_ctlcluster)")
            pytest.skip("this machine cannot restart PostgreSQL")
        return 1

    await _run_under_kills(postgres_dsn, restart, rounds=1)


async def test_flows_survive_killed_mariadb_sessions(mysql_dsn: str) -> None:
    await _run_under_kills(mysql_dsn, kill_mysql_sessions)


async def test_an_outage_is_a_503_and_reported_then_dispatch_resumes(postgres_dsn: str) -> None:
    async with _engine(postgres_dsn) as engine:
        _shorten_fault_window(engine, OUTAGE_WINDOW)
        started = [await _create_and_start(engine, n) for n in range(5)]
        await allow_postgres_connections(postgres_dsn, False)
        try:
            await terminate_postgres_sessions(postgres_dsn)
            during = await engine.shard_info()
            try:
                await engine.create(WORKFLOW, {"n": 99})
            except UnavailableError as exc:
                refused: UnavailableError | None = exc
            else:
                refused = None
            also_during = await engine.shard_info()
        finally:
            await allow_postgres_connections(postgres_dsn, True)
        keys = {key: n for n, key in enumerate(started) if key is not None}
        outcomes = await _await_all(engine, keys)
        after = await engine.shard_info()

    assert refused is not None
    assert refused.status_code == 503
    assert "shard 1 (postgresql)" in str(refused)
    # the probe may have raced the first failure; after a refused create the fault is known
    assert also_during[0].error, (during, also_during)
    assert after[0].error == ""
    assert len(keys) == 5
    assert all(o is not None and o.status is Status.COMPLETED for o in outcomes.values())
    result = verdict(keys, outcomes)
    assert (result.wrong_state, result.duplicates) == (0, 0), result
