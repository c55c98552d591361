"""Fan-out benchmark: one flow fanning out over N = 100, 1,000, 10,000 elements (100,000 on
request), on SQLite, PostgreSQL and MariaDB.

The workload is ``Split -forEach(items)-> Work -> Join -> END``: ``Split`` writes ``items =
[0, ..., N-1]``, each ``Work`` branch adds its element to ``total`` (reducer ``add``) and appends
it to ``seen`` (reducer ``append``), and ``Join`` (the fan-in) does nothing. A flow runs N + 2
task steps, N of them concurrently, and its fan-in folds N deltas.

A round runs ``FLOWS_PER_ROUND[N]`` flows one after another (one from N = 1,000 on, more for
N = 100 so a round is not a single short sample); pedantic mode runs one warm-up round and 3
measured rounds up to N = 1,000, and a single measured round from N = 10,000 on (a round there
takes minutes). N = 100,000 runs only when ``DWARF_BENCH_FANOUT_HUGE=1`` is set. Reported per
dialect and N, as medians over the measured rounds: wall time per flow (``run``: create ->
completion), task steps/s, CPU ms per flow, the process's peak RSS so far (``ru_maxrss``: widths
run in increasing order, so it is the peak of the widest fan-out yet) and the longest event-loop
stall seen during the round (a watcher sleeping 10 ms at a time measures how late it wakes), in a
table at the end of the session and in ``extra_info`` for ``--benchmark-json``. Every flow must
complete with ``total = N(N-1)/2`` and ``seen = [0, ..., N-1]`` (branch order), or the benchmark
fails.

The engine harness is ``_throughput.BenchEngine`` (startup outside the timed region, one
``asyncio.Runner`` re-entered per round) with this workload's proxy. PostgreSQL gets its own
``dwarf_bench_fanout`` database, so this benchmark never drops the throughput benchmark's
(MariaDB uses ``dwarf_bench``: do not run both benchmarks at once). SQLite is a temporary file,
as deployed. An unreachable server skips that dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

import pytest
from _throughput import (
    POSTGRES_SERVER_DSN,
    WORKERS,
    BenchEngine,
    DatabaseUnavailableError,
    StepCounter,
    _postgres_execute,
    _with_database,
    bench_database,
)
from pytest_benchmark.fixture import BenchmarkFixture

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Reducer, Status

DIALECTS = ("sqlite", "postgresql", "mysql")
HUGE = 100_000
"""The width that runs only when ``DWARF_BENCH_FANOUT_HUGE=1`` (it takes many minutes)."""
WIDTHS = (100, 1000, 10_000) + ((HUGE,) if os.environ.get("DWARF_BENCH_FANOUT_HUGE") == "1" else ())
FLOWS_PER_ROUND = {100: 4, 1000: 1, 10_000: 1, HUGE: 1}
WIDE = 10_000
"""From this width on a round takes minutes: one measured round, no warm-up."""
ROUNDS = 3
WARMUP_ROUNDS = 1
STALL_TICK = 0.01
"""How long the event-loop watcher sleeps between looks (seconds)."""
WORKFLOW = "bench_fanout"
DATABASE = "dwarf_bench_fanout"
FLOW_TIMEOUT = 3600.0
"""Upper bound on one flow, so a stuck engine fails the round instead of hanging it."""


# --- workload -----------------------------------------------------------------------------


def fan_out_proxy(counter: StepCounter) -> TestProxy:
    """A proxy serving ``bench_fanout``: ``Split -forEach-> Work -> Join -> END``."""
    graph = Graph(WORKFLOW)
    for task in ("Split", "Work", "Join"):
        graph.add_task(task, task)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition("Work", "Join")
    graph.add_transition("Join", END)
    graph.set_fan_in("Join")
    graph.set_reducer("total", Reducer.ADD)
    graph.set_reducer("seen", Reducer.APPEND)
    graph.validate()

    # Plain coroutine functions: TestProxy runs anything else in a worker thread.
    async def split(flow: Flow) -> None:
        counter.calls += 1
        flow.set("items", list(range(flow.get_int("n"))))

    async def work(flow: Flow) -> None:
        counter.calls += 1
        item = flow.get_int("item")
        flow.set_int("total", item)
        flow.set("seen", [item])

    async def join(flow: Flow) -> None:
        del flow
        counter.calls += 1

    proxy = TestProxy()
    proxy.handle_graph(WORKFLOW, graph)
    proxy.handle_task("Split", split)
    proxy.handle_task("Work", work)
    proxy.handle_task("Join", join)
    return proxy


@contextlib.asynccontextmanager
async def fan_out_database(dialect: str) -> AsyncIterator[str]:
    """A fresh database for this benchmark: its own PostgreSQL database, a SQLite temp file."""
    if dialect != "postgresql":
        async with bench_database(dialect) as dsn:
            yield dsn
        return
    drop = f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'
    await _postgres_execute([drop, f'CREATE DATABASE "{DATABASE}"'])
    try:
        yield _with_database(POSTGRES_SERVER_DSN, DATABASE)
    finally:
        await _postgres_execute([drop])


# --- measurement --------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StallWatcher:
    """Measures the longest event-loop stall while running: it sleeps ``STALL_TICK`` at a time
    and records how much later than asked it woke up."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(STALL_TICK)
            self.longest = max(self.longest, time.perf_counter() - asked - STALL_TICK)

    def start(self) -> None:
        """Start watching on the running loop."""
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> float:
        """Stop watching; return the longest stall in milliseconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.longest * 1000


@dataclass(frozen=True)
class FanOutRound:
    """One round: flows run back to back, task steps run, wall and CPU time, per-flow walls,
    the peak RSS after it and the longest event-loop stall during it."""

    flows: int
    steps: int
    elapsed: float
    cpu: float
    walls: tuple[float, ...]
    peak_rss_mb: float
    stall_ms: float

    @property
    def ms_per_flow(self) -> float:
        """Median wall time of one flow in this round, in milliseconds."""
        return statistics.median(self.walls) * 1000

    @property
    def steps_per_s(self) -> float:
        """Task steps run per second of the round's wall time."""
        return self.steps / self.elapsed

    @property
    def cpu_ms_per_flow(self) -> float:
        """Milliseconds of this process's CPU time (every thread) per flow."""
        return self.cpu * 1000 / self.flows


@dataclass(frozen=True)
class FanOutSummary:
    """Medians over the measured rounds for one dialect and width."""

    dialect: str
    width: int
    rounds: int
    flows_per_round: int
    ms_per_flow: float
    steps_per_s: float
    cpu_ms_per_flow: float
    peak_rss_mb: float
    stall_ms: float

    def as_extra_info(self) -> dict[str, float | int | str]:
        """The numbers as pytest-benchmark ``extra_info``."""
        return {
            "dialect": self.dialect,
            "width": self.width,
            "rounds": self.rounds,
            "flows_per_round": self.flows_per_round,
            "ms_per_flow": round(self.ms_per_flow, 2),
            "steps_per_s": round(self.steps_per_s, 1),
            "cpu_ms_per_flow": round(self.cpu_ms_per_flow, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "stall_ms": round(self.stall_ms, 1),
        }


def summarize(dialect: str, width: int, rounds: Sequence[FanOutRound]) -> FanOutSummary:
    """Medians over ``rounds``; the peak RSS and the longest stall are the worst round's."""
    return FanOutSummary(
        dialect=dialect,
        width=width,
        rounds=len(rounds),
        flows_per_round=rounds[0].flows,
        ms_per_flow=statistics.median(r.ms_per_flow for r in rounds),
        steps_per_s=statistics.median(r.steps_per_s for r in rounds),
        cpu_ms_per_flow=statistics.median(r.cpu_ms_per_flow for r in rounds),
        peak_rss_mb=max(r.peak_rss_mb for r in rounds),
        stall_ms=max(r.stall_ms for r in rounds),
    )


def format_table(summaries: Sequence[FanOutSummary]) -> str:
    """A fixed-width table: dialect | N | flows/round | ms/flow | steps/s | CPU ms/flow |
    peak RSS MB | longest stall ms | rounds."""
    header = (
        f"{'dialect':<12} {'N':>7} {'flows':>6} {'ms/flow':>10} {'steps/s':>9} "
        f"{'CPU ms/flow':>12} {'RSS MB':>7} {'stall ms':>9} {'rounds':>6}"
    )
    lines = [header, "-" * len(header)]
    for s in summaries:
        lines.append(
            f"{s.dialect:<12} {s.width:>7} {s.flows_per_round:>6} {s.ms_per_flow:>10.1f} "
            f"{s.steps_per_s:>9.1f} {s.cpu_ms_per_flow:>12.1f} {s.peak_rss_mb:>7.0f} "
            f"{s.stall_ms:>9.0f} {s.rounds:>6}"
        )
    return "\n".join(lines)


async def run_fan_out_round(
    engine: Engine, steps: StepCounter, width: int, flows: int
) -> FanOutRound:
    """Run ``flows`` fan-outs of ``width`` one after another; check each merged correctly."""
    walls: list[float] = []
    watcher = StallWatcher()
    watcher.start()
    steps_before = steps.calls
    cpu_started = time.process_time()
    started = time.perf_counter()
    try:
        for _ in range(flows):
            flow_started = time.perf_counter()
            outcome = await engine.run(WORKFLOW, {"n": width}, timeout=FLOW_TIMEOUT)
            walls.append(time.perf_counter() - flow_started)
            if outcome.status is not Status.COMPLETED:
                raise RuntimeError(
                    f"flow {outcome.flow_key} ended {outcome.status}: {outcome.error}"
                )
            # A wrong merge would make the numbers describe some other workload.
            expected = (width * (width - 1) // 2, list(range(width)))
            if (outcome.state.get("total"), outcome.state.get("seen")) != expected:
                raise RuntimeError(f"flow {outcome.flow_key} merged its {width} branches wrongly")
        elapsed = time.perf_counter() - started
    finally:
        stall_ms = await watcher.stop()
    return FanOutRound(
        flows=flows,
        steps=steps.calls - steps_before,
        elapsed=elapsed,
        cpu=time.process_time() - cpu_started,
        walls=tuple(walls),
        peak_rss_mb=peak_rss_mb(),
        stall_ms=stall_ms,
    )


class FanOutBench(BenchEngine):
    """``BenchEngine`` serving the fan-out workload on its own database."""

    async def _start(self) -> None:
        dsn = await self._stack.enter_async_context(fan_out_database(self.dialect))
        proxy = fan_out_proxy(self.steps)
        engine = (
            Engine()
            .with_dsn(dsn)
            .with_graph_loader(proxy.load_graph)
            .with_task_executor(proxy.execute_task)
            .with_workers(self._workers)
        )
        self.engine = await self._stack.enter_async_context(engine)

    def fan_out_round(self, width: int, flows: int) -> FanOutRound:
        """Run one round on the started engine."""
        if self.engine is None:
            raise RuntimeError("the benchmark engine is not started")
        return self._runner.run(run_fan_out_round(self.engine, self.steps, width, flows))


# --- fixtures -----------------------------------------------------------------------------


class _SummaryTable:
    """A plugin printing the collected medians in the terminal summary."""

    def __init__(self) -> None:
        self.summaries: list[FanOutSummary] = []

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.summaries:
            return
        terminalreporter.section("dwarf fan-out (medians over measured rounds)")
        for line in format_table(self.summaries).splitlines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def fan_out_results(request: pytest.FixtureRequest) -> list[FanOutSummary]:
    """Where the benchmarks leave their medians; printed as one table at the end."""
    table = _SummaryTable()
    request.config.pluginmanager.register(table, "dwarf-fan-out-table")
    return table.summaries


@pytest.fixture(scope="module", params=DIALECTS)
def fan_out_bench(request: pytest.FixtureRequest) -> Iterator[FanOutBench]:
    """A started engine on a fresh database of each dialect in turn (unreachable: skipped)."""
    bench = FanOutBench(request.param, workers=WORKERS)
    try:
        bench.start()
    except DatabaseUnavailableError as exc:
        pytest.skip(str(exc))
    yield bench
    bench.close()


# --- the benchmark ------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_fan_out_throughput(
    benchmark: BenchmarkFixture,
    fan_out_bench: FanOutBench,
    fan_out_results: list[FanOutSummary],
    width: int,
) -> None:
    flows = FLOWS_PER_ROUND[width]
    rounds, warmup = (1, 0) if width >= WIDE else (ROUNDS, WARMUP_ROUNDS)
    results: list[FanOutRound] = []

    def one_round() -> None:
        results.append(fan_out_bench.fan_out_round(width, flows))

    benchmark.group = f"forEach fan-out, N={width}"
    # pytest-benchmark ships py.typed but leaves pedantic() unannotated.
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        one_round, rounds=rounds, iterations=1, warmup_rounds=warmup
    )

    measured = results[-rounds:]  # the warm-up round runs first
    # Each flow ran Split, N Work branches and Join exactly once.
    assert [r.steps for r in measured] == [flows * (width + 2)] * len(measured)

    summary = summarize(fan_out_bench.dialect, width, measured)
    benchmark.extra_info.update(summary.as_extra_info())
    benchmark.extra_info["per_round"] = [
        {
            "ms_per_flow": round(r.ms_per_flow, 2),
            "steps_per_s": round(r.steps_per_s, 1),
            "cpu_ms_per_flow": round(r.cpu_ms_per_flow, 2),
            "peak_rss_mb": round(r.peak_rss_mb, 1),
            "stall_ms": round(r.stall_ms, 1),
        }
        for r in measured
    ]
    fan_out_results.append(summary)
