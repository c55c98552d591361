"""``fingerprint`` stays put while a flow is idle and changes whenever it progresses."""

from __future__ import annotations

import pytest

from dwarf.engine import TestProxy
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import Flow, Status
from tests.fixtures.engines import MakeEngine
from tests.fixtures.flows import chain_proxy, insert_child_flow


def pausing_proxy() -> TestProxy:
    """a -> pause -> done, where pause interrupts once and continues after a resume."""
    proxy = chain_proxy("fingerprint", "a", "pause", "done")

    async def pause(flow: Flow) -> None:
        flow.interrupt({"need": "input"})

    proxy.handle_task("pause", pause)
    return proxy


async def test_fingerprint_is_stable_while_idle_and_changes_on_progress(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(pausing_proxy()) as engine:
        key = await engine.create("fingerprint")
        created = await engine.fingerprint(key)
        assert created == await engine.fingerprint(key)
        assert created[1] is Status.CREATED

        await engine.start(key)
        outcome = await engine.await_flow(key, timeout=30)
        assert outcome.status is Status.INTERRUPTED
        paused = await engine.fingerprint(key)
        assert paused == await engine.fingerprint(key)
        assert paused[1] is Status.INTERRUPTED
        assert paused[0] != created[0]

        await engine.resume(key)
        outcome = await engine.await_flow(key, timeout=30)
        assert outcome.status is Status.COMPLETED
        done = await engine.fingerprint(key)

    assert done[1] is Status.COMPLETED
    assert done[0] not in (created[0], paused[0])
    assert len(done[0]) == 64
    assert int(done[0], 16) >= 0


async def test_fingerprint_changes_when_only_the_status_changes(make_engine: MakeEngine) -> None:
    async with make_engine(TestProxy(), workers=0) as engine:
        key = await engine.create_task("never-runs")
        before = await engine.fingerprint(key)
        await engine.cancel(key, "changed my mind")
        after = await engine.fingerprint(key)

    assert before[1] is Status.CREATED
    assert after[1] is Status.CANCELLED
    assert before[0] != after[0]


async def test_fingerprint_of_an_unknown_flow_is_404(make_engine: MakeEngine) -> None:
    async with make_engine(TestProxy(), workers=0) as engine:
        key = await engine.create_task("never-runs")
        shard, flow_id, _ = key.split("-")
        with pytest.raises(NotFoundError):
            await engine.fingerprint(f"{shard}-{flow_id}-0123456789abcdef")
        with pytest.raises(NotFoundError):
            await engine.fingerprint(f"{shard}-999999-0123456789abcdef")
        with pytest.raises(NotFoundError):
            await engine.fingerprint("2-1-0123456789abcdef")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("bad", ["", "x", "1-1", "one-1-abc", "0-1-abc", "1-0-abc"])
async def test_fingerprint_of_a_malformed_key_is_400(make_engine: MakeEngine, bad: str) -> None:
    async with make_engine(TestProxy(), workers=0) as engine:
        with pytest.raises(BadRequestError):
            await engine.fingerprint(bad)


@pytest.mark.sqlite_only
async def test_fingerprint_covers_subgraph_flows(make_engine: MakeEngine) -> None:
    async with make_engine(chain_proxy("outer", "a", "call")) as engine:
        outcome = await engine.run("outer", timeout=30)
        call = (await engine.history(outcome.flow_key))[1]
        before = await engine.fingerprint(outcome.flow_key)
        await insert_child_flow(engine, call.step_key, "inner", "x")
        after = await engine.fingerprint(outcome.flow_key)

    # The root flow itself did not change: only its subgraph tree did.
    assert before[1] is after[1] is Status.COMPLETED
    assert before[0] != after[0]
