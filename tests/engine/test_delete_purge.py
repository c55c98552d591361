"""Delete removes one stopped flow; purge removes many by status, workflow or age.

Neither ever removes a running flow.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from dwarf.engine import Engine
from dwarf.errors import NotFoundError
from dwarf.workflow import Query, Status
from tests.engine.rewind_support import Runs, expect_error, linear_proxy, subgraph_proxy
from tests.fixtures.engines import MakeEngine


async def test_delete_removes_created_completed_and_interrupted_flows(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs, fail_unless="ok")) as engine:
        created = await engine.create("abc", {})
        failed = (await engine.run("abc", {}, timeout=30)).flow_key
        completed = (await engine.run("abc", {"ok": True}, timeout=30)).flow_key
        for key in (created, failed, completed):
            await engine.delete(key)
            await expect_error(404, engine.snapshot(key))
            await expect_error(404, engine.delete(key))


async def test_delete_of_a_running_flow_asks_to_cancel_it_first(make_engine: MakeEngine) -> None:
    runs = Runs()
    gate = asyncio.Event()
    async with make_engine(linear_proxy(runs, gate=gate)) as engine:
        key = await engine.create("abc", {})
        await engine.start(key)
        try:
            await expect_error(409, engine.delete(key), match="cancel it first")
            await engine.cancel(key, "make way")
        finally:
            gate.set()
        await engine.delete(key)
        await expect_error(404, engine.snapshot(key))


async def test_delete_rejects_malformed_and_unknown_keys(make_engine: MakeEngine) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        key = await engine.create("abc", {})
        shard, flow_id, _ = key.split("-")
        await expect_error(404, engine.delete(f"{shard}-{flow_id}-ffffffffffffffff"))
        await expect_error(400, engine.delete("1-2"))
        assert (await engine.snapshot(key)).status is Status.CREATED


async def test_purge_never_deletes_a_running_flow(make_engine: MakeEngine) -> None:
    runs = Runs()
    gate = asyncio.Event()
    async with make_engine(linear_proxy(runs, gate=gate)) as engine:
        running = await engine.create("abc", {})
        await engine.start(running)
        created = await engine.create("abc", {})
        try:
            await runs.wait_for("c")
            assert await engine.purge(Query(workflow_name="abc")) == 1
            assert await engine.purge(Query(status=Status.RUNNING)) == 0
            assert (await engine.snapshot(running)).status is Status.RUNNING
            await expect_error(404, engine.snapshot(created))
        finally:
            gate.set()
        assert (await engine.await_flow(running, timeout=30)).status is Status.COMPLETED


async def test_purge_filters_by_status_and_age_and_respects_the_limit(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs, fail_unless="ok")) as engine:
        failed = (await engine.run("abc", {}, timeout=30)).flow_key
        done = [(await engine.run("abc", {"ok": True}, timeout=30)).flow_key for _ in range(3)]

        assert await engine.purge(Query(status=Status.FAILED)) == 1
        await expect_error(404, engine.snapshot(failed))
        # Nothing has been idle for an hour yet.
        assert await engine.purge(Query(older_than=timedelta(hours=1))) == 0
        assert await engine.purge(Query(status=Status.COMPLETED, limit=2)) == 2
        remaining = [key for key in done if await _exists(engine, key)]
        assert len(remaining) == 1
        assert await engine.purge(Query(older_than=timedelta(0))) == 1
        assert not await _exists(engine, remaining[0])


async def _exists(engine: Engine, key: str) -> bool:
    try:
        await engine.snapshot(key)
    except NotFoundError:
        return False
    return True


async def test_purge_refuses_queries_without_a_filter_or_with_unsupported_ones(
    make_engine: MakeEngine,
) -> None:
    runs = Runs()
    async with make_engine(linear_proxy(runs)) as engine:
        key = await engine.create("abc", {})
        await expect_error(400, engine.purge(Query()), match="status, workflow_name or older_than")
        await expect_error(400, engine.purge(Query(status="created", search="x")), match="search")
        await expect_error(400, engine.purge(Query(status="created", shard=9)), match="shard")
        await expect_error(400, engine.purge("created"))  # type: ignore[arg-type]
        assert (await engine.snapshot(key)).status is Status.CREATED


async def test_delete_and_purge_take_the_subgraph_flows_with_them(make_engine: MakeEngine) -> None:
    runs = Runs()
    async with make_engine(subgraph_proxy(runs)) as engine:
        deleted = await engine.run("parent", {"seed": "s", "fix": True}, timeout=30)
        purged = await engine.run("parent", {"seed": "s", "fix": True}, timeout=30)
        first_child, second_child = runs.keys["child"]
        await expect_error(400, engine.delete(first_child), match="subgraph")

        await engine.delete(deleted.flow_key)
        await expect_error(404, engine.snapshot(first_child))
        # Purge counts root flows only, and only root flows are candidates.
        assert await engine.purge(Query(workflow_name="child")) == 0
        assert await engine.purge(Query(workflow_name="parent")) == 1
        assert not await _exists(engine, purged.flow_key)
        assert not await _exists(engine, second_child)
