"""pytest configuration of the benchmarks: the per-dialect engine and the summary table.

``pytest benches --benchmark-only`` runs them (pyproject's ``--benchmark-skip`` keeps them out of
ordinary runs, and ``testpaths`` keeps ``benches/`` out of plain ``pytest``). Each dialect's engine
is started once per module, outside the timed region; the medians the throughput, history and
payload benchmarks record are printed as one table at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _throughput import (
    BENCH_DATABASE,
    DIALECTS,
    BenchEngine,
    DatabaseUnavailableError,
    Summary,
    format_table,
)

THROUGHPUT_RESULTS = pytest.StashKey[list[Summary]]()


@pytest.fixture(scope="session")
def throughput_results(request: pytest.FixtureRequest) -> list[Summary]:
    """Where benchmarks leave their medians for the terminal summary table."""
    return request.config.stash.setdefault(THROUGHPUT_RESULTS, [])


@pytest.fixture(scope="module", params=DIALECTS)
def bench_engine(request: pytest.FixtureRequest) -> Iterator[BenchEngine]:
    """A started engine on a fresh database of each dialect in turn.

    The database is ``dwarf_bench``, or the one the module names in its own ``BENCH_DATABASE``.
    An unreachable server skips that dialect: benchmarks are not CI, where a missing server fails.
    """
    database = getattr(request.module, "BENCH_DATABASE", BENCH_DATABASE)
    bench = BenchEngine(request.param, database=database)
    try:
        bench.start()
    except DatabaseUnavailableError as exc:
        pytest.skip(str(exc))
    yield bench
    bench.close()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print one row per workload and dialect (medians over rounds), the linear workload first."""
    del exitstatus
    summaries = config.stash.get(THROUGHPUT_RESULTS, [])
    if summaries:
        terminalreporter.section("dwarf throughput (medians over measured rounds)")
        # A stable sort: the other workloads (history, payload) keep the order they ran in.
        ordered = sorted(summaries, key=lambda s: s.workload != "linear")
        for line in format_table(ordered).splitlines():
            terminalreporter.write_line(line)
    from test_observability import COSTS, format_costs

    costs = config.stash.get(COSTS, {})
    if costs:
        terminalreporter.section("dwarf observability cost (median steps/s over measured rounds)")
        for line in format_costs(costs).splitlines():
            terminalreporter.write_line(line)
