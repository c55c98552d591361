"""Protection end to end under random sequences of load, outages and restarts.

A Hypothesis state machine drives an engine (two in-memory SQLite shards, ``run_in_test``)
whose task ``ack`` calls a simulated downstream (``tests.fixtures.downstream.Downstream``: a
token bucket answering 429 when empty, and an outage switch answering 503) and whose task
``work`` never fails. Rules start flows of either task, switch the outage, let real time pass,
and restart the engine (shutdown, then a new ``Engine`` on the same databases, which must
re-open its breakers from the parked rows). Between rules the engine keeps running.

What a user of the engine would notice, checked after every rule or where it applies:

* no step is run twice: the downstream served each ``ack`` flow at most once and ``work`` ran
  at most once per flow; a completed flow's history is exactly one completed step, on its
  first attempt (a refusal consumes none); no flow ever fails;
* while the downstream is down it hears from the engine only what the breaker allows: the
  calls in flight when it went down (at most one per worker), then one probe per shard per due
  time of the probe schedule (100 ms after the trip, doubling). A parked step that ran without a
  due probe on its shard would break this bound;
* ``work`` flows complete while ``ack`` is tripped;
* at teardown, the outage over, every flow completes.

Each example runs its own event loop (``asyncio.Runner``). A ``with_workers(0)`` engine holds
the in-memory databases open across restarts (they vanish when the last store closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from dwarf._scheduling import BREAKER_INITIAL_PROBE_DELAY
from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.downstream import Downstream
from tests.property.budgets import examples

T = TypeVar("T")

WORKERS = 4
SHARDS = 2
MAX_FLOWS = 40
FLOW_TIMEOUT = 30.0
FIRST_PROBE = BREAKER_INITIAL_PROBE_DELAY.total_seconds()


def probes_within(seconds: float) -> int:
    """Probes one shard may send within ``seconds`` of a trip: due at 0.1, 0.2, 0.4, 0.8 s..."""
    if seconds < FIRST_PROBE:
        return 0
    return int(math.log2(seconds / FIRST_PROBE)) + 1


class Workload:
    """The proxy's tasks and what they saw."""

    def __init__(self) -> None:
        self.downstream = Downstream(rate=40, burst=4)
        self.work_runs: Counter[str] = Counter()
        self.proxy = TestProxy()
        for workflow, task in (("calls", "ack"), ("local", "work")):
            graph = Graph(workflow)
            graph.add_transition_chain(task, END)
            self.proxy.handle_graph(workflow, graph)

        async def ack(flow: Flow) -> None:
            await self.downstream.call(flow)

        async def work(flow: Flow) -> None:
            self.work_runs[flow.flow_key] += 1

        self.proxy.handle_task("ack", ack)
        self.proxy.handle_task("work", work)

    def served(self) -> Counter[str]:
        """Successful downstream calls per flow."""
        return Counter(c.flow_key for c in self.downstream.calls if c.outcome == "ok")


class ProtectionMachine(RuleBasedStateMachine):
    """Load, outages and restarts against one engine and a simulated downstream."""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.workload = Workload()
        self.name = uuid.uuid4().hex
        self.flows: dict[str, str] = {}  # flow key -> task
        self.outage_since: float | None = None
        self.epoch = time.monotonic()  # since when this engine has been up
        keeper = Engine().with_workers(0).with_num_shards(SHARDS)
        self.keeper = keeper.run_in_test(self.name)
        self.run(self.keeper.__aenter__())
        self.scope, self.engine = self._open()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this example's event loop."""
        return self.runner.run(coro)

    def _open(self) -> tuple[contextlib.AbstractAsyncContextManager[Engine], Engine]:
        proxy = self.workload.proxy
        engine = (
            Engine()
            .with_graph_loader(proxy.load_graph)
            .with_task_executor(proxy.execute_task)
            .with_workers(WORKERS)
            .with_num_shards(SHARDS)
        )
        scope = engine.run_in_test(self.name)
        self.run(scope.__aenter__())
        self.epoch = time.monotonic()
        return scope, engine

    def teardown(self) -> None:
        """End the outage, check that every flow completes exactly once, stop everything."""
        try:
            self.workload.downstream.down = False
            self.run(self._all_complete())
        finally:
            try:
                self.run(self.scope.__aexit__(None, None, None))
                self.run(self.keeper.__aexit__(None, None, None))
            finally:
                self.runner.close()

    async def _complete(self, keys: list[str]) -> None:
        outcomes = await asyncio.gather(
            *(self.engine.await_flow(key, timeout=FLOW_TIMEOUT) for key in keys)
        )
        assert [o.status for o in outcomes] == [Status.COMPLETED] * len(keys), outcomes

    async def _all_complete(self) -> None:
        keys = sorted(self.flows)
        await self._complete(keys)
        for key in keys:
            await self._check_completed(key)
        served = self.workload.served()
        assert {k: served[k] for k in keys if self.flows[k] == "ack"} == {
            k: 1 for k in keys if self.flows[k] == "ack"
        }
        assert {k: self.workload.work_runs[k] for k in keys if self.flows[k] == "work"} == {
            k: 1 for k in keys if self.flows[k] == "work"
        }

    async def _check_completed(self, key: str) -> None:
        steps = await self.engine.history(key)
        assert [(s.task_name, s.status, s.attempt) for s in steps] == [
            (self.flows[key], Status.COMPLETED, 0)
        ], (key, steps)

    # --- rules --------------------------------------------------------------------------

    async def _start(self, workflow: str, n: int) -> list[str]:
        keys = [await self.engine.create(workflow) for _ in range(n)]
        for key in keys:
            await self.engine.start(key)
        return keys

    @initialize(down=st.booleans())
    def begin(self, down: bool) -> None:
        """Some calls in flight from the start, half the time into an outage."""
        if down:
            self.toggle_outage()
        self.start_calls(4)

    @rule(n=st.integers(1, 6))
    def start_calls(self, n: int) -> None:
        n = min(n, MAX_FLOWS - len(self.flows))
        for key in self.run(self._start("calls", n)):
            self.flows[key] = "ack"

    @rule(n=st.integers(1, 3))
    def start_local_work(self, n: int) -> None:
        """``work`` flows complete promptly, whatever state ``ack``'s breaker is in."""
        n = min(n, MAX_FLOWS - len(self.flows))
        keys = self.run(self._start("local", n))
        for key in keys:
            self.flows[key] = "work"
        event(f"work started while ack tripped: {self.engine.breaker_tripped('ack')}")
        self.run(self._complete(keys))

    @rule()
    def toggle_outage(self) -> None:
        downstream = self.workload.downstream
        downstream.down = not downstream.down
        self.outage_since = time.monotonic() if downstream.down else None

    @rule(ms=st.sampled_from([20, 80, 150, 300]))
    def let_time_pass(self, ms: int) -> None:
        self.run(asyncio.sleep(ms / 1000))

    @rule()
    def restart_engine(self) -> None:
        event(f"restart with ack tripped: {self.engine.breaker_tripped('ack')}")
        self.run(self.scope.__aexit__(None, None, None))
        self.scope, self.engine = self._open()

    @rule()
    def inspect(self) -> None:
        """No flow failed; each completed one ran its step once, on its first attempt."""
        for key in sorted(self.flows):
            outcome = self.run(self.engine.snapshot(key))
            assert outcome.status in (Status.RUNNING, Status.COMPLETED), (key, outcome)
            if outcome.status is Status.COMPLETED:
                self.run(self._check_completed(key))

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def no_step_ran_twice(self) -> None:
        assert max(self.workload.served().values(), default=0) <= 1
        assert max(self.workload.work_runs.values(), default=0) <= 1

    @invariant()
    def an_outage_hears_only_the_probe_schedule(self) -> None:
        if self.outage_since is None:
            return
        since = max(self.outage_since, self.epoch)
        refused = [
            c.at for c in self.workload.downstream.calls if c.outcome == "503" and c.at >= since
        ]
        if not refused:
            return
        # The first refusal trips the breaker: before it, at most a worker's worth was in
        # flight; after it, each shard sends one probe per due time.
        elapsed = time.monotonic() - refused[0]
        bound = WORKERS + SHARDS * probes_within(elapsed)
        assert len(refused) <= bound, (len(refused), bound, elapsed)


ProtectionMachine.TestCase.settings = settings(
    max_examples=examples(6, thorough=12),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestProtectionMachine = ProtectionMachine.TestCase
