"""Two replicas on one database: every flow completes exactly once, with no lock errors.

Two engines share the test's database (PostgreSQL, MariaDB, or a SQLite file), each with its
own workers, and flows of a linear ``t0 -> t1 -> t2`` graph are created and started from both.
Work is claimed optimistically by whichever replica gets there first, so the things a user
would notice if that went wrong are: a flow that never finishes, a step recorded as completed
twice (its successor inserted twice), a step left behind pending/running, state crossing
between flows, or lock-contention errors (deadlocks) that escape the retry helper and reach the
log. This module checks each of them, reading the stored rows directly with the database's
own driver rather than through the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import asyncmy
import psycopg

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOutcome, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine, engine_logger

TASKS = ("t0", "t1", "t2")
FLOWS_PER_DIALECT = {"postgresql": 500, "mysql": 200, "sqlite": 100}
FAN_FLOWS_PER_DIALECT = {"postgresql": 100, "mysql": 60, "sqlite": 30}
LEGS = 5
WORKERS = 16
CREATE_CONCURRENCY = 32


def _linear_graph() -> Graph:
    graph = Graph("linear")
    graph.add_transition_chain(*TASKS, END)
    return graph


def _replica_proxy(replica: str, ran: Counter[tuple[str, str]], by: Counter[str]) -> TestProxy:
    """A proxy whose handlers copy the flow's own number into their output and count runs."""
    proxy = TestProxy()
    proxy.handle_graph("linear", _linear_graph())
    for task in TASKS:

        async def handler(flow: Flow, task: str = task) -> None:
            ran[(flow.flow_key, task)] += 1
            by[replica] += 1
            flow.set_int(task, flow.get_int("n"))

        proxy.handle_task(task, handler)
    return proxy


async def _stored_rows(dialect: str, dsn: str, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` against the test database with the dialect's own driver."""
    if dialect == "postgresql":
        async with await psycopg.AsyncConnection.connect(dsn) as pg:
            cursor = await pg.execute(sql)
            return [tuple(row) for row in await cursor.fetchall()]
    if dialect == "mysql":
        parts = urlsplit(dsn)
        my = await asyncmy.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            database=parts.path.lstrip("/"),
        )
        try:
            async with my.cursor() as cur:
                await cur.execute(sql)
                return [tuple(row) for row in await cur.fetchall()]
        finally:
            my.close()
    path = dsn.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as lite:
        return [tuple(row) for row in lite.execute(sql).fetchall()]


async def test_two_replicas_complete_every_flow_exactly_once(
    make_engine: MakeEngine, engine_dialect: str, engine_dsn: str
) -> None:
    total = FLOWS_PER_DIALECT[engine_dialect]
    ran: Counter[tuple[str, str]] = Counter()
    by_replica: Counter[str] = Counter()
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)

    with engine_logger("concurrency") as (logger, errors):
        async with AsyncExitStack() as stack:
            replicas = [
                await stack.enter_async_context(
                    make_engine(
                        _replica_proxy(name, ran, by_replica), workers=WORKERS, logger=logger
                    )
                )
                for name in ("a", "b")
            ]

            async def launch(n: int) -> str:
                engine = replicas[n % 2]
                async with gate:
                    key = await engine.create("linear", {"n": n})
                    await engine.start(key)
                return key

            keys = await asyncio.gather(*(launch(n) for n in range(total)))

            async def finish(n: int, key: str) -> FlowOutcome:
                # Await on the *other* replica: it must see a stop it may not have caused.
                return await replicas[(n + 1) % 2].await_flow(key, timeout=120)

            outcomes = await asyncio.gather(*(finish(n, key) for n, key in enumerate(keys)))

        error_messages = [record.getMessage() for record in errors.records]

    assert error_messages == []
    assert len(set(keys)) == total
    for n, outcome in enumerate(outcomes):
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        assert outcome.state == {"n": n, "t0": n, "t1": n, "t2": n}
    missing = [(key, task) for key in keys for task in TASKS if ran[(key, task)] < 1]
    assert missing == []
    assert by_replica["a"] > 0
    assert by_replica["b"] > 0

    flow_statuses = await _stored_rows(
        engine_dialect, engine_dsn, "SELECT status, COUNT(*) FROM dwarf_flows GROUP BY status"
    )
    assert {str(status).strip(): int(count) for status, count in flow_statuses} == {
        "completed": total
    }
    steps = await _stored_rows(
        engine_dialect,
        engine_dsn,
        "SELECT flow_id, task_name, step_depth, status FROM dwarf_steps",
    )
    statuses = Counter(str(status).strip() for *_, status in steps)
    assert statuses == {"completed": total * len(TASKS)}
    completions = Counter((flow_id, str(task).strip(), depth) for flow_id, task, depth, _ in steps)
    duplicated = {key: count for key, count in completions.items() if count != 1}
    assert duplicated == {}
    per_flow = Counter(flow_id for flow_id, *_ in steps)
    assert set(per_flow.values()) == {len(TASKS)}


def _fan_proxy(replica: str, by: Counter[str]) -> TestProxy:
    """``split`` fans out over ``LEGS`` items; ``join`` is the fan-in with an append reducer."""
    graph = Graph("fan")
    graph.add_task("split", "split")
    graph.add_task("leg", "leg")
    graph.add_task("join", "join")
    graph.add_transition_for_each("split", "leg", "items", "item")
    graph.add_transition("leg", "join")
    graph.set_fan_in("join")
    graph.add_transition("join", END)
    graph.set_reducer("legs", Reducer.APPEND)
    proxy = TestProxy()
    proxy.handle_graph("fan", graph)

    async def split(flow: Flow) -> None:
        by[replica] += 1
        n = flow.get_int("n")
        flow.set("items", [n * 100 + i for i in range(LEGS)])

    async def leg(flow: Flow) -> None:
        by[replica] += 1
        flow.set("legs", [flow.get_int("item")])

    async def join(flow: Flow) -> None:
        by[replica] += 1
        flow.set_int("joined", len(flow.get("legs", list)))

    proxy.handle_task("split", split)
    proxy.handle_task("leg", leg)
    proxy.handle_task("join", join)
    return proxy


async def test_two_replicas_fire_each_fan_in_exactly_once_in_branch_order(
    make_engine: MakeEngine, engine_dialect: str, engine_dsn: str
) -> None:
    total = FAN_FLOWS_PER_DIALECT[engine_dialect]
    by_replica: Counter[str] = Counter()

    with engine_logger("concurrency") as (logger, errors):
        async with AsyncExitStack() as stack:
            replicas = [
                await stack.enter_async_context(
                    make_engine(_fan_proxy(name, by_replica), workers=WORKERS, logger=logger)
                )
                for name in ("a", "b")
            ]
            keys = []
            for n in range(total):
                engine = replicas[n % 2]
                key = await engine.create("fan", {"n": n})
                await engine.start(key)
                keys.append(key)
            outcomes = await asyncio.gather(
                *(replicas[0].await_flow(key, timeout=120) for key in keys)
            )
        error_messages = [record.getMessage() for record in errors.records]

    assert error_messages == []
    for n, outcome in enumerate(outcomes):
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        assert outcome.state["legs"] == [n * 100 + i for i in range(LEGS)]
        assert outcome.state["joined"] == LEGS
    assert by_replica["a"] > 0
    assert by_replica["b"] > 0
    steps = await _stored_rows(
        engine_dialect, engine_dsn, "SELECT flow_id, task_name, status FROM dwarf_steps"
    )
    assert Counter(str(status).strip() for *_, status in steps) == {"completed": total * (LEGS + 2)}
    per_task = Counter((flow_id, str(task).strip()) for flow_id, task, _ in steps)
    assert Counter(per_task.values()) == {1: 2 * total, LEGS: total}
    assert {task for _, task in per_task} == {"split", "leg", "join"}
