"""Protection benchmark: what a rate-limited or failing downstream sees (SQLite, PostgreSQL).

    .venv/bin/python -m pytest benches/test_protection.py --benchmark-only

Two scenarios (``_protection.py``), each round on a fresh engine with the default 64 workers:

* ``rate``: 300 one-task flows against a downstream allowing 20 calls/s (token bucket, burst
  20). Targets: calls per success <= 1.3, achieved rate >= 90 % of the limit.
* ``outage``: 100 flows against the same downstream, down for 3 s once 50 have succeeded.
  Targets: <= 15 calls while it is down (probes only), <= 1 s from its return to full rate.

The overhead of protection when no limit is hit (linear throughput within 3 % of the engine
before protection) is an A/B of two engines, which one pytest process cannot hold:
``benches/compare_throughput.py --baseline a0f800e`` measures it.

A round is one run of a scenario (pedantic mode, no warm-up: each round starts its own engine
and the figures are the downstream's records, not the timer's). Targets are informational and
never asserted; a round fails only when a flow does not complete. The table at the end of the
session lists every round; ``extra_info`` carries the same numbers for ``--benchmark-json``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from _protection import ProtectionResult, format_table, run_outage, run_rate
from _throughput import DatabaseUnavailableError
from pytest_benchmark.fixture import BenchmarkFixture

DIALECTS = ("sqlite", "postgresql")
ROUNDS = 1
SCENARIOS: dict[str, Callable[[str], Coroutine[Any, Any, ProtectionResult]]] = {
    "rate": run_rate,
    "outage": run_outage,
}


class _ResultTable:
    """A plugin printing every round in the terminal summary."""

    def __init__(self) -> None:
        self.results: list[ProtectionResult] = []

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.results:
            return
        terminalreporter.section("dwarf protection (as the downstream saw it)")
        for line in format_table(self.results).splitlines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def protection_results(request: pytest.FixtureRequest) -> list[ProtectionResult]:
    """Where the rounds leave their figures; printed as one table at the end."""
    table = _ResultTable()
    request.config.pluginmanager.register(table, "dwarf-protection-table")
    return table.results


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_protection(
    benchmark: BenchmarkFixture,
    protection_results: list[ProtectionResult],
    scenario: str,
    dialect: str,
) -> None:
    results: list[ProtectionResult] = []

    def one_round() -> None:
        try:
            results.append(asyncio.run(SCENARIOS[scenario](dialect)))
        except DatabaseUnavailableError as exc:
            pytest.skip(str(exc))

    benchmark.group = f"protection: {scenario}"
    # pytest-benchmark ships py.typed but leaves pedantic() unannotated.
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        one_round, rounds=ROUNDS, iterations=1, warmup_rounds=0
    )
    for result in results:
        benchmark.extra_info.update(result.as_extra_info())
    protection_results.extend(results)
