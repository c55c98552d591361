"""Metrics: every instrument is emitted through the injected MeterProvider with its labels.

Counters and histograms are checked in one scenario that triggers each of them; the gauges read
the database, so they run on every dialect. Labels never carry a flow key.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from tests.engine.otel_support import Telemetry
from tests.fixtures.engines import MakeEngine


def scenario_proxy() -> TestProxy:
    """order: A (retries once) -> B (raises, routed to H); fails: F raises; pause: P
    interrupts; parent: S calls the subgraph child (C)."""
    proxy = TestProxy()
    order = Graph("order")
    order.add_transition_chain("A", "B", END)
    order.add_transition_on_error("B", "H")
    order.add_transition("H", END)
    proxy.handle_graph("order", order)
    for name, task in (("fails", "F"), ("pause", "P"), ("parent", "S"), ("child", "C")):
        graph = Graph(name)
        graph.add_transition(task, END)
        proxy.handle_graph(name, graph)

    @proxy.task("A")
    async def a(flow: Flow) -> None:
        if flow.attempt == 0:
            flow.retry(1, 0, 1, 0)

    @proxy.task("B")
    async def b(flow: Flow) -> None:
        raise KeyError("api_key")

    @proxy.task("H")
    async def h(flow: Flow) -> None:
        pass

    @proxy.task("F")
    async def f(flow: Flow) -> None:
        raise ValueError("no luck")

    @proxy.task("P")
    async def p(flow: Flow) -> None:
        flow.interrupt({"ask": "ok?"})

    @proxy.task("S")
    async def s(flow: Flow) -> None:
        flow.set("out", flow.subgraph("child"))

    @proxy.task("C")
    async def c(flow: Flow) -> None:
        flow.set("done", True)

    return proxy


@pytest.mark.sqlite_only
async def test_counters_and_histograms_carry_their_labels(make_engine: MakeEngine) -> None:
    otel = Telemetry()
    async with make_engine(
        scenario_proxy(),
        meter_provider=otel.meter_provider,
        tracer_provider=otel.tracer_provider,
    ) as engine:
        keys = []
        for name in ("order", "fails", "parent"):
            outcome = await engine.run(name, {}, timeout=30)
            keys.append(outcome.flow_key)
        paused = await engine.run("pause", {}, timeout=30)
        assert paused.status is Status.INTERRUPTED
        await engine.resume(paused.flow_key, {})
        assert (await engine.await_flow(paused.flow_key, timeout=30)).status is Status.COMPLETED
        created = await engine.create("order", {}, FlowOptions(fairness_key="tenant-42"))
        await engine.cancel(created, "not needed")
        keys += [paused.flow_key, created]

        started = "dwarf_flows_started_total"
        for workflow in ("order", "fails", "parent", "child", "pause"):
            assert otel.value(started, workflow=workflow) == 1, workflow
        ended = "dwarf_flows_terminated_total"
        assert otel.value(ended, workflow="order", status="completed") == 1
        assert otel.value(ended, workflow="order", status="cancelled") == 1
        assert otel.value(ended, workflow="fails", status="failed") == 1
        assert otel.value(ended, workflow="child", status="completed") == 1
        assert otel.value(ended, workflow="pause", status="completed") == 1

        executed = "dwarf_steps_executed_total"
        assert otel.value(executed, task="A", status="retried") == 1
        assert otel.value(executed, task="A", status="completed") == 1
        assert otel.value(executed, task="B", status="error_routed") == 1
        assert otel.value(executed, task="H", status="completed") == 1
        assert otel.value(executed, task="F", status="failed") == 1
        assert otel.value(executed, task="P", status="interrupted") == 1
        assert otel.value(executed, task="S", status="subgraph") == 1
        assert otel.value(executed, task="S", status="completed") == 1

        assert otel.value("dwarf_step_duration_seconds", task="A") == 2
        assert otel.value("dwarf_flow_duration_seconds", workflow="fails", status="failed") == 1
        waits = otel.points("dwarf_step_queue_wait_seconds")
        assert waits
        assert {tuple(attributes) for attributes, _ in waits} == {("priority",)}
        operations = otel.points("dwarf_db_transaction_duration_seconds")
        names = {attributes["operation"] for attributes, _ in operations}
        assert {"create_flow", "claim", "fail_step"} <= names
        fairness = await otel.eventually("dwarf_steps_fairness_keys", bool)
        assert [attributes for attributes, _ in fairness] == [{"priority": 100}]

        assert set(otel.scopes()) == {"dwarf"}
        data = otel.reader.get_metrics_data()
        everything = str(data.to_json()) if data else ""
        for key in keys:
            assert key not in everything
        assert "tenant-42" not in everything


@pytest.mark.sqlite_only
async def test_a_recovered_lease_is_counted(make_engine: MakeEngine, engine_dsn: str) -> None:
    proxy = scenario_proxy()
    async with make_engine(proxy, workers=0) as operator:
        key = await operator.create("fails", {})
        await operator.start(key)
    # The entry step as a crashed replica leaves it: claimed, its lease already expired.
    with sqlite3.connect(engine_dsn.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE dwarf_steps SET status = 'running', lease_seq = lease_seq + 1,"
            " lease_owner = 'gone', lease_expires = '2000-01-01 00:00:00.000'"
        )
    otel = Telemetry()
    async with make_engine(proxy, meter_provider=otel.meter_provider) as engine:
        await engine.await_flow(key, timeout=30)
        assert otel.value("dwarf_steps_recovered_total") == 1
        assert otel.points("dwarf_steps_recovered_total")[0][0] == {}


async def test_gauges_report_due_steps_per_priority(make_engine: MakeEngine) -> None:
    otel = Telemetry()
    async with make_engine(
        scenario_proxy(), workers=0, meter_provider=otel.meter_provider
    ) as engine:
        for priority in (5, 5, 5, 0, 0):
            await engine.start(await engine.create("order", {}, FlowOptions(priority=priority)))

        def both_bands(points: list[tuple[dict[str, Any], Any]]) -> bool:
            return {a["priority"]: p.value for a, p in points} == {5: 3, 100: 2}

        await otel.eventually("dwarf_steps_pending", both_bands)
        oldest = otel.points("dwarf_steps_oldest_pending_age_seconds")
        assert sorted(a["priority"] for a, _ in oldest) == [5, 100]
        assert all(point.value >= 0 for _, point in oldest)
        assert [(a, p.value) for a, p in otel.points("dwarf_steps_queue_depth")] == [({}, 0)]
    # After shutdown the gauges answer nothing rather than a stale or failing read.
    assert otel.points("dwarf_steps_pending") == []
    assert otel.points("dwarf_steps_queue_depth") == []
