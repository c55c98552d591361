"""The flow-stopped callback: a flow started with ``start_notify`` reports every stop to its host.

Ports upstream flowstoppedflow (completed with state, failed with error, cancelled with reason)
and the interrupted stop with its payload. The callback receives the hostname given to
``start_notify`` and the flow's outcome; a flow started with plain ``start`` reports nothing.
"""

from __future__ import annotations

import asyncio

import pytest

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOutcome, Graph, Status
from tests.fixtures.engines import MakeEngine


class Stops:
    """Collects (hostname, outcome) pairs from the callback."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, FlowOutcome]] = asyncio.Queue()
        self.seen: list[tuple[str, FlowOutcome]] = []

    async def callback(self, hostname: str, outcome: FlowOutcome) -> None:
        self.seen.append((hostname, outcome))
        await self.queue.put((hostname, outcome))

    async def next_for(self, flow_key: str) -> tuple[str, FlowOutcome]:
        """The next stop reported for ``flow_key`` (others are skipped)."""
        while True:
            hostname, outcome = await asyncio.wait_for(self.queue.get(), 30)
            if outcome.flow_key == flow_key:
                return hostname, outcome


def gate_proxy() -> TestProxy:
    """One task, ``gate``, that completes, fails or interrupts according to ``mode``."""
    proxy = TestProxy()
    graph = Graph("gated")
    graph.add_transition_chain("gate", END)
    proxy.handle_graph("gated", graph)

    @proxy.task("gate")
    async def gate(flow: Flow) -> None:
        mode = flow.get_string("mode")
        if mode == "fail":
            raise RuntimeError("gate refused")
        if mode == "interrupt":
            flow.interrupt({"need": "input"})
        flow.set_string("result", "ok")

    return proxy


async def test_a_completed_flow_reports_its_state(make_engine: MakeEngine) -> None:
    stops = Stops()
    async with make_engine(gate_proxy(), flow_stopped_callback=stops.callback) as engine:
        key = await engine.create("gated", {"mode": "complete"})
        await engine.start_notify(key, "host-complete")
        hostname, outcome = await stops.next_for(key)

    assert hostname == "host-complete"
    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"mode": "complete", "result": "ok"}


async def test_a_failed_flow_reports_its_error(make_engine: MakeEngine) -> None:
    stops = Stops()
    async with make_engine(gate_proxy(), flow_stopped_callback=stops.callback) as engine:
        key = await engine.create("gated", {"mode": "fail"})
        await engine.start_notify(key, "host-fail")
        hostname, outcome = await stops.next_for(key)

    assert hostname == "host-fail"
    assert outcome.status is Status.FAILED
    assert "gate refused" in outcome.error


async def test_an_interrupted_then_cancelled_flow_reports_the_payload_then_the_reason(
    make_engine: MakeEngine,
) -> None:
    stops = Stops()
    async with make_engine(gate_proxy(), flow_stopped_callback=stops.callback) as engine:
        key = await engine.create("gated", {"mode": "interrupt"})
        await engine.start_notify(key, "host-cancel")
        interrupted_host, interrupted = await stops.next_for(key)
        await engine.cancel(key, "operator abort")
        cancelled_host, cancelled = await stops.next_for(key)

    assert interrupted_host == "host-cancel"
    assert interrupted.status is Status.INTERRUPTED
    assert interrupted.interrupt_payload == {"need": "input"}
    assert cancelled_host == "host-cancel"
    assert cancelled.status is Status.CANCELLED
    assert cancelled.cancel_reason == "operator abort"


async def test_an_interrupted_then_resumed_flow_reports_both_stops(
    make_engine: MakeEngine,
) -> None:
    stops = Stops()
    proxy = gate_proxy()

    @proxy.task("gate")
    async def gate(flow: Flow) -> None:
        reply = flow.interrupt({"need": "input"})
        flow.set("reply", reply)

    async with make_engine(proxy, flow_stopped_callback=stops.callback) as engine:
        key = await engine.create("gated")
        await engine.start_notify(key, "host")
        _, interrupted = await stops.next_for(key)
        await engine.resume(key, {"ok": True})
        _, completed = await stops.next_for(key)

    assert interrupted.status is Status.INTERRUPTED
    assert completed.status is Status.COMPLETED
    assert completed.state == {"reply": {"ok": True}}


@pytest.mark.parametrize("mode", ["complete", "fail"])
async def test_a_flow_started_without_notify_reports_nothing(
    make_engine: MakeEngine, mode: str
) -> None:
    stops = Stops()
    async with make_engine(gate_proxy(), flow_stopped_callback=stops.callback) as engine:
        quiet = await engine.run("gated", {"mode": mode}, timeout=30)
        # A notified flow afterwards proves the callback works and flushes anything pending.
        key = await engine.create("gated", {"mode": "complete"})
        await engine.start_notify(key, "host")
        await stops.next_for(key)

    assert quiet.status in (Status.COMPLETED, Status.FAILED)
    assert [outcome.flow_key for _, outcome in stops.seen] == [key]
