"""StartAt: a flow's entry step is not dispatched before ``FlowOptions.start_at``.

Only lower bounds are asserted (with a little slack for millisecond database clocks): the engine
may start later, never earlier. A ``start_at`` in the past runs at once. Until then the flow is
``running`` and ``poll`` returns that outcome when its timeout passes, without error.

Each test first runs a trivial flow, so the engine's start-up poll has certainly finished: a
delayed step must then be woken by the engine's own timer, not by that first poll.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from tests.fixtures.engines import MakeEngine

CLOCK_SLACK = timedelta(milliseconds=20)
WAIT = 5.0
"""Generous next to the sub-second start times, short enough that a lost wake-up fails fast."""


def stamp_proxy(ran_at: list[datetime]) -> TestProxy:
    proxy = TestProxy()
    graph = Graph("later")
    graph.add_transition_chain("first", "second", END)
    proxy.handle_graph("later", graph)
    warm = Graph("warm-up")
    warm.add_transition_chain("second", END)
    proxy.handle_graph("warm-up", warm)

    @proxy.task("first")
    async def first(flow: Flow) -> None:
        ran_at.append(datetime.now(UTC))

    @proxy.task("second")
    async def second(flow: Flow) -> None:
        flow.set_bool("done", True)

    return proxy


async def warm_up(engine: Engine) -> None:
    assert (await engine.run("warm-up", timeout=30)).status is Status.COMPLETED


async def test_the_entry_step_does_not_run_before_start_at(make_engine: MakeEngine) -> None:
    ran_at: list[datetime] = []
    async with make_engine(stamp_proxy(ran_at)) as engine:
        await warm_up(engine)
        start_at = datetime.now(UTC) + timedelta(milliseconds=600)
        key = await engine.create("later", options=FlowOptions(start_at=start_at))
        await engine.start(key)
        waiting = await engine.poll(key, timeout=0.1)
        early = list(ran_at)
        outcome = await engine.await_flow(key, timeout=WAIT)

    assert waiting.status is Status.RUNNING, "poll returns the running outcome on timeout"
    assert all(when >= start_at - CLOCK_SLACK for when in early)
    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"done": True}
    assert len(ran_at) == 1
    assert ran_at[0] >= start_at - CLOCK_SLACK


async def test_a_start_at_in_the_past_runs_immediately(make_engine: MakeEngine) -> None:
    ran_at: list[datetime] = []
    async with make_engine(stamp_proxy(ran_at)) as engine:
        await warm_up(engine)
        outcome = await engine.run(
            "later",
            options=FlowOptions(start_at=datetime.now(UTC) - timedelta(hours=1)),
            timeout=30,
        )

    assert outcome.status is Status.COMPLETED
    assert len(ran_at) == 1


async def test_start_at_counts_from_create_even_if_the_flow_is_started_later(
    make_engine: MakeEngine,
) -> None:
    ran_at: list[datetime] = []
    async with make_engine(stamp_proxy(ran_at)) as engine:
        await warm_up(engine)
        start_at = datetime.now(UTC) + timedelta(milliseconds=400)
        key = await engine.create("later", options=FlowOptions(start_at=start_at))
        created = await engine.snapshot(key)
        await engine.start(key)
        outcome = await engine.await_flow(key, timeout=WAIT)

    assert created.status is Status.CREATED
    assert outcome.status is Status.COMPLETED
    assert ran_at[0] >= start_at - CLOCK_SLACK
