"""pytest configuration of the benchmarks: the per-dialect engine and the summary table.

``pytest benches --benchmark-only`` runs them (pyproject's ``--benchmark-skip`` keeps them out of
ordinary runs, and ``testpaths`` keeps ``benches/`` out of plain ``pytest``). Each dialect's engine
is started once per module, outside the timed region; the medians every benchmark records are
printed as one table at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _throughput import DIALECTS, BenchEngine, DatabaseUnavailableError, Summary, format_table

THROUGHPUT_RESULTS = pytest.StashKey[list[Summary]]()


@pytest.fixture(scope="session")
def throughput_results(request: pytest.FixtureRequest) -> list[Summary]:
    """Where benchmarks leave their medians for the terminal summary table."""
    return request.config.stash.setdefault(THROUGHPUT_RESULTS, [])


@pytest.fixture(scope="module", params=DIALECTS)
def bench_engine(request: pytest.FixtureRequest) -> Iterator[BenchEngine]:
    """A started engine on a fresh ``dwarf_bench`` database of each dialect in turn.

    An unreachable server skips that dialect: benchmarks are not CI, where a missing server fails.
    """
    bench = BenchEngine(request.param)
    try:
        bench.start()
    except DatabaseUnavailableError as exc:
        pytest.skip(str(exc))
    yield bench
    bench.close()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print dialect | flows/s | steps/s | p50 | p95 | p99 (medians over rounds)."""
    del exitstatus
    summaries = config.stash.get(THROUGHPUT_RESULTS, [])
    if summaries:
        terminalreporter.section("dwarf throughput (medians over measured rounds)")
        for line in format_table(summaries).splitlines():
            terminalreporter.write_line(line)
    from test_observability import COSTS, format_costs

    costs = config.stash.get(COSTS, {})
    if costs:
        terminalreporter.section("dwarf observability cost (median steps/s over measured rounds)")
        for line in format_costs(costs).splitlines():
            terminalreporter.write_line(line)
