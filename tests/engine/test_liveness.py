"""Replica liveness on SQLite: the replica timeout setting, and the heartbeat row's lifetime.

Killing and pausing replica processes is in test_crash_recovery.py (PostgreSQL); the queries'
rules are in tests/storage/test_queries_replicas.py.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError, ConflictError
from dwarf.workflow import END, Flow, Graph, Status


def _proxy() -> TestProxy:
    proxy = TestProxy()
    graph = Graph("one")
    graph.add_transition_chain("a", END)
    proxy.handle_graph("one", graph)

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        flow.set_bool("ran", True)

    return proxy


def _replicas(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT replica_id FROM dwarf_replicas")]


@pytest.mark.parametrize(
    "value", [0, 2.9, timedelta(hours=2), -5, "5", True, timedelta(seconds=-1)]
)
def test_a_replica_timeout_outside_3_s_to_1_h_is_a_bad_request(value: object) -> None:
    with pytest.raises(BadRequestError, match="replica_timeout"):
        Engine().with_replica_timeout(value)  # type: ignore[arg-type]


async def test_a_dispatching_replica_heartbeats_while_running_and_leaves_at_shutdown(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    proxy = _proxy()
    engine = (
        Engine()
        .with_dsn(f"sqlite:///{path}")
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_replica_timeout(3)
    )
    operator = Engine().with_dsn(f"sqlite:///{path}").with_workers(0)
    async with engine, operator:
        # written before the first claim; an operator engine claims nothing and has no row
        assert len(_replicas(path)) == 1
        outcome = await engine.run("one", timeout=30)
        with pytest.raises(ConflictError, match="replica timeout"):
            engine.with_replica_timeout(10)
    assert outcome.status is Status.COMPLETED
    assert _replicas(path) == []
