"""Scale with history: linear throughput on an empty database, then with finished flows loaded.

The workload is ``test_throughput.py``'s (1000 ``T0 -> T1 -> T2`` flows per round, 32
submitters, 32 workers). On each dialect one engine on a fresh database runs it twice: first
with nothing but its own flows in the tables (``history empty``), then after ``_history.py`` has
bulk-loaded ``DWARF_BENCH_HISTORY`` finished flows (default 1,000,000; three steps each), shaped
like the engine's own rows. The table shows both and, in its ``vs`` column, the loaded steps/s
as a multiple of the empty one (target: within 10 %, >= 0.90x). Loading happens outside the
timed region; its duration is in ``extra_info`` (``load_s``, ``analyze_s``).

Never asserted beyond every flow completing and every step running exactly once: a benchmark
must not fail on a slow machine.
"""

from __future__ import annotations

import os

import pytest
from _history import load_history
from _throughput import (
    FLOWS_PER_ROUND,
    STEPS_PER_FLOW,
    BenchEngine,
    Summary,
    measure_rounds,
    summarize,
)
from pytest_benchmark.fixture import BenchmarkFixture

HISTORY_FLOWS = int(os.environ.get("DWARF_BENCH_HISTORY", "1000000"))
"""Finished flows loaded before the second measurement."""
BENCH_DATABASE = "dwarf_bench_history"
"""This module's own database (see ``conftest.bench_engine``)."""
EMPTY = "history empty"


@pytest.mark.parametrize("history", [0, HISTORY_FLOWS], ids=["empty", "loaded"])
def test_throughput_with_history(
    benchmark: BenchmarkFixture,
    bench_engine: BenchEngine,
    throughput_results: list[Summary],
    history: int,
) -> None:
    if history:
        # The template: one flow run alone, so its step ids are contiguous.
        bench_engine.round(flows=1, submitters=1)
        loaded = bench_engine.run(load_history(bench_engine.dialect, bench_engine.dsn, history))
        benchmark.extra_info.update(
            history=history, load_s=round(loaded.load_s, 1), analyze_s=round(loaded.analyze_s, 1)
        )
    measured = measure_rounds(
        benchmark, bench_engine, f"history: linear T0->T1->T2, {history:,} finished flows"
    )
    assert all(r.steps == FLOWS_PER_ROUND * STEPS_PER_FLOW for r in measured)
    summary = summarize(
        bench_engine.dialect,
        measured,
        workload=f"history {history:,}" if history else EMPTY,
        baseline=EMPTY if history else "",
    )
    benchmark.extra_info.update(summary.as_extra_info())
    throughput_results.append(summary)
