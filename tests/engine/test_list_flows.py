"""``list_flows`` filters root flows, searches literally, and pages per shard by cursor."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import END, Flow, FlowOptions, FlowSummary, Graph, Query, Status
from tests.fixtures.engines import MakeEngine
from tests.fixtures.flows import chain_proxy, insert_child_flow


def one_task_proxy(*names: str) -> TestProxy:
    """Serve a one-task graph under each workflow name; the task is called ``only``."""
    proxy = TestProxy()
    for name in names:
        graph = Graph(name)
        graph.add_task("only", "only")
        graph.add_transition("only", END)
        proxy.handle_graph(name, graph)

    async def only(flow: Flow) -> None:
        flow.set_string("done", "yes")

    proxy.handle_task("only", only)
    return proxy


async def walk(engine: Engine, query: Query) -> list[list[FlowSummary]]:
    """Every page of ``query`` until the cursor runs out (bounded, so a bug cannot spin)."""
    pages: list[list[FlowSummary]] = []
    cursor = ""
    for _ in range(100):
        page, cursor = await engine.list_flows(query.model_copy(update={"cursor": cursor}))
        pages.append(page)
        if not cursor:
            return pages
    raise AssertionError("the cursor never ran out")


async def age_flow(engine: Engine, flow_key: str) -> None:
    """Make a flow look last updated in the year 2000 (the filters compare with the DB clock)."""
    rt = engine._rt
    assert rt is not None
    shard, key = rt.parse(flow_key, "flow")
    sql = f"UPDATE dwarf_flows SET updated_at = '2000-01-01 00:00:00.000' WHERE flow_id = {key.id}"

    async def tx(conn: Any) -> None:
        if shard.dialect == "mysql":
            async with conn.cursor() as cur:
                await cur.execute(sql)
        else:
            await conn.execute(sql)

    # Raw SQL on the store's own connection: no generated query back-dates a flow.
    await shard._transact_on_connection(tx)


async def test_list_by_workflow_name_returns_its_flows_with_summaries(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(one_task_proxy("listed", "other")) as engine:
        created = {(await engine.run("listed", timeout=30)).flow_key for _ in range(5)}
        await engine.run("other", timeout=30)
        flows, cursor = await engine.list_flows(Query(workflow_name="listed"))
        everything, _ = await engine.list_flows(Query())

    assert cursor == ""
    assert {f.flow_key for f in flows} == created
    assert len(everything) == 6
    ids = [int(f.flow_key.split("-")[1]) for f in flows]
    assert ids == sorted(ids, reverse=True)
    for summary in flows:
        assert summary.workflow_name == "listed"
        assert summary.status is Status.COMPLETED
        assert summary.task_name == "only"
        # The first flow of a thread is its own thread.
        assert summary.thread_key == summary.flow_key
        assert summary.created_at is not None
        assert summary.updated_at is not None
        assert summary.error == ""
        assert summary.cancel_reason == ""


async def test_list_filters_by_status(make_engine: MakeEngine) -> None:
    async with make_engine(one_task_proxy("flow")) as engine:
        waiting = await engine.create("flow")
        done = (await engine.run("flow", timeout=30)).flow_key
        created, _ = await engine.list_flows(Query(status="created"))
        completed, _ = await engine.list_flows(Query(status=Status.COMPLETED))
        failed, _ = await engine.list_flows(Query(status="failed"))

    assert [f.flow_key for f in created] == [waiting]
    assert created[0].status is Status.CREATED
    assert created[0].task_name == "only"
    assert [f.flow_key for f in completed] == [done]
    assert failed == []


async def test_list_filters_by_fairness_key_and_priority(make_engine: MakeEngine) -> None:
    async with make_engine(one_task_proxy("flow")) as engine:
        tenant_a = {
            (
                await engine.run(
                    "flow", options=FlowOptions(fairness_key="A", priority=7), timeout=30
                )
            ).flow_key
            for _ in range(2)
        }
        b_key = (
            await engine.run("flow", options=FlowOptions(fairness_key="B", priority=9), timeout=30)
        ).flow_key
        by_a, _ = await engine.list_flows(Query(fairness_key="A"))
        by_b9, _ = await engine.list_flows(Query(fairness_key="B", priority=9))
        by_a9, _ = await engine.list_flows(Query(fairness_key="A", priority=9))
        by_7, _ = await engine.list_flows(Query(priority=7))

    assert {f.flow_key for f in by_a} == tenant_a
    assert all(f.fairness_key == "A" and f.priority == 7 for f in by_a)
    assert [f.flow_key for f in by_b9] == [b_key]
    assert by_a9 == []
    assert {f.flow_key for f in by_7} == tenant_a


async def test_list_filters_by_thread_given_any_flow_of_it(make_engine: MakeEngine) -> None:
    async with make_engine(one_task_proxy("flow")) as engine:
        first = (await engine.run("flow", timeout=30)).flow_key
        second = await engine.create("flow", options=FlowOptions(thread_key=first))
        await engine.run("flow", timeout=30)
        by_first, _ = await engine.list_flows(Query(thread_key=first))
        by_second, _ = await engine.list_flows(Query(thread_key=second))
        shard, flow_id, _ = first.split("-")
        with pytest.raises(NotFoundError):
            await engine.list_flows(Query(thread_key=f"{shard}-{flow_id}-0123456789abcdef"))
        with pytest.raises(NotFoundError):
            await engine.list_flows(Query(thread_key="9-1-0123456789abcdef"))
        with pytest.raises(BadRequestError):
            await engine.list_flows(Query(thread_key="not a key"))

    assert [f.flow_key for f in by_first] == [second, first]
    assert by_second == by_first
    assert all(f.thread_key == first for f in by_first)


async def test_list_filters_by_the_current_task(make_engine: MakeEngine) -> None:
    proxy = chain_proxy("ask", "greet", "ask")

    async def ask(flow: Flow) -> None:
        flow.interrupt({"question": "name?"})

    proxy.handle_task("ask", ask)
    async with make_engine(proxy) as engine:
        paused = (await engine.run("ask", timeout=30)).flow_key
        waiting = await engine.create("ask")
        at_ask, _ = await engine.list_flows(Query(task_name="ask"))
        at_greet, _ = await engine.list_flows(Query(task_name="greet"))

    assert [(f.flow_key, f.status, f.task_name) for f in at_ask] == [
        (paused, Status.INTERRUPTED, "ask")
    ]
    assert [f.flow_key for f in at_greet] == [waiting]


async def test_list_filters_by_age_against_the_database_clock(make_engine: MakeEngine) -> None:
    async with make_engine(one_task_proxy("flow"), workers=0) as engine:
        old = await engine.create("flow")
        new = await engine.create("flow")
        await age_flow(engine, old)
        older, _ = await engine.list_flows(Query(older_than=timedelta(days=1)))
        newer, _ = await engine.list_flows(Query(newer_than=3600))
        both, _ = await engine.list_flows(Query(older_than=timedelta(0)))
        neither, _ = await engine.list_flows(
            Query(older_than=timedelta(days=1), newer_than=timedelta(days=1))
        )

    assert [f.flow_key for f in older] == [old]
    assert [f.flow_key for f in newer] == [new]
    assert {f.flow_key for f in both} == {old, new}
    assert neither == []


async def test_search_matches_names_errors_reasons_and_keys_literally(
    make_engine: MakeEngine,
) -> None:
    names = ("alpha_beta", "alphaXbeta", "50%off", "500off", "back\\slash", "backslash")
    proxy = one_task_proxy(*names, "breaks")
    broken = Graph("breaks")
    broken.add_task("boom", "boom")
    broken.add_transition("boom", END)
    proxy.handle_graph("breaks", broken)

    async def boom(flow: Flow) -> None:
        raise RuntimeError("Printer On Fire")

    proxy.handle_task("boom", boom)
    async with make_engine(proxy) as engine:
        keys = {name: await engine.create(name) for name in names}
        failed = (await engine.run("breaks", timeout=30)).flow_key
        cancelled = await engine.create("alpha_beta")
        await engine.cancel(cancelled, "Operator Request")

        async def found(term: str) -> set[str]:
            flows, _ = await engine.list_flows(Query(search=term))
            return {f.flow_key for f in flows}

        assert await found("a_b") == {keys["alpha_beta"], cancelled}
        assert await found("ALPHA") == {keys["alpha_beta"], keys["alphaXbeta"], cancelled}
        assert await found("0%O") == {keys["50%off"]}
        assert await found("k\\s") == {keys["back\\slash"]}
        assert await found("fire") == {failed}
        assert await found("boom") == {failed}
        assert await found("operator req") == {cancelled}
        token = keys["500off"].split("-")[2]
        assert await found(token.upper()) == {keys["500off"]}
        assert await found(keys["500off"]) == {keys["500off"]}
        assert await found("no such thing") == set()
        # Search combines with the other filters.
        flows, _ = await engine.list_flows(Query(search="alpha", status="cancelled"))
        assert [f.flow_key for f in flows] == [cancelled]


async def test_cursor_pages_cover_every_flow_once(make_engine: MakeEngine) -> None:
    async with make_engine(one_task_proxy("paged", "other"), workers=0) as engine:
        created = [await engine.create("paged") for _ in range(25)]
        await engine.create("other")
        pages = await walk(engine, Query(workflow_name="paged", limit=10))

    assert [len(page) for page in pages] == [10, 10, 5]
    listed = [f.flow_key for page in pages for f in page]
    assert listed == list(reversed(created))


async def test_an_exact_last_page_is_followed_by_an_empty_one(make_engine: MakeEngine) -> None:
    async with make_engine(one_task_proxy("paged", "other"), workers=0) as engine:
        # An older flow outside the query, so the last page's oldest flow is not flow 1 (below
        # flow 1 there is provably nothing, and the cursor would end right there).
        await engine.create("other")
        created = {await engine.create("paged") for _ in range(4)}
        pages = await walk(engine, Query(workflow_name="paged", limit=2))

    assert [len(page) for page in pages] == [2, 2, 0]
    assert {f.flow_key for page in pages for f in page} == created


@pytest.mark.sqlite_only
async def test_list_default_page_is_100(make_engine: MakeEngine) -> None:
    async with make_engine(one_task_proxy("many"), workers=0) as engine:
        for _ in range(101):
            await engine.create("many")
        first, cursor = await engine.list_flows(Query())
        rest, last = await engine.list_flows(Query(cursor=cursor))

    assert len(first) == 100
    assert cursor
    assert len(rest) == 1
    assert last == ""


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "1",
        "1=",
        "=5",
        "1=abc",
        "0=5",
        "2=5",
        "1=0",
        "1=5,1=6",
        "1=-3",
        f"1={2**63}",
    ],
)
async def test_a_malformed_cursor_is_400(make_engine: MakeEngine, cursor: str) -> None:
    async with make_engine(TestProxy(), workers=0) as engine:
        with pytest.raises(BadRequestError, match="cursor"):
            await engine.list_flows(Query(cursor=cursor))


@pytest.mark.sqlite_only
async def test_bad_shards_limits_and_queries_are_400(make_engine: MakeEngine) -> None:
    async with make_engine(TestProxy(), workers=0) as engine:
        with pytest.raises(BadRequestError, match="shard"):
            await engine.list_flows(Query(shard=2))
        with pytest.raises(BadRequestError, match="limit"):
            await engine.list_flows(Query(limit=10_001))
        with pytest.raises(BadRequestError, match="status"):
            await engine.list_flows(cast(Any, {"status": "sleeping"}))
        flows, cursor = await engine.list_flows(cast(Any, {"workflowName": "x", "limit": 5}))

    assert (flows, cursor) == ([], "")


@pytest.mark.sqlite_only
async def test_list_leaves_out_subgraph_flows(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("outer", "a")) as engine:
        outcome = await engine.run("outer", timeout=30)
        (caller,) = await engine.history(outcome.flow_key)
        await insert_child_flow(engine, caller.step_key, "inner", "x")
        flows, _ = await engine.list_flows(Query())
        children, _ = await engine.list_flows(Query(workflow_name="inner"))
        searched, _ = await engine.list_flows(Query(search="inner"))

    assert [f.flow_key for f in flows] == [outcome.flow_key]
    assert children == []
    assert searched == []


@pytest.mark.sqlite_only
async def test_pages_across_three_shards_visit_every_flow_once(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    dsn = f"sqlite:///{tmp_path / 'shard-%d.sqlite'}"
    async with make_engine(one_task_proxy("spread"), dsn=dsn, num_shards=3, workers=0) as engine:
        created = {await engine.create("spread") for _ in range(25)}
        pages = await walk(engine, Query(workflow_name="spread", limit=4))
        shard_two = await walk(engine, Query(shard=2, limit=4))

    listed = [f.flow_key for page in pages for f in page]
    assert sorted(listed) == sorted(created)
    for page in pages:
        # Each shard gives at most ceil(4 / 3) = 2 flows; pages are grouped by shard ascending.
        shards = [int(f.flow_key.split("-")[0]) for f in page]
        assert shards == sorted(shards)
        assert all(shards.count(index) <= 2 for index in (1, 2, 3))
    on_two = {key for key in created if key.startswith("2-")}
    assert {f.flow_key for page in shard_two for f in page} == on_two
    assert all(len(page) <= 4 for page in shard_two)
