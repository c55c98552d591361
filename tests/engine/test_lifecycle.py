"""Engine configuration and lifecycle: clear errors before startup, live knobs after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError, ConflictError, UnavailableError
from dwarf.workflow import END, Flow, Graph, Query, Status
from tests.fixtures.engines import MakeEngine


def _proxy() -> TestProxy:
    proxy = TestProxy()
    graph = Graph("one")
    graph.add_transition_chain("a", END)
    proxy.handle_graph("one", graph)

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        flow.set_bool("ran", True)

    return proxy


async def test_startup_names_what_is_missing(tmp_path: Path) -> None:
    proxy = _proxy()
    dsn = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with pytest.raises(BadRequestError, match="graph loader"):
        await Engine().with_dsn(dsn).with_task_executor(proxy.execute_task).startup()
    with pytest.raises(BadRequestError, match="task executor"):
        await Engine().with_dsn(dsn).with_graph_loader(proxy.load_graph).startup()
    with pytest.raises(BadRequestError, match="DSN"):
        await (
            Engine()
            .with_graph_loader(proxy.load_graph)
            .with_task_executor(proxy.execute_task)
            .startup()
        )


async def test_a_bad_dsn_fails_startup_with_one_clear_line_and_no_password() -> None:
    proxy = _proxy()
    engine = (
        Engine()
        .with_dsn("nosuchdb://user:hunter2@127.0.0.1/x")
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
    )
    with pytest.raises(BadRequestError) as caught:
        await engine.startup()
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_several_shards_need_a_shard_placeholder(tmp_path: Path) -> None:
    proxy = _proxy()
    engine = (
        Engine()
        .with_dsn(f"sqlite:///{tmp_path / 'db.sqlite'}")
        .with_num_shards(2)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
    )
    with pytest.raises(BadRequestError, match="%d"):
        await engine.startup()


async def test_an_engine_on_bare_sqlite_memory_runs_flows_in_a_database_of_its_own() -> None:
    # The migration and the store used to open two different private databases: the store's
    # had no tables. Each engine (and each of its shards) gets its own, not shared with another.
    proxy = _proxy()
    engines = [
        Engine()
        .with_dsn("sqlite://:memory:")
        .with_num_shards(shards)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        for shards in (1, 2)
    ]
    for engine in engines:
        await engine.startup()
    try:
        outcomes = [await engine.run("one", {}) for engine in engines]
        listed = [len((await engine.list_flows(Query()))[0]) for engine in engines]
    finally:
        for engine in engines:
            await engine.shutdown()

    assert [o.status for o in outcomes] == [Status.COMPLETED] * 2
    assert [o.state["ran"] for o in outcomes] == [True, True]
    assert listed == [1, 1]


@pytest.mark.parametrize(
    ("knob", "value"),
    [
        ("with_workers", -1),
        ("with_num_shards", 0),
        ("with_max_open_conns", 0),
        ("with_default_priority", 0),
        ("with_time_budget", -1),
        ("with_time_budget", 0),
    ],
)
def test_configuration_rejects_bad_values(knob: str, value: int) -> None:
    with pytest.raises(BadRequestError):
        getattr(Engine(), knob)(value)


@pytest.mark.sqlite_only
async def test_operations_need_a_running_engine_and_startup_knobs_freeze(
    make_engine: MakeEngine,
) -> None:
    with pytest.raises(UnavailableError):
        await Engine().snapshot("1-1-0123456789abcdef")
    async with make_engine(_proxy()) as engine:
        with pytest.raises(ConflictError):
            engine.with_workers(3)
        with pytest.raises(ConflictError, match=r"number of shards.*restart all replicas"):
            engine.with_num_shards(2)
        with pytest.raises(ConflictError):
            await engine.startup()
    with pytest.raises(UnavailableError):
        await engine.create("one")


async def test_default_priority_applies_live_to_flows_created_afterwards(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(_proxy()) as engine:
        first = await engine.create("one")
        engine.with_default_priority(7)
        second = await engine.create("one")
        summaries, _ = await engine.list_flows(Query(priority=7))
        outcome = await engine.run("one", timeout=30)

    assert first != second
    assert {summary.flow_key for summary in summaries} == {second}
    assert outcome.status is Status.COMPLETED
