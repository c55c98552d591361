"""The adaptive valve and the static limits, end to end against a simulated downstream.

What a user notices: flows refused with backpressure all complete without consuming attempts,
the downstream sees close to its limit and few refusals, a refused task does not block other
work, cancel wins over a bounce, replicas share cuts, and configured limits hold.

The valves, the limits and the cuts replicas gossip live in each replica's memory. What they
write is a refused step's bounce (due again at once, its attempt kept): one statement whatever
the refusal, which test_backpressure.py runs on every dialect. So the tests of the valve's own
arithmetic (fed near a rate or a cap, one valve per key, cuts gossiped) run on SQLite only, each
taking seconds of real time per dialect that no SQL could change; those that lean on the claim
query (priority bands, limits across workers, cancel against a bounce, retry-after) run on every
dialect.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status, err_backpressure
from tests.fixtures.downstream import Downstream, Relay
from tests.fixtures.engines import MakeEngine


def one_task(name: str, task: str, proxy: TestProxy) -> None:
    graph = Graph(name)
    graph.add_transition_chain(task, END)
    proxy.handle_graph(name, graph)


async def run_all(engine: Engine, workflow: str, n: int, **kw: Any) -> list[Status]:
    keys = [await engine.create(workflow, {"i": i}, **kw) for i in range(n)]
    for key in keys:
        await engine.start(key)
    outcomes = await asyncio.gather(*(engine.await_flow(key, timeout=60) for key in keys))
    return [o.status for o in outcomes]


@pytest.mark.sqlite_only
async def test_a_rate_limited_downstream_is_fed_near_its_rate_and_every_flow_completes(
    make_engine: MakeEngine,
) -> None:
    # The seed's adaptiveconcurrencyflow (49 flows there; 28 keep the test short).
    proxy = TestProxy()
    one_task("adaptive", "call", proxy)
    downstream = Downstream(rate=7)
    attempts: list[int] = []

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        attempts.append(flow.attempt)
        await downstream.call(flow)

    async with make_engine(proxy, workers=16) as engine:
        statuses = await run_all(engine, "adaptive", 28)
        controls = {c.key: c for c in engine.task_controls()}

    assert statuses == [Status.COMPLETED] * 28
    assert downstream.count("ok") == 28
    assert set(attempts) == {0}, "a refusal consumed an attempt"
    # Without the valve every refused step came straight back (hundreds of calls).
    assert downstream.count("429") <= 28
    assert controls["call"].cuts == downstream.count("429")
    assert controls["call"].adaptive_rate_limit is not None


@pytest.mark.sqlite_only
async def test_a_concurrency_capped_downstream_completes_every_flow(
    make_engine: MakeEngine,
) -> None:
    # The seed's maxconcurrencyflow: 24 flows, 6 workers, a downstream taking 3 at a time.
    proxy = TestProxy()
    one_task("capped", "call", proxy)
    downstream = Downstream(max_concurrent=3)

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        await downstream.call(flow, hold=0.02)

    async with make_engine(proxy, workers=6) as engine:
        statuses = await run_all(engine, "capped", 24)

    assert statuses == [Status.COMPLETED] * 24
    assert downstream.count("ok") == 24
    assert downstream.peak <= 3


async def test_a_saturated_urgent_task_does_not_block_less_urgent_work(
    make_engine: MakeEngine,
) -> None:
    # The seed's saturatedbandflow: priority 1 refused with 429s, priority 5 still flows.
    proxy = TestProxy()
    one_task("urgent", "saturated", proxy)
    one_task("routine", "fine", proxy)
    saturated = Downstream(rate=0.000001, burst=1)
    saturated._tokens = 0.0  # nothing at all until the test lets it through
    routine_done = asyncio.Event()

    @proxy.task("saturated")
    async def urgent(flow: Flow) -> None:
        if not routine_done.is_set():
            await saturated.call(flow)

    @proxy.task("fine")
    async def fine(flow: Flow) -> None:
        return None

    async with make_engine(proxy, workers=2) as engine:
        urgent_keys = [
            await engine.create("urgent", options=FlowOptions(priority=1)) for _ in range(4)
        ]
        for key in urgent_keys:
            await engine.start(key)
        routine = await run_all(engine, "routine", 10, options=FlowOptions(priority=5))
        pending = [(await engine.snapshot(key)).status for key in urgent_keys]
        routine_done.set()
        finished = [(await engine.await_flow(key, timeout=60)).status for key in urgent_keys]

    assert routine == [Status.COMPLETED] * 10
    assert Status.COMPLETED not in pending, "the urgent flows were never refused"
    assert finished == [Status.COMPLETED] * 4


async def test_cancel_racing_a_backpressure_bounce_leaves_everything_cancelled(
    make_engine: MakeEngine,
) -> None:
    # The seed's cancelbackpressureflow.
    proxy = TestProxy()
    one_task("refused", "call", proxy)
    refused = asyncio.Event()

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        refused.set()
        raise err_backpressure("429 Too Many Requests", "rate")

    async with make_engine(proxy) as engine:
        key = await engine.create("refused")
        await engine.start(key)
        await asyncio.wait_for(refused.wait(), 30)
        await engine.cancel(key, "enough")
        outcome = await engine.await_flow(key, timeout=30)
        await asyncio.sleep(0.3)  # a bounce in flight must not revive the step
        history = await engine.history(key)

    assert outcome.status is Status.CANCELLED
    assert [step.status for step in history] == [Status.CANCELLED]


@pytest.mark.sqlite_only
async def test_two_replicas_share_valve_cuts_through_the_peer_notifier(
    make_engine: MakeEngine,
) -> None:
    # The seed's distributedbackpressureflow.
    proxy = TestProxy()
    one_task("shared", "call", proxy)
    downstream = Downstream(rate=10)

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        await downstream.call(flow)

    relay_a, relay_b = Relay(), Relay()
    async with (
        make_engine(proxy, workers=8, peer_notifier=relay_a) as a,
        make_engine(proxy, workers=8, peer_notifier=relay_b) as b,
    ):
        relay_a.peer, relay_b.peer = b, a
        keys = [await a.create("shared") for _ in range(30)]
        for key in keys:
            await a.start(key)
        outcomes = await asyncio.gather(*(b.await_flow(key, timeout=60) for key in keys))
        limits = [
            {c.key: c.adaptive_rate_limit for c in engine.task_controls()} for engine in (a, b)
        ]

    assert [o.status for o in outcomes] == [Status.COMPLETED] * 30
    assert relay_a.valve_syncs or relay_b.valve_syncs, "no cut was gossiped"
    assert all(limit.get("call") is not None for limit in limits), "a replica missed the cuts"


async def test_a_concurrency_limit_holds_across_the_replicas_workers(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    one_task("limited", "call", proxy)
    downstream = Downstream()

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        await downstream.call(flow, hold=0.03)

    async with make_engine(proxy, workers=8) as engine:
        engine.with_concurrency_limit("call", 2)
        statuses = await run_all(engine, "limited", 12)

    assert statuses == [Status.COMPLETED] * 12
    assert downstream.peak <= 2
    assert downstream.count("429") == 0


async def test_a_rate_limit_spaces_calls_and_can_be_lifted_live(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    one_task("paced", "call", proxy)
    downstream = Downstream()

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        await downstream.call(flow)

    async with make_engine(proxy, workers=8) as engine:
        engine.with_rate_limit("call", 5)
        assert await run_all(engine, "paced", 10) == [Status.COMPLETED] * 10
        paced = downstream.max_in_window(1.0)
        engine.with_rate_limit("call", None)
        assert await run_all(engine, "paced", 10) == [Status.COMPLETED] * 10

    # Selections are spaced 0.2 s apart; a call lands a little after its selection, so one
    # second of calls may hold a sixth whose selection was just outside it (never two).
    assert paced <= 6
    assert downstream.count("ok") == 20


async def test_retry_after_holds_the_key_until_then(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    one_task("later", "call", proxy)
    seen: list[float] = []
    loop = asyncio.get_running_loop()

    @proxy.task("call")
    async def call(flow: Flow) -> None:
        seen.append(loop.time())
        if len(seen) == 1:
            raise err_backpressure("429", "rate", key="api", retry_after=0.6)

    async with make_engine(proxy) as engine:
        outcome = await engine.run("later", timeout=30)
        controls = {c.key: c for c in engine.task_controls()}

    assert outcome.status is Status.COMPLETED
    assert seen[1] - seen[0] >= 0.6
    assert controls["api"].tasks == ("call",)
    assert controls["api"].cuts == 1


@pytest.mark.sqlite_only
async def test_tasks_naming_one_key_share_its_valve(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("two-calls")
    graph.add_transition_chain("first", "second", END)
    proxy.handle_graph("two-calls", graph)
    downstream = Downstream(rate=20, key="api.example.com")

    @proxy.task("first")
    async def first(flow: Flow) -> None:
        await downstream.call(flow)

    @proxy.task("second")
    async def second(flow: Flow) -> None:
        await downstream.call(flow)

    async with make_engine(proxy, workers=16) as engine:
        statuses = await run_all(engine, "two-calls", 30)
        controls = {c.key: c for c in engine.task_controls()}

    assert statuses == [Status.COMPLETED] * 30
    if downstream.count("429"):
        assert "api.example.com" in controls
        assert set(controls["api.example.com"].tasks) <= {"first", "second"}
        assert "first" not in controls or controls["first"].cuts == 0


@pytest.mark.sqlite_only
async def test_bad_protection_input_is_a_bad_request_naming_the_argument(
    make_engine: MakeEngine,
) -> None:
    engine = Engine()
    for call, name in (
        (lambda: engine.with_rate_limit("", 5), "key"),
        (lambda: engine.with_rate_limit("a\x00b", 5), "key"),
        (lambda: engine.with_rate_limit("call", 0), "per_second"),
        (lambda: engine.with_rate_limit("call", -1.5), "per_second"),
        (lambda: engine.with_rate_limit("call", float("nan")), "per_second"),
        (lambda: engine.with_rate_limit("call", "fast"), "per_second"),  # type: ignore[arg-type]
        (lambda: engine.with_concurrency_limit("call", 0), "n"),
        (lambda: engine.with_concurrency_limit("call", 1.5), "n"),  # type: ignore[arg-type]
        (lambda: err_backpressure("429", key=""), "key"),
        (lambda: err_backpressure("429", retry_after="soon"), "retry_after"),  # type: ignore[arg-type]
        (lambda: err_backpressure("429", retry_after=-1), "retry_after"),
    ):
        with pytest.raises(BadRequestError, match=name):
            call()
