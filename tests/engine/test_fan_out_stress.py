"""Fan-in exactly once under concurrency: racing siblings on two replicas, and a sustained load.

The fan-in fires in the one transaction that sees its cohort's last arrival (the increment and the
read happen on the spawn row in one transaction: docs/internals/fan-in.md#f3). What a user would
notice if that went wrong: a fan-in task running twice (duplicated side effects, doubled totals),
never (a flow that hangs), a branch's output missing from the reduced result, or lock errors
(deadlocks) that escape the engine's retry and reach its log.

The tests:

* the last two siblings of a cohort finish at the same instant on two different replicas: each
  replica has one worker and a branch holds it until its sibling runs too, so the siblings run on
  different replicas and return together, and their transition transactions race on the spawn
  row (a companion test pins that a replica which loses a claim race keeps looking for due work
  instead of idling until its next poll);
* a sustained load on PostgreSQL: two replicas with 64 workers between them run rounds of flows
  that each fan out over 50 elements; every fan-in must run once with exact totals, checked both
  by counting fan-in invocations and by reading the stored rows, and no ERROR may be logged.
  200 flows x 50 elements in 5 rounds take about 15 s a round on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import psycopg
import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, FlowOutcome, FlowStep, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine, engine_logger

ELEMENTS = 50
_RACE_FLOWS = 12
_RACE_WAIT = 20.0


def _flow_id(flow_key: str) -> int:
    """The per-shard flow id of a ``{shard}-{id}-{token}`` key (every test engine has one shard)."""
    return int(flow_key.split("-")[1])


# --- two siblings finishing together on two replicas ---------------------------------------------


class _Bridge:
    """A ``PeerNotifier`` relaying one replica's signals to the other (never back to itself)."""

    def __init__(self) -> None:
        self.peer: Engine | None = None

    async def enqueue(self, shard: int, step_id: int) -> None:
        if self.peer is not None:
            await self.peer.handle_enqueue(shard, step_id)

    async def sync_valve(self, task_name: str, w_cong: int, t_cong: datetime) -> None:
        if self.peer is not None:
            await self.peer.handle_sync_valve(task_name, w_cong, t_cong)

    async def trip_breaker(self, task_name: str) -> None:
        if self.peer is not None:
            await self.peer.handle_trip_breaker(task_name)

    async def notify_status_change(self, flow_key: str, status: str) -> None:
        if self.peer is not None:
            await self.peer.handle_notify_status_change(flow_key, status)


class _Meeting:
    """Holds a flow's two branches until both are running, then releases them together.

    ``pinged`` engines are asked to look for work (``handle_enqueue``) while a branch waits, as a
    peer notifier would; the companion test below shows a replica finds the sibling without it.
    """

    def __init__(self, pinged: list[Engine]) -> None:
        self._pinged = pinged
        self._arrived: Counter[str] = Counter()
        self._met: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def both_running(self, flow_key: str) -> None:
        met = self._met[flow_key]
        self._arrived[flow_key] += 1
        if self._arrived[flow_key] == 2:
            met.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _RACE_WAIT
        while not met.is_set():
            if loop.time() > deadline:
                raise TimeoutError(f"the sibling of a branch of {flow_key} never started")
            for engine in self._pinged:
                await engine.handle_enqueue(1, 0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(met.wait(), 0.05)


def _race_proxy(replica: str, meeting: _Meeting, joins: Counter[str]) -> TestProxy:
    graph = Graph("race")
    for task in ("split", "left", "right", "join"):
        graph.add_task(task, task)
    graph.set_fan_in("join")
    graph.set_reducer("total", Reducer.ADD)
    graph.set_reducer("ran", Reducer.APPEND)
    graph.add_transition_fan_out("split", "left", "right")
    graph.add_transition("left", "join")
    graph.add_transition_chain("right", "join", END)
    proxy = TestProxy()
    proxy.handle_graph("race", graph)

    async def split(flow: Flow) -> None:
        pass

    for branch, amount in (("left", 1), ("right", 2)):

        async def run_branch(flow: Flow, branch: str = branch, amount: int = amount) -> None:
            await meeting.both_running(flow.flow_key)
            flow.set_int("total", amount)
            flow.set("ran", [f"{branch}@{replica}"])

        proxy.handle_task(branch, run_branch)

    async def join(flow: Flow) -> None:
        joins[flow.flow_key] += 1
        flow.set_int("joined", flow.get_int("total"))

    proxy.handle_task("split", split)
    proxy.handle_task("join", join)
    return proxy


async def _race(
    make_engine: MakeEngine, *, flows: int, ping: bool, timeout: float
) -> tuple[list[FlowOutcome], list[list[FlowStep]], Counter[str], list[str]]:
    """Run ``flows`` race flows one after another on two one-worker replicas."""
    pinged: list[Engine] = []
    meeting = _Meeting(pinged)
    joins: Counter[str] = Counter()
    bridges = (_Bridge(), _Bridge())
    with engine_logger("fanout_stress") as (logger, errors):
        async with AsyncExitStack() as stack:
            replicas = [
                await stack.enter_async_context(
                    make_engine(
                        _race_proxy(name, meeting, joins),
                        workers=1,
                        logger=logger,
                        peer_notifier=bridge,
                    )
                )
                for name, bridge in zip("ab", bridges, strict=True)
            ]
            bridges[0].peer, bridges[1].peer = replicas[1], replicas[0]
            if ping:
                pinged.extend(replicas)
            outcomes = [await replicas[n % 2].run("race", timeout=timeout) for n in range(flows)]
            histories = [await replicas[0].history(outcome.flow_key) for outcome in outcomes]
        error_messages = [record.getMessage() for record in errors.records]
    return outcomes, histories, joins, error_messages


async def test_last_two_siblings_finishing_together_on_two_replicas_fire_the_fan_in_once(
    make_engine: MakeEngine,
) -> None:
    # Each replica has ONE worker and a branch holds its worker until its sibling is running
    # too, so the two siblings necessarily run on different replicas; they then return
    # together and their arrivals race on the spawn row.
    outcomes, histories, joins, errors = await _race(
        make_engine, flows=_RACE_FLOWS, ping=True, timeout=60
    )

    assert errors == []
    for outcome in outcomes:
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        assert outcome.state["joined"] == 3
        assert sorted(outcome.state["ran"]) in (["left@a", "right@b"], ["left@b", "right@a"])
    assert joins == {outcome.flow_key: 1 for outcome in outcomes}
    for history in histories:
        assert Counter((step.task_name, step.status) for step in history) == {
            ("split", Status.COMPLETED): 1,
            ("left", Status.COMPLETED): 1,
            ("right", Status.COMPLETED): 1,
            ("join", Status.COMPLETED): 1,
        }


async def test_idle_replica_claims_the_sibling_its_peer_could_not_take(
    make_engine: MakeEngine,
) -> None:
    # The same race without the pings: the replica that is not running the first branch must
    # find the second one by itself once the bridge rang its doorbell.
    outcomes, _, joins, _ = await _race(make_engine, flows=8, ping=False, timeout=5)

    assert [outcome.status for outcome in outcomes] == [Status.COMPLETED] * 8
    assert joins == {outcome.flow_key: 1 for outcome in outcomes}


# --- sustained load on PostgreSQL ----------------------------------------------------------------


def _load_proxy(joins: Counter[str]) -> TestProxy:
    graph = Graph("load")
    for task in ("split", "leg", "join"):
        graph.add_task(task, task)
    graph.set_fan_in("join")
    graph.set_reducer("total", Reducer.ADD)
    graph.set_reducer("legs", Reducer.APPEND)
    graph.add_transition_for_each("split", "leg", "items", "item")
    graph.add_transition_chain("leg", "join", END)
    proxy = TestProxy()
    proxy.handle_graph("load", graph)

    async def split(flow: Flow) -> None:
        base = flow.get_int("n") * 1000
        flow.set("items", [base + i for i in range(ELEMENTS)])

    async def leg(flow: Flow) -> None:
        item = flow.get_int("item")
        flow.set_int("total", item)
        flow.set("legs", [item])

    async def join(flow: Flow) -> None:
        joins[flow.flow_key] += 1
        flow.set_int("joinedTotal", flow.get_int("total"))
        flow.set_int("joinedLegs", len(flow.get("legs", list)))

    proxy.handle_task("split", split)
    proxy.handle_task("leg", leg)
    proxy.handle_task("join", join)
    return proxy


async def _stored_steps(dsn: str, flow_ids: list[int]) -> list[tuple[Any, ...]]:
    """``(flow_id, task_name, status, count)`` of the given flows' stored steps."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cursor = await conn.execute(
            "SELECT flow_id, task_name, status, COUNT(*) FROM dwarf_steps"
            " WHERE flow_id = ANY(%s) GROUP BY flow_id, task_name, status",
            (flow_ids,),
        )
        return [tuple(row) for row in await cursor.fetchall()]


async def _run_load(dsn: str, flows: int, rounds: int) -> None:
    """Run ``rounds`` rounds of ``flows`` fan-out flows on two replicas; check every round."""
    joins: Counter[str] = Counter()
    with engine_logger("fanout_stress") as (logger, errors):
        async with AsyncExitStack() as stack:
            replicas: list[Engine] = []
            for _ in range(2):
                proxy = _load_proxy(joins)
                engine = (
                    Engine()
                    .with_dsn(dsn)
                    .with_graph_loader(proxy.load_graph)
                    .with_task_executor(proxy.execute_task)
                    .with_workers(32)
                    .with_logger(logger)
                )
                replicas.append(await stack.enter_async_context(engine))
            for round_number in range(rounds):
                started = time.monotonic()  # reported (-s), never asserted
                numbers = range(round_number * flows, (round_number + 1) * flows)
                keys: list[str] = []
                for n in numbers:
                    engine = replicas[n % 2]
                    key = await engine.create("load", {"n": n})
                    await engine.start(key)
                    keys.append(key)
                outcomes: list[FlowOutcome] = await asyncio.gather(
                    *(
                        replicas[(n + 1) % 2].await_flow(k, timeout=600)
                        for n, k in zip(numbers, keys, strict=True)
                    )
                )
                took = time.monotonic() - started
                print(f"round {round_number + 1}: {flows} flows x {ELEMENTS} in {took:.1f}s")
                _check_outcomes(numbers, outcomes)
                assert {key: joins[key] for key in keys} == dict.fromkeys(keys, 1)
                rows = await _stored_steps(dsn, [_flow_id(key) for key in keys])
                _check_rows(rows, len(keys))
        error_messages = [record.getMessage() for record in errors.records]
    assert error_messages == []


def _check_outcomes(numbers: range, outcomes: list[FlowOutcome]) -> None:
    for n, outcome in zip(numbers, outcomes, strict=True):
        assert outcome.status is Status.COMPLETED, (outcome.flow_key, outcome.error)
        items = [n * 1000 + i for i in range(ELEMENTS)]
        assert outcome.state["joinedTotal"] == sum(items)
        assert outcome.state["joinedLegs"] == ELEMENTS
        assert outcome.state["legs"] == items
        assert outcome.state["total"] == sum(items)


def _check_rows(rows: list[tuple[Any, ...]], flows: int) -> None:
    per_task: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for flow_id, task, status, count in rows:
        assert str(status).strip() == "completed", (flow_id, task, status)
        per_task[str(task).strip()][int(flow_id)] += int(count)
    assert set(per_task) == {"split", "leg", "join"}
    for task, expected in (("split", 1), ("leg", ELEMENTS), ("join", 1)):
        assert len(per_task[task]) == flows, task
        assert set(per_task[task].values()) == {expected}, task


@pytest.mark.postgres
async def test_fan_ins_fire_exactly_once_under_sustained_two_replica_load(
    postgres_dsn: str,
) -> None:
    await _run_load(postgres_dsn, flows=200, rounds=5)
