"""``DWARF_TEST_DSN`` sends ``run_in_test`` to a server: fresh databases per label, then dropped."""

from __future__ import annotations

import psycopg
import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.databases import POSTGRES_SERVER_DSN, in_ci

pytestmark = pytest.mark.sqlite_only


def proxy() -> TestProxy:
    p = TestProxy()
    graph = Graph("hello")
    graph.add_transition_chain("hello", END)
    p.handle_graph("hello", graph)

    @p.task("hello")
    async def hello(flow: Flow) -> None:
        flow.set("hi", True)

    return p


def engine(p: TestProxy) -> Engine:
    return Engine().with_graph_loader(p.load_graph).with_task_executor(p.execute_task)


async def scratch_databases() -> list[str]:
    async with await psycopg.AsyncConnection.connect(POSTGRES_SERVER_DSN) as conn:
        cur = await conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'dwarf_scratch_%'"
        )
        return [row[0] for row in await cur.fetchall()]


async def test_run_in_test_uses_the_server_and_drops_its_databases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        before = set(await scratch_databases())
    except psycopg.OperationalError:
        if in_ci():
            raise
        pytest.skip("no PostgreSQL server")
    monkeypatch.setenv("DWARF_TEST_DSN", POSTGRES_SERVER_DSN)
    p = proxy()
    a, b = engine(p).with_num_shards(2), engine(p).with_num_shards(2).with_workers(0)
    async with a.run_in_test("shared"), b.run_in_test("shared"):
        during = set(await scratch_databases()) - before
        outcome = await a.run("hello", timeout=30)
        seen_by_peer = await b.snapshot(outcome.flow_key)
    after = set(await scratch_databases()) - before

    assert outcome.status is Status.COMPLETED
    assert seen_by_peer.state == {"hi": True}, "the two engines did not share the databases"
    assert len(during) == 2
    assert all(name.endswith(("_1", "_2")) for name in during)
    assert after == set()


async def test_a_test_dsn_naming_sqlite_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DWARF_TEST_DSN", "sqlite:///tmp/x.sqlite")
    with pytest.raises(BadRequestError, match="DWARF_TEST_DSN"):
        async with engine(proxy()).run_in_test():
            pass
