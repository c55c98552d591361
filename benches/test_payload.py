"""Payload: linear throughput when every step writes 4 KB, 64 KB or 1 MB of state.

The workload is ``test_throughput.py``'s ``T0 -> T1 -> T2 -> END`` (32 submitters, 32 workers),
with ``payload_bytes`` in each flow's initial state: every task sets ``blob`` to that many bytes
of incompressible text (its own string per task), so each step reads the previous step's blob
and writes a new one. Reported per dialect and size: steps/s and MB/s (task steps x size / wall
time, megabytes of 10^6 bytes: the state the tasks wrote, not counting what the engine copies
into step and flow rows), with the usual latency percentiles and CPU ms per flow.

A round writes a few hundred megabytes at most: ``FLOWS_PER_ROUND`` shrinks as the payload
grows. Pedantic mode: one warm-up round, 3 measured rounds. Never asserted beyond every flow
completing and every step running exactly once.
"""

from __future__ import annotations

import pytest
from _throughput import (
    PAYLOAD_KEY,
    STEPS_PER_FLOW,
    BenchEngine,
    Summary,
    measure_rounds,
    summarize,
)
from pytest_benchmark.fixture import BenchmarkFixture

KB = 1024
SIZES = (4 * KB, 64 * KB, 1024 * KB)
FLOWS_PER_ROUND = {4 * KB: 1000, 64 * KB: 250, 1024 * KB: 64}
"""Flows per round by payload size: about 12, 48 and 192 MB of task state per round."""
BENCH_DATABASE = "dwarf_bench_payload"
"""This module's own database (see ``conftest.bench_engine``)."""


def size_label(size: int) -> str:
    """``4 KB``, ``64 KB``, ``1 MB``."""
    return f"{size // (1024 * KB)} MB" if size >= 1024 * KB else f"{size // KB} KB"


@pytest.mark.parametrize("size", SIZES, ids=lambda size: size_label(size).replace(" ", ""))
def test_payload_throughput(
    benchmark: BenchmarkFixture,
    bench_engine: BenchEngine,
    throughput_results: list[Summary],
    size: int,
) -> None:
    flows = FLOWS_PER_ROUND[size]
    measured = measure_rounds(
        benchmark,
        bench_engine,
        f"payload: linear T0->T1->T2, {size_label(size)} per step",
        flows,
        initial_state={PAYLOAD_KEY: size},
    )
    assert all(r.steps == flows * STEPS_PER_FLOW for r in measured)
    summary = summarize(
        bench_engine.dialect,
        measured,
        workload=f"payload {size_label(size)}",
        payload_bytes=size,
    )
    benchmark.extra_info.update(summary.as_extra_info())
    throughput_results.append(summary)
