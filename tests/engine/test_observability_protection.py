"""Metrics of protection and recovery: each instrument observed in the scenario that triggers it.

A simulated downstream (tests/fixtures/downstream.py) refuses calls the way a host maps a 429
or a 503; the instruments must count exactly what it refused, under the protection key (the
``task`` label), and the gauges must show each key's limit, running steps and breaker state.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.engine.otel_support import Telemetry
from tests.fixtures.downstream import Downstream
from tests.fixtures.engines import MakeEngine

Points = list[tuple[dict[str, Any], Any]]


def calling(downstream: Downstream, task: str = "call") -> TestProxy:
    """Workflow ``w``: one task that calls ``downstream``."""
    proxy = TestProxy()
    graph = Graph("w")
    graph.add_transition_chain(task, END)
    proxy.handle_graph("w", graph)

    @proxy.task(task)
    async def call(flow: Flow) -> None:
        await downstream.call(flow)

    return proxy


async def start(engine: Engine, n: int) -> list[str]:
    keys = [await engine.create("w", {"i": i}) for i in range(n)]
    for key in keys:
        await engine.start(key)
    return keys


async def finish(engine: Engine, keys: list[str]) -> list[Status]:
    outcomes = await asyncio.gather(*(engine.await_flow(key, timeout=60) for key in keys))
    return [outcome.status for outcome in outcomes]


def gauge(name: str, task: str, value: float) -> tuple[str, Any]:
    """A check for ``Telemetry.eventually``: ``name`` reads ``value`` for ``task``."""

    def check(points: Points) -> bool:
        return any(a == {"task": task} and p.value == value for a, p in points)

    return name, check


@pytest.mark.sqlite_only
async def test_a_static_rate_limit_skips_steps_and_is_its_keys_rate_gauge(
    make_engine: MakeEngine,
) -> None:
    otel = Telemetry()
    async with make_engine(
        calling(Downstream()), workers=8, meter_provider=otel.meter_provider
    ) as engine:
        engine.with_rate_limit("call", 5)
        statuses = await finish(engine, await start(engine, 8))
        await otel.eventually(*gauge("dwarf_task_rate_limit", "call", 5.0))
        skipped = otel.value("dwarf_steps_skipped_saturated_total", task="call")
    assert statuses == [Status.COMPLETED] * 8
    # Eight due at once against a 5/s pacer that lets one out at a time: some waited.
    assert skipped is not None
    assert skipped > 0
    labels = [a for a, _ in otel.points("dwarf_steps_skipped_saturated_total")]
    assert labels == [{"task": "call"}]


@pytest.mark.sqlite_only
async def test_every_backpressure_cuts_the_valve_of_its_key(make_engine: MakeEngine) -> None:
    otel = Telemetry()
    downstream = Downstream(rate=5, burst=2, key="account-7")
    async with make_engine(
        calling(downstream), workers=8, meter_provider=otel.meter_provider
    ) as engine:
        statuses = await finish(engine, await start(engine, 12))

        def limited(points: Points) -> bool:
            return [a for a, _ in points] == [{"task": "account-7"}]

        await otel.eventually("dwarf_task_rate_limit", limited)
    assert statuses == [Status.COMPLETED] * 12
    refused = downstream.count("429")
    assert refused > 0
    # The label is the key the error named, not the task that raised it.
    assert otel.value("dwarf_task_rate_cuts_total", task="account-7") == refused
    assert [a for a, _ in otel.points("dwarf_task_rate_cuts_total")] == [{"task": "account-7"}]


async def test_a_breaker_counts_one_trip_its_probes_and_shows_its_state(
    make_engine: MakeEngine,
) -> None:
    otel = Telemetry()
    downstream = Downstream(down=True)
    async with make_engine(
        calling(downstream, "ack"), workers=4, meter_provider=otel.meter_provider
    ) as engine:
        keys = await start(engine, 1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not engine.breaker_tripped("ack"):
            assert loop.time() < deadline, "the breaker never tripped"
            await asyncio.sleep(0.02)
        keys += await start(engine, 4)
        await otel.eventually(*gauge("dwarf_task_breaker_state", "ack", 1))
        while downstream.count("503") < 3:  # the first call tripped it; two probes failed since
            assert loop.time() < deadline, "no probe reached the downstream"
            await asyncio.sleep(0.02)
        downstream.down = False
        statuses = await finish(engine, keys)
        await otel.eventually(*gauge("dwarf_task_breaker_state", "ack", 0))
        refused = downstream.count("503")
        trips = otel.value("dwarf_task_breaker_trips_total", task="ack", cause="unavailable")
        probes = "dwarf_task_breaker_probes_total"
        failed = otel.value(probes, task="ack", outcome="failure", cause="unavailable")
        succeeded = otel.value(probes, task="ack", outcome="success", cause="unavailable")
    assert statuses == [Status.COMPLETED] * 5
    assert trips == 1, "only the first 503 opened the breaker; the rest found it open"
    assert failed == refused - 1, "every 503 after the trip was a probe"
    assert succeeded == 1, "the first success closed the breaker: no probes after it"


async def test_the_concurrency_gauge_counts_running_steps_and_the_limit_skips_the_rest(
    make_engine: MakeEngine,
) -> None:
    otel = Telemetry()
    gate = asyncio.Event()
    proxy = TestProxy()
    graph = Graph("w")
    graph.add_transition_chain("slow", END)
    proxy.handle_graph("w", graph)

    @proxy.task("slow")
    async def slow(flow: Flow) -> None:
        await gate.wait()

    async with make_engine(proxy, workers=4, meter_provider=otel.meter_provider) as engine:
        engine.with_concurrency_limit("slow", 1)
        keys = await start(engine, 3)
        await otel.eventually(*gauge("dwarf_task_concurrency_running", "slow", 1))
        gate.set()
        statuses = await finish(engine, keys)
        await otel.eventually(*gauge("dwarf_task_concurrency_running", "slow", 0))
        skipped = otel.value("dwarf_steps_skipped_saturated_total", task="slow")
        assert not otel.points("dwarf_task_rate_limit"), "no rate applies to this key"
    assert statuses == [Status.COMPLETED] * 3
    assert skipped is not None
    assert skipped > 0


@pytest.mark.sqlite_only
async def test_a_dead_replicas_step_recovered_by_heartbeat_is_counted(
    make_engine: MakeEngine, engine_dsn: str
) -> None:
    proxy = calling(Downstream())
    async with make_engine(proxy, workers=0) as operator:
        key = await operator.create("w", {})
        await operator.start(key)
    # Claimed by a replica that has no heartbeat row, its lease far from expiring: only the
    # heartbeat recovery can hand it back.
    with sqlite3.connect(engine_dsn.removeprefix("sqlite:///")) as db:
        db.execute(
            "UPDATE dwarf_steps SET status = 'running', lease_seq = lease_seq + 1,"
            " lease_owner = 'gone', lease_expires = '2100-01-01 00:00:00.000'"
        )
    otel = Telemetry()
    async with make_engine(proxy, meter_provider=otel.meter_provider, replica_timeout=3) as engine:
        outcome = await engine.await_flow(key, timeout=30)
        recovered = otel.points("dwarf_steps_recovered_total")
    assert outcome.status is Status.COMPLETED
    assert [(a, p.value) for a, p in recovered] == [({}, 1)]
