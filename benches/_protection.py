"""The protection benchmark's workloads: a rate-limited downstream, and an outage in mid-stream.

Both drive one-task flows (``call``) whose task calls ``tests.fixtures.downstream.Downstream``,
a token bucket with an outage switch that raises what a host maps a 429 (backpressure) or a
503 (breaker trip) to, and records every call it receives. The figures are read from those
records, so they are what the downstream saw:

* ``rate``: 300 flows against a downstream allowing 20 calls/s (burst 20). Calls per success
  (target <= 1.3) and the achieved rate, successes per second from the first call to the last
  success (target >= 90 % of the limit).
* ``outage``: 100 flows against the same downstream; once 50 have succeeded (50 are waiting) the
  downstream is down for 3 s. Calls it received while down (target <= 15: probes only), the
  wait from its return to the first success (the probe), and to full rate: the first success
  from which the next second holds 90 % of the limit (target <= 1 s).

Each round starts a fresh engine (default 64 workers) on a fresh database, so no round inherits
what the previous one learned. Benchmarks are not CI: an unreachable server raises
``DatabaseUnavailableError`` for the caller to skip that dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from _throughput import bench_database

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.downstream import Call, Downstream

__all__ = [
    "LIMIT",
    "OUTAGE_SECONDS",
    "ProtectionResult",
    "format_table",
    "run_outage",
    "run_rate",
]

LIMIT = 20.0
"""The downstream's rate (calls per second) and burst (calls)."""
RATE_FLOWS = 300
OUTAGE_FLOWS = 100
OUTAGE_AFTER = 50
"""Successes before the outage begins; the other flows wait through it."""
OUTAGE_SECONDS = 3.0
FULL_RATE = 0.9
"""The share of the limit one second must hold for the downstream to count as back at full rate."""
WORKFLOW = "bench_protection"
FLOW_TIMEOUT = 300.0


@dataclass(frozen=True)
class ProtectionResult:
    """One round of one scenario, as the downstream saw it.

    ``span`` (first call to last success) is ``None`` in the outage scenario, whose rate the
    outage and the burst refilled during it would distort; ``outage_calls``, ``probe_wait`` and
    ``full_rate_wait`` are ``None`` outside it (or when full rate was never reached).
    """

    scenario: str
    dialect: str
    flows: int
    calls: int
    successes: int
    span: float | None
    outage_calls: int | None = None
    probe_wait: float | None = None
    full_rate_wait: float | None = None

    @property
    def calls_per_success(self) -> float:
        """Calls the downstream received per flow it served."""
        return self.calls / self.successes

    @property
    def rate(self) -> float | None:
        """Successes per second from the first call to the last success."""
        return None if self.span is None else self.successes / self.span

    @property
    def share_of_limit(self) -> float | None:
        """``rate`` as a share of the downstream's limit."""
        return None if self.rate is None else self.rate / LIMIT

    def as_extra_info(self) -> dict[str, float | int | str | None]:
        """The numbers as pytest-benchmark ``extra_info``."""
        return {
            "scenario": self.scenario,
            "dialect": self.dialect,
            "flows": self.flows,
            "calls": self.calls,
            "successes": self.successes,
            "calls_per_success": round(self.calls_per_success, 3),
            "rate_per_s": _round(self.rate),
            "share_of_limit": _round(self.share_of_limit),
            "outage_calls": self.outage_calls,
            "probe_wait_s": _round(self.probe_wait),
            "full_rate_wait_s": _round(self.full_rate_wait),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def format_table(results: Sequence[ProtectionResult]) -> str:
    """A fixed-width table of every round."""
    header = (
        f"{'scenario':<8} {'dialect':<11} {'flows':>5} {'calls':>6} {'calls/ok':>8} "
        f"{'ok/s':>6} {'of limit':>8} {'outage calls':>12} {'probe s':>8} {'full rate s':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.scenario:<8} {r.dialect:<11} {r.flows:>5} {r.calls:>6} "
            f"{r.calls_per_success:>8.3f} {_cell(r.rate, '.2f'):>6} "
            f"{_cell(r.share_of_limit, '.1%'):>8} "
            f"{_cell(r.outage_calls, 'd'):>12} {_cell(r.probe_wait, '.3f'):>8} "
            f"{_cell(r.full_rate_wait, '.3f'):>11}"
        )
    return "\n".join(lines)


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


# --- the workload -------------------------------------------------------------------------


def protection_proxy(downstream: Downstream) -> TestProxy:
    """A proxy serving ``bench_protection``: one task that calls ``downstream``."""

    # A plain coroutine function: TestProxy runs anything else in a worker thread.
    async def call(flow: Flow) -> None:
        await downstream.call(flow)

    proxy = TestProxy()
    graph = Graph(WORKFLOW)
    graph.add_transition_chain("call", END)
    proxy.handle_graph(WORKFLOW, graph)
    proxy.handle_task("call", call)
    return proxy


@contextlib.asynccontextmanager
async def protected_engine(dialect: str, downstream: Downstream) -> AsyncIterator[Engine]:
    """A started engine (default workers, no limits configured) on a fresh database."""
    async with bench_database(dialect) as dsn:
        proxy = protection_proxy(downstream)
        engine = (
            Engine()
            .with_dsn(dsn)
            .with_graph_loader(proxy.load_graph)
            .with_task_executor(proxy.execute_task)
        )
        async with engine:
            yield engine


async def _start(engine: Engine, flows: int) -> list[str]:
    keys = [await engine.create(WORKFLOW) for _ in range(flows)]
    for key in keys:
        await engine.start(key)
    return keys


async def _finish(engine: Engine, keys: list[str]) -> None:
    outcomes = await asyncio.gather(*(engine.await_flow(k, timeout=FLOW_TIMEOUT) for k in keys))
    failed = [o for o in outcomes if o.status is not Status.COMPLETED]
    if failed:
        # A failed flow is cheap for the downstream: counting it would flatter the numbers.
        raise RuntimeError(f"{len(failed)} flow(s) did not complete, e.g. {failed[0]}")


def _span(calls: list[Call]) -> float:
    """From the first call to the last success, in seconds."""
    first = calls[0].at
    last = max(c.at for c in calls if c.outcome == "ok")
    return last - first


async def run_rate(dialect: str, flows: int = RATE_FLOWS) -> ProtectionResult:
    """``flows`` flows against a downstream allowing ``LIMIT`` calls/s, burst ``LIMIT``."""
    downstream = Downstream(rate=LIMIT, burst=LIMIT)
    async with protected_engine(dialect, downstream) as engine:
        await _finish(engine, await _start(engine, flows))
    return ProtectionResult(
        scenario="rate",
        dialect=dialect,
        flows=flows,
        calls=downstream.count(),
        successes=downstream.count("ok"),
        span=_span(downstream.calls),
    )


async def run_outage(
    dialect: str,
    flows: int = OUTAGE_FLOWS,
    after: int = OUTAGE_AFTER,
    seconds: float = OUTAGE_SECONDS,
) -> ProtectionResult:
    """``flows`` flows; after ``after`` successes the downstream is down for ``seconds``."""
    downstream = Downstream(rate=LIMIT, burst=LIMIT)
    async with protected_engine(dialect, downstream) as engine:
        keys = await _start(engine, flows)
        deadline = time.monotonic() + FLOW_TIMEOUT
        while downstream.count("ok") < after:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {after} flows were served before the outage")
            await asyncio.sleep(0.005)
        downstream.down = True
        down_at = time.monotonic()
        await asyncio.sleep(seconds)
        downstream.down = False
        back_at = time.monotonic()
        await _finish(engine, keys)
    calls = downstream.calls
    oks_after = [c.at for c in calls if c.outcome == "ok" and c.at >= back_at]
    return ProtectionResult(
        scenario="outage",
        dialect=dialect,
        flows=flows,
        calls=len(calls),
        successes=downstream.count("ok"),
        span=None,
        outage_calls=sum(1 for c in calls if down_at <= c.at < back_at),
        probe_wait=oks_after[0] - back_at if oks_after else None,
        full_rate_wait=_full_rate_wait(oks_after, back_at),
    )


def _full_rate_wait(oks: list[float], back_at: float) -> float | None:
    """From ``back_at`` to the first success from which the next second holds ``FULL_RATE``.

    The backlog may drain before a whole second of it passes; then the last success stands in
    for the moment the downstream was back at full rate.
    """
    needed = int(LIMIT * FULL_RATE)
    if len(oks) < needed:
        return oks[-1] - back_at if oks else None
    end = 0
    for start, at in enumerate(oks):
        while end < len(oks) and oks[end] < at + 1.0:
            end += 1
        if end - start >= needed:
            return at - back_at
    return None
