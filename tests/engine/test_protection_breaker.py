"""The circuit breaker end to end: trip, park, probe, close, start-parking, reconstitution.

What a user notices: while a downstream is down it receives probes only, its flows wait (parked,
not failed, not lost), other tasks keep flowing, and everything drains once it is back, also
after a restart and on a peer replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import NotFoundError
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.downstream import Downstream, Relay
from tests.fixtures.engines import MakeEngine


def graphs(proxy: TestProxy) -> None:
    dead = Graph("dead")
    dead.add_transition_chain("ack", END)
    proxy.handle_graph("dead", dead)
    live = Graph("live")
    live.add_transition_chain("work", END)
    proxy.handle_graph("live", live)


def wire(proxy: TestProxy, downstream: Downstream) -> None:
    graphs(proxy)

    @proxy.task("ack")
    async def ack(flow: Flow) -> None:
        await downstream.call(flow)

    @proxy.task("work")
    async def work(flow: Flow) -> None:
        return None


def wired_to_a_dead_downstream() -> tuple[TestProxy, Downstream]:
    """A proxy whose ``ack`` task calls a downstream that is down until the test revives it."""
    proxy, downstream = TestProxy(), Downstream(down=True)
    wire(proxy, downstream)
    return proxy, downstream


async def wait_for(predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def start_many(engine: Engine, workflow: str, n: int) -> list[str]:
    keys = [await engine.create(workflow) for _ in range(n)]
    for key in keys:
        await engine.start(key)
    return keys


async def statuses(engine: Engine, keys: list[str]) -> list[Status]:
    return [(await engine.snapshot(key)).status for key in keys]


async def test_a_dead_task_is_parked_probed_and_drained_while_others_flow(
    make_engine: MakeEngine,
) -> None:
    # The seed's ackdroppedflow.
    proxy, downstream = wired_to_a_dead_downstream()
    async with make_engine(proxy, workers=4) as engine:
        first = await start_many(engine, "dead", 1)
        await wait_for(lambda: engine.breaker_tripped("ack"))
        rest = await start_many(engine, "dead", 19)
        live = await start_many(engine, "live", 10)
        live_done = await asyncio.gather(*(engine.await_flow(k, timeout=30) for k in live))
        await asyncio.sleep(0.5)  # an outage long enough for a few probes
        during = downstream.count()
        waiting = await statuses(engine, first + rest)
        history = await engine.history(rest[-1])
        downstream.down = False
        drained = await asyncio.gather(*(engine.await_flow(k, timeout=60) for k in first + rest))
        closed = not engine.breaker_tripped("ack")

    assert [o.status for o in live_done] == [Status.COMPLETED] * 10
    assert set(waiting) == {Status.RUNNING}, "a parked flow failed or finished"
    assert [step.status for step in history] == [Status.PENDING]
    # 0.5 s of outage: the trip, then probes 100, 100, 200 ms apart (a few, never 20).
    assert during <= 8
    assert [o.status for o in drained] == [Status.COMPLETED] * 20
    assert downstream.count("ok") == 20
    assert closed


async def test_start_parks_the_entry_step_of_a_tripped_task(make_engine: MakeEngine) -> None:
    # The seed's breakerstartparkflow.
    proxy, downstream = wired_to_a_dead_downstream()
    async with make_engine(proxy, workers=4) as engine:
        tripper = await start_many(engine, "dead", 1)
        await wait_for(lambda: engine.breaker_tripped("ack"))
        late = await start_many(engine, "dead", 3)
        await asyncio.sleep(0.3)
        called = {call.flow_key for call in downstream.calls}
        parked = [await engine.history(key) for key in late]
        downstream.down = False
        done = await asyncio.gather(*(engine.await_flow(k, timeout=60) for k in tripper + late))

    # Probes go to the oldest parked step (the tripper's): the late entries never ran.
    assert called == set(tripper)
    assert [[step.status for step in steps] for steps in parked] == [[Status.PENDING]] * 3
    assert [o.status for o in done] == [Status.COMPLETED] * 4


async def test_a_new_engine_reconstitutes_breakers_from_parked_rows(
    make_engine: MakeEngine,
) -> None:
    # The seed's breakerreconstituteflow.
    proxy, downstream = wired_to_a_dead_downstream()
    async with make_engine(proxy, workers=4) as first:
        keys = await start_many(first, "dead", 5)
        await wait_for(lambda: first.breaker_tripped("ack"))
        await asyncio.sleep(0.2)
    calls_before = downstream.count()
    async with make_engine(proxy, workers=0) as observer:
        # Re-armed at startup from the rows, before anything ran (and without dispatching).
        rearmed = observer.breaker_tripped("ack")
    assert downstream.count() == calls_before
    downstream.down = False
    async with make_engine(proxy, workers=4) as second:
        done = await asyncio.gather(*(second.await_flow(k, timeout=60) for k in keys))
        closed = not second.breaker_tripped("ack")

    assert rearmed
    assert [o.status for o in done] == [Status.COMPLETED] * 5
    assert closed


async def test_a_trip_is_gossiped_and_the_peer_holds_its_steps_too(
    make_engine: MakeEngine,
) -> None:
    proxy, downstream = wired_to_a_dead_downstream()
    relay_a, relay_b = Relay(), Relay()
    async with (
        make_engine(proxy, workers=4, peer_notifier=relay_a) as a,
        make_engine(proxy, workers=4, peer_notifier=relay_b) as b,
    ):
        relay_a.peer, relay_b.peer = b, a
        keys = await start_many(a, "dead", 6)
        await wait_for(lambda: a.breaker_tripped("ack") and b.breaker_tripped("ack"))
        controls = {c.key: c for c in b.task_controls()}
        downstream.down = False
        done = await asyncio.gather(*(b.await_flow(k, timeout=60) for k in keys))

    assert relay_a.trips + relay_b.trips, "no trip was gossiped"
    assert controls["ack"].breaker_open
    assert controls["ack"].next_probe_at is not None
    assert [o.status for o in done] == [Status.COMPLETED] * 6


async def test_parked_flows_can_be_cancelled_deleted_and_restarted(
    make_engine: MakeEngine,
) -> None:
    proxy, downstream = wired_to_a_dead_downstream()
    async with make_engine(proxy, workers=4) as engine:
        keys = await start_many(engine, "dead", 3)
        await wait_for(lambda: engine.breaker_tripped("ack"))
        await engine.cancel(keys[0], "gave up")
        await engine.cancel(keys[1], "unwanted")
        await engine.delete(keys[1])
        cancelled = await engine.await_flow(keys[0], timeout=30)
        history = await engine.history(keys[0])
        with pytest.raises(NotFoundError):
            await engine.snapshot(keys[1])
        downstream.down = False
        done = await engine.await_flow(keys[2], timeout=60)
        await engine.restart(keys[0])
        restarted = await engine.await_flow(keys[0], timeout=60)

    assert cancelled.status is Status.CANCELLED
    assert [step.status for step in history] == [Status.CANCELLED]
    assert done.status is Status.COMPLETED
    assert restarted.status is Status.COMPLETED


async def test_a_shared_key_breaker_parks_every_task_that_tripped_it(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("pair")
    graph.add_transition_chain("left", END)
    proxy.handle_graph("pair", graph)
    other = Graph("other")
    other.add_transition_chain("right", END)
    proxy.handle_graph("other", other)
    downstream = Downstream(down=True, key="host-a")

    @proxy.task("left")
    async def left(flow: Flow) -> None:
        await downstream.call(flow)

    @proxy.task("right")
    async def right(flow: Flow) -> None:
        await downstream.call(flow)

    async with make_engine(proxy, workers=4) as engine:
        keys = await start_many(engine, "pair", 2) + await start_many(engine, "other", 2)
        await wait_for(lambda: engine.breaker_tripped("host-a"))
        await asyncio.sleep(0.3)
        controls = {c.key: c for c in engine.task_controls()}
        downstream.down = False
        done = await asyncio.gather(*(engine.await_flow(k, timeout=60) for k in keys))

    assert controls["host-a"].breaker_open
    assert not engine.breaker_tripped("left")
    assert [o.status for o in done] == [Status.COMPLETED] * 4
