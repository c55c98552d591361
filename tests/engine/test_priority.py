"""Priority: with one worker, waiting flows run in strict priority order, FIFO within a band.

Ports upstream priorityflow. A holder flow occupies the only worker (blocked on an event rather
than a sleep) while flows of mixed priorities queue up; once it is released they must drain in
band order (lower first), oldest first within a band. Upstream allows the first queued flow to
jump ahead as a "pioneer" (a cached candidate); that ordering is accepted too.
"""

from __future__ import annotations

import asyncio

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from tests.fixtures.engines import MakeEngine


class Recorder:
    """Records the ``tag`` of every flow in the order its task ran; the holder blocks."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.holder_started = asyncio.Event()
        self.release = asyncio.Event()

    def proxy(self) -> TestProxy:
        proxy = TestProxy()
        graph = Graph("priority")
        graph.add_transition_chain("record", END)
        proxy.handle_graph("priority", graph)

        @proxy.task("record")
        async def record(flow: Flow) -> None:
            tag = flow.get_string("tag")
            if tag == "holder":
                self.holder_started.set()
                await self.release.wait()
            self.order.append(tag)

        return proxy


async def test_one_worker_drains_strictly_by_priority_then_fifo(make_engine: MakeEngine) -> None:
    recorder = Recorder()
    # (tag, priority); 0 means "the engine's default", which is 100 here.
    queued = [("f0", 5), ("f1", 2), ("f2", 9), ("f3", 2), ("f4", 5), ("f5", 3), ("f6", 0)]
    async with make_engine(recorder.proxy(), workers=1) as engine:
        holder = await engine.create("priority", {"tag": "holder"}, FlowOptions(priority=1))
        await engine.start(holder)
        await asyncio.wait_for(recorder.holder_started.wait(), 30)
        keys = []
        for tag, priority in queued:
            key = await engine.create("priority", {"tag": tag}, FlowOptions(priority=priority))
            await engine.start(key)
            keys.append(key)
        recorder.release.set()
        outcomes = [await engine.await_flow(key, timeout=30) for key in [holder, *keys]]

    assert all(outcome.status is Status.COMPLETED for outcome in outcomes)
    strict = ["holder", "f1", "f3", "f5", "f0", "f4", "f2", "f6"]
    pioneer = ["holder", "f0", "f1", "f3", "f5", "f4", "f2", "f6"]
    assert recorder.order in (strict, pioneer)


async def test_default_priority_applies_to_flows_created_without_one(
    make_engine: MakeEngine,
) -> None:
    recorder = Recorder()
    async with make_engine(recorder.proxy(), workers=1, default_priority=7) as engine:
        holder = await engine.create("priority", {"tag": "holder"}, FlowOptions(priority=1))
        await engine.start(holder)
        await asyncio.wait_for(recorder.holder_started.wait(), 30)
        keys = []
        # Created in this order: default (7) first, then 8, then 6.
        for tag, options in (
            ("default", None),
            ("eight", FlowOptions(priority=8)),
            ("six", FlowOptions(priority=6)),
        ):
            key = await engine.create("priority", {"tag": tag}, options)
            await engine.start(key)
            keys.append(key)
        recorder.release.set()
        for key in [holder, *keys]:
            assert (await engine.await_flow(key, timeout=30)).status is Status.COMPLETED

    assert recorder.order[0] == "holder"
    assert recorder.order[1:] in (["six", "default", "eight"], ["default", "six", "eight"])
