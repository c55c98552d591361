"""``shard_info`` reports every shard's size and health; a broken shard shows in its own row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dwarf.engine import Engine
from tests.fixtures.engines import MakeEngine
from tests.fixtures.flows import chain_proxy


async def test_shard_info_counts_every_flow_and_step(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("ab", "a", "b")) as engine:
        for _ in range(3):
            await engine.run("ab", timeout=30)
        await engine.create("ab")
        (summary,) = await engine.shard_info()

    assert summary.shard == 1
    assert summary.error == ""
    assert summary.flows == 4
    # Three finished flows ran two steps each; the created one has only its entry step.
    assert summary.steps == 7
    assert summary.latency_ms >= 0


@pytest.mark.sqlite_only
async def test_every_shard_is_reported_and_counts_sum_to_the_flows(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    dsn = f"sqlite:///{tmp_path / 'shard-%d.sqlite'}"
    async with make_engine(chain_proxy("a", "a"), dsn=dsn, num_shards=3) as engine:
        keys = [(await engine.run("a", timeout=30)).flow_key for _ in range(30)]
        summaries = await engine.shard_info()

    assert [s.shard for s in summaries] == [1, 2, 3]
    assert all(s.error == "" for s in summaries)
    assert sum(s.flows for s in summaries) == 30
    for s in summaries:
        on_shard = sum(1 for key in keys if key.startswith(f"{s.shard}-"))
        assert s.flows == on_shard
        assert s.steps == on_shard


async def drop_steps_table(engine: Engine, shard_index: int) -> None:
    rt = engine._rt
    assert rt is not None

    async def tx(conn: Any) -> None:
        await conn.execute("DROP TABLE dwarf_steps")

    # Raw SQL on the store's own connection: a test breaking the database on purpose.
    await rt.shard(shard_index)._transact_on_connection(tx)


@pytest.mark.sqlite_only
async def test_a_failing_shard_is_reported_in_its_row_not_raised(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    dsn = f"sqlite:///{tmp_path / 'shard-%d.sqlite'}"
    async with make_engine(chain_proxy("a", "a"), dsn=dsn, num_shards=2, workers=0) as engine:
        keys = [await engine.create("a") for _ in range(8)]
        await drop_steps_table(engine, 2)
        first, second = await engine.shard_info()

    assert first.shard == 1
    assert first.error == ""
    assert second.shard == 2
    assert "dwarf_steps" in second.error
    assert (second.steps, second.flows) == (0, 0)
    assert first.flows == sum(1 for key in keys if key.startswith("1-"))
