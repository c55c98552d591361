"""Replicas signalling each other through the database (``with_database_signals``).

Without a notifier an idle replica finds a peer's new work only at its next poll, up to five
minutes later; with database signals it picks it up at once. The waits below are bounds far
under that poll interval, so a test passes only if the signal arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, Graph, Status

PROMPT = 10.0  # seconds: far below the idle poll interval (300 s)


def proxy() -> TestProxy:
    p = TestProxy()
    graph = Graph("ping")
    graph.add_transition_chain("ping", END)
    p.handle_graph("ping", graph)

    @p.task("ping")
    async def ping(flow: Flow) -> None:
        flow.set("pong", True)

    return p


@contextlib.asynccontextmanager
async def replica(dsn: str, p: TestProxy, *, workers: int) -> AsyncIterator[Engine]:
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(p.load_graph)
        .with_task_executor(p.execute_task)
        .with_workers(workers)
        .with_database_signals()
    )
    async with engine:
        yield engine


async def idle(engine: Engine) -> None:
    """Give the worker replica time to finish its startup poll and go to sleep."""
    await asyncio.sleep(0.5)


async def test_an_idle_replica_runs_a_peers_new_flow_at_once(postgres_dsn: str) -> None:
    p = proxy()
    async with (
        replica(postgres_dsn, p, workers=4) as worker,
        replica(postgres_dsn, p, workers=0) as front,
    ):
        await idle(worker)
        outcome = await front.run("ping", timeout=PROMPT)
    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"pong": True}


async def test_signals_resume_after_the_listening_connection_is_killed(
    postgres_dsn: str,
) -> None:
    p = proxy()
    async with (
        replica(postgres_dsn, p, workers=4) as worker,
        replica(postgres_dsn, p, workers=0) as front,
    ):
        await idle(worker)
        database = postgres_dsn.rsplit("/", 1)[1]
        async with await psycopg.AsyncConnection.connect(
            postgres_dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True
        ) as admin:
            cur = await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND query LIKE 'LISTEN%%'",
                (database,),
            )
            killed = len(await cur.fetchall())
        await asyncio.sleep(1.5)  # the listeners reconnect (backoff starts at 0.25 s)
        outcome = await front.run("ping", timeout=PROMPT)
    assert killed >= 2, "the listeners were not found"
    assert outcome.status is Status.COMPLETED


async def test_a_completion_wakes_idle_peers(postgres_dsn: str) -> None:
    # A completion may free capacity a peer could use, so it signals "look for work" on no
    # shard in particular (shard 0); that wake used to fail to send (no shard 0 to send on).
    p = proxy()
    async with (
        replica(postgres_dsn, p, workers=4) as worker,
        replica(postgres_dsn, p, workers=0) as front,
    ):
        woken = asyncio.Event()

        async def record_wake(shard: int, step_id: int) -> None:
            woken.set()

        await idle(worker)
        front.handle_enqueue = record_wake  # type: ignore[method-assign]
        # The front creates the flow (its own wake to the worker is not echoed back to it), the
        # worker runs it: the only wake the front can hear is the worker's completion.
        outcome = await front.run("ping", timeout=PROMPT)
        await asyncio.wait_for(woken.wait(), timeout=PROMPT)
    assert outcome.status is Status.COMPLETED


async def test_database_signals_need_a_database_that_carries_them(sqlite_dsn: str) -> None:
    p = proxy()
    with pytest.raises(BadRequestError, match="publish/subscribe"):
        async with replica(sqlite_dsn, p, workers=1):
            pass


async def test_database_signals_and_a_peer_notifier_are_exclusive(postgres_dsn: str) -> None:
    class Silent:
        async def enqueue(self, shard: int, step_id: int) -> None: ...
        async def sync_valve(self, task_name: str, w_cong: int, t_cong: object) -> None: ...
        async def trip_breaker(self, task_name: str) -> None: ...
        async def notify_status_change(self, flow_key: str, status: str) -> None: ...

    p = proxy()
    engine = (
        Engine()
        .with_dsn(postgres_dsn)
        .with_graph_loader(p.load_graph)
        .with_task_executor(p.execute_task)
        .with_peer_notifier(Silent())
        .with_database_signals()
    )
    with pytest.raises(BadRequestError, match="exclusive"):
        await engine.startup()
