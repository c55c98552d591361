"""Throughput of a linear ``T0 -> T1 -> T2 -> END`` of no-op tasks on each dialect.

32 concurrent submitters feed 1000 flows per round to an engine with 32 workers. A round is one
batch (pedantic mode: one warm-up round, then 3 measured rounds of one iteration each). Reported:
flows/s, steps/s and p50/p95/p99 of flow latency (create -> completion as seen by ``await_flow``),
in the terminal table and in ``extra_info`` for ``--benchmark-json``.

Targets (PostgreSQL >= 1,500 steps/s with p99 < 150 ms, SQLite file >= 2,000 steps/s, MariaDB >=
1,200 steps/s) are informational and never asserted: a benchmark must not fail on a slow machine.
"""

from __future__ import annotations

from _throughput import (
    FLOWS_PER_ROUND,
    STEPS_PER_FLOW,
    BenchEngine,
    Summary,
    measure_rounds,
    summarize,
)
from pytest_benchmark.fixture import BenchmarkFixture


def test_linear_flow_throughput(
    benchmark: BenchmarkFixture, bench_engine: BenchEngine, throughput_results: list[Summary]
) -> None:
    measured = measure_rounds(benchmark, bench_engine, "linear T0->T1->T2, 1000 flows")
    # Every flow completed (run_round raises otherwise) and ran each task exactly once: a
    # duplicated or skipped step would make steps/s count something other than the workload.
    assert [(r.flows, r.steps) for r in measured] == [
        (FLOWS_PER_ROUND, FLOWS_PER_ROUND * STEPS_PER_FLOW)
    ] * len(measured)

    summary = summarize(bench_engine.dialect, measured)
    benchmark.extra_info.update(summary.as_extra_info())
    benchmark.extra_info["per_round"] = [
        {
            "flows_per_s": round(r.flows_per_s, 1),
            "steps_per_s": round(r.steps_per_s, 1),
            "p50_ms": round(r.percentile(50) * 1000, 2),
            "p95_ms": round(r.percentile(95) * 1000, 2),
            "p99_ms": round(r.percentile(99) * 1000, 2),
            "cpu_ms_per_flow": round(r.cpu_ms_per_flow, 3),
        }
        for r in measured
    ]
    throughput_results.append(summary)
