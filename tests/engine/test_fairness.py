"""Fairness: within one priority band, fairness keys share the workers in proportion to weight.

Ports upstream fairnessflow. With one worker held by a better-priority flow, 40 ``heavy``
(weight 4) and 40 ``light`` (weight 1) flows queue up interleaved. Each dispatch is a weighted
draw over the keys, so heavy should take about 4/5 of the early dispatches. The bounds below are
wide (about four standard deviations of the 40-draw binomial) so the test is deterministic in
practice, yet an unweighted or FIFO scheduler (20 of 40) fails them; and the light key is never
starved until the heavy key runs dry.
"""

from __future__ import annotations

import asyncio

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from tests.fixtures.engines import MakeEngine

PER_KEY = 40
EARLY = 40


async def test_weighted_keys_share_a_single_worker_in_proportion(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("fairness")
    graph.add_transition_chain("tally", END)
    proxy.handle_graph("fairness", graph)
    order: list[str] = []
    holder_started = asyncio.Event()
    release = asyncio.Event()

    @proxy.task("tally")
    async def tally(flow: Flow) -> None:
        tag = flow.get_string("tag")
        if tag == "holder":
            holder_started.set()
            await release.wait()
            return
        order.append(tag)

    async with make_engine(proxy, workers=1) as engine:
        holder = await engine.create(
            "fairness", {"tag": "holder"}, FlowOptions(priority=1, fairness_key="_holder")
        )
        await engine.start(holder)
        await asyncio.wait_for(holder_started.wait(), 30)
        keys = []
        for _ in range(PER_KEY):
            for tag, weight in (("heavy", 4.0), ("light", 1.0)):
                options = FlowOptions(priority=5, fairness_key=tag, fairness_weight=weight)
                key = await engine.create("fairness", {"tag": tag}, options)
                await engine.start(key)
                keys.append(key)
        release.set()
        outcomes = [await engine.await_flow(key, timeout=60) for key in keys]

    assert all(outcome.status is Status.COMPLETED for outcome in outcomes)
    assert order.count("heavy") == PER_KEY
    assert order.count("light") == PER_KEY
    heavy_early = order[:EARLY].count("heavy")
    assert 22 <= heavy_early <= 39, f"heavy took {heavy_early} of the first {EARLY} dispatches"
    first_light = order.index("light")
    last_heavy = len(order) - 1 - order[::-1].index("heavy")
    assert first_light < last_heavy, "the light key must make progress before heavy runs dry"


async def test_equal_weights_alternate_rather_than_drain_one_key_first(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("fairness")
    graph.add_transition_chain("tally", END)
    proxy.handle_graph("fairness", graph)
    order: list[str] = []
    holder_started = asyncio.Event()
    release = asyncio.Event()

    @proxy.task("tally")
    async def tally(flow: Flow) -> None:
        tag = flow.get_string("tag")
        if tag == "holder":
            holder_started.set()
            await release.wait()
            return
        order.append(tag)

    async with make_engine(proxy, workers=1) as engine:
        holder = await engine.create("fairness", {"tag": "holder"}, FlowOptions(priority=1))
        await engine.start(holder)
        await asyncio.wait_for(holder_started.wait(), 30)
        keys = []
        # The whole "bulk" backlog is older than every "solo" flow: FIFO alone would drain it.
        for tag in ["bulk"] * 20 + ["solo"] * 20:
            key = await engine.create("fairness", {"tag": tag}, FlowOptions(fairness_key=tag))
            await engine.start(key)
            keys.append(key)
        release.set()
        for key in keys:
            assert (await engine.await_flow(key, timeout=60)).status is Status.COMPLETED

    solo_early = order[:20].count("solo")
    # Equal weights: about half of the first 20 dispatches each (binomial(20, 1/2) bounds).
    assert 2 <= solo_early <= 18, f"solo got {solo_early} of the first 20 dispatches"
