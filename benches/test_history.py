"""Scale with history: linear throughput on an empty database beside one with finished flows.

The workload is ``test_throughput.py``'s (1000 ``T0 -> T1 -> T2`` flows per round, 32
submitters, 32 workers). On each dialect two engines run side by side, each on its own fresh
database: one keeps nothing but its own flows (``history empty``); into the other,
``_history.py`` bulk-loads ``DWARF_BENCH_HISTORY`` finished flows (default 1,000,000; three
steps each), shaped like the engine's own rows. Their rounds then alternate (empty then loaded,
loaded then empty, ...), so a drift of the machine (another job, the server flushing the load's
pages) weighs on both alike; measured one after the other, the ratio moved by 20 % between
runs. The table shows both and, in its ``vs`` column, the loaded steps/s as a multiple of the
empty one (target: within 10 %, >= 0.90x). Loading happens outside the timed region; its
duration is in ``extra_info`` (``load_s``, ``analyze_s``).

Never asserted beyond every flow completing and every step running exactly once: a benchmark
must not fail on a slow machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from _history import load_history
from _throughput import (
    DIALECTS,
    FLOWS_PER_ROUND,
    MEASURED_ROUNDS,
    STEPS_PER_FLOW,
    WARMUP_ROUNDS,
    BenchEngine,
    DatabaseUnavailableError,
    RoundResult,
    Summary,
    summarize,
)
from pytest_benchmark.fixture import BenchmarkFixture

HISTORY_FLOWS = int(os.environ.get("DWARF_BENCH_HISTORY", "1000000"))
"""Finished flows loaded into the second database."""
BENCH_DATABASE = "dwarf_bench_history"
"""The loaded database (the empty one is ``EMPTY_DATABASE``)."""
EMPTY_DATABASE = "dwarf_bench_history_empty"
EMPTY = "history empty"
LOADED = f"history {HISTORY_FLOWS:,}"


@pytest.fixture(params=DIALECTS)
def history_engines(request: pytest.FixtureRequest) -> Iterator[tuple[BenchEngine, BenchEngine]]:
    """Two started engines of one dialect on fresh databases: (empty, to be loaded)."""
    started: list[BenchEngine] = []
    try:
        for database in (EMPTY_DATABASE, BENCH_DATABASE):
            bench = BenchEngine(request.param, database=database)
            bench.start()
            started.append(bench)
    except DatabaseUnavailableError as exc:
        for bench in started:
            bench.close()
        pytest.skip(str(exc))
    yield started[0], started[1]
    for bench in started:
        bench.close()


def test_throughput_with_history(
    benchmark: BenchmarkFixture,
    history_engines: tuple[BenchEngine, BenchEngine],
    throughput_results: list[Summary],
) -> None:
    empty, loaded = history_engines
    # The template: one flow run alone, so its step ids are contiguous.
    loaded.round(flows=1, submitters=1)
    load = loaded.run(load_history(loaded.dialect, loaded.dsn, HISTORY_FLOWS))
    rounds: dict[str, list[RoundResult]] = {EMPTY: [], LOADED: []}
    pairs = 0

    def alternate() -> None:
        nonlocal pairs
        order = (empty, loaded) if pairs % 2 == 0 else (loaded, empty)
        for bench in order:
            rounds[EMPTY if bench is empty else LOADED].append(bench.round())
        pairs += 1

    benchmark.group = f"history: linear T0->T1->T2, empty and {HISTORY_FLOWS:,} finished flows"
    # pytest-benchmark ships py.typed but leaves pedantic() unannotated.
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        alternate, rounds=MEASURED_ROUNDS, iterations=1, warmup_rounds=WARMUP_ROUNDS
    )
    summaries = [
        summarize(empty.dialect, rounds[EMPTY][-MEASURED_ROUNDS:], workload=EMPTY),
        summarize(
            loaded.dialect, rounds[LOADED][-MEASURED_ROUNDS:], workload=LOADED, baseline=EMPTY
        ),
    ]
    assert all(
        r.steps == FLOWS_PER_ROUND * STEPS_PER_FLOW for done in rounds.values() for r in done
    )
    benchmark.extra_info.update(
        history=HISTORY_FLOWS, load_s=round(load.load_s, 1), analyze_s=round(load.analyze_s, 1)
    )
    for summary in summaries:
        benchmark.extra_info[summary.workload] = summary.as_extra_info()
    throughput_results.extend(summaries)
