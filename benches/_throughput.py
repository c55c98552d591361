"""Shared harness of the throughput benchmark: the workload, one measured round, and the table.

Both ``test_throughput.py`` (pytest-benchmark) and ``profile_throughput.py`` (a plain script for
py-spy/cProfile) drive the engine through this module, so the two report the same numbers.

The workload is a linear ``T0 -> T1 -> T2 -> END`` of no-op tasks. Submitters are asyncio tasks
that take flow numbers from a shared counter and, for each, run a flow and wait for its outcome
(``SUBMIT_MODES``: by default ``Engine.run``, else ``create``, ``start`` and ``await_flow``); a
flow's latency is measured from just before the first call to the outcome. The engine is
started outside the measured region (``BenchEngine``), so a round measures steady-state work only.

Benchmarks are not CI: an unreachable server raises ``DatabaseUnavailableError`` for the caller to
skip that dialect. Databases are dedicated (``dwarf_bench``) and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncmy
import psycopg
from _server_cpu import ServerCpu

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

__all__ = [
    "DIALECTS",
    "FLOWS_PER_ROUND",
    "PAYLOAD_KEY",
    "STEPS_PER_FLOW",
    "SUBMITTERS",
    "SUBMIT_MODES",
    "BENCH_DATABASE",
    "WORKERS",
    "WORKFLOW",
    "BenchEngine",
    "DatabaseUnavailableError",
    "Payloads",
    "RoundResult",
    "StepCounter",
    "Summary",
    "bench_database",
    "format_table",
    "linear_proxy",
    "run_round",
    "summarize",
]

T = TypeVar("T")

DIALECTS = ("sqlite", "postgresql", "mysql")
FLOWS_PER_ROUND = 1000
SUBMITTERS = 32
SUBMIT_MODES = ("run", "create-start")
"""How a submitter starts a flow and waits for it: ``run``, one call (what a host that wants the
outcome writes, and what LangGraph's ``ainvoke`` is, timed beside dwarf in
``../shared/bench/side_by_side.sh``); or ``create-start``, three (``create``, ``start``,
``await_flow``), this benchmark's workload before 2026-12-07."""
WORKERS = 64
"""The engine's default (``Engine.with_workers``): the benchmark measures dwarf as shipped.

Until 2026-12-07 17:50 it was 32, as many as the submitters: a worker was then seldom idle, and a
successor is claimed on insert only when one is or the database was just found empty
(docs/internals/dispatch.md#d13, #d14)."""
WORKFLOW = "bench_linear"
TASKS = ("T0", "T1", "T2")
STEPS_PER_FLOW = len(TASKS)
"""Task steps one flow runs; ``END`` is a transition target, not a step."""

BENCH_DATABASE = "dwarf_bench"
FLOW_TIMEOUT = 120.0
"""Upper bound on one flow's await, so a stuck engine fails the round instead of hanging it."""

POSTGRES_SERVER_DSN = os.environ.get(
    "DWARF_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_SERVER_DSN = os.environ.get("DWARF_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")


class DatabaseUnavailableError(Exception):
    """The dialect's server cannot be reached: the benchmark of that dialect is skipped."""


# --- workload -----------------------------------------------------------------------------


class StepCounter:
    """Counts task calls: steps/s reports the steps that ran, not the steps that should have."""

    def __init__(self) -> None:
        self.calls = 0


PAYLOAD_KEY = "payload_bytes"
"""Initial-state key asking each task of a flow to write that many bytes of state (0: none)."""


class Payloads:
    """Incompressible strings each task writes as its state, built once per size.

    Hex of random bytes: JSON encodes it without escapes, and a database's compression (TOAST,
    InnoDB pages) cannot shrink it, so the bytes written are the bytes asked for. Each task gets
    its own string, so every step changes the state rather than rewriting the same value.
    """

    def __init__(self) -> None:
        self._blobs: dict[tuple[str, int], str] = {}

    def blob(self, task: str, size: int) -> str:
        """The ``size``-byte string ``task`` writes."""
        key = (task, size)
        if key not in self._blobs:
            self._blobs[key] = os.urandom((size + 1) // 2).hex()[:size]
        return self._blobs[key]


def linear_proxy(counter: StepCounter) -> TestProxy:
    """A proxy serving ``bench_linear``: ``T0 -> T1 -> T2 -> END`` of no-op tasks.

    Each task bumps ``counter`` and, when the flow's initial state sets ``payload_bytes``, writes
    that many bytes to ``blob``; otherwise it does nothing, so a round measures the engine and
    not the tasks.
    """
    payloads = Payloads()

    def no_op(task: str) -> Callable[[Flow], Awaitable[None]]:
        # A plain coroutine function: TestProxy runs anything else in a worker thread.
        async def run(flow: Flow) -> None:
            counter.calls += 1
            if flow.has(PAYLOAD_KEY):
                flow.set("blob", payloads.blob(task, flow.get_int(PAYLOAD_KEY)))

        return run

    proxy = TestProxy()
    graph = Graph(WORKFLOW)
    graph.add_transition_chain(*TASKS, END)
    proxy.handle_graph(WORKFLOW, graph)
    for task in TASKS:
        proxy.handle_task(task, no_op(task))
    return proxy


# --- measurement --------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundResult:
    """One round: flows completed, task steps run, wall and CPU time, each flow's latency (s).

    ``cpu`` is this process's CPU time (every thread, worker threads' too): on a shared machine
    wall-clock numbers swing with the neighbours' load, CPU per flow much less.
    """

    flows: int
    steps: int
    elapsed: float
    cpu: float
    latencies: tuple[float, ...]
    server_cpu: float | None = None
    """The database server's CPU seconds over the round, when it runs here (``_server_cpu``)."""

    @property
    def flows_per_s(self) -> float:
        """Completed flows per second of wall time."""
        return self.flows / self.elapsed

    @property
    def steps_per_s(self) -> float:
        """Task steps run per second of wall time."""
        return self.steps / self.elapsed

    @property
    def cpu_ms_per_flow(self) -> float:
        """Milliseconds of this process's CPU time per completed flow."""
        return self.cpu * 1000 / self.flows

    @property
    def server_cpu_ms_per_flow(self) -> float | None:
        """Milliseconds of the database server's CPU time per completed flow, if measured."""
        return None if self.server_cpu is None else self.server_cpu * 1000 / self.flows

    def percentile(self, p: int) -> float:
        """The ``p``-th percentile (1..99) of flow latency, in seconds."""
        if len(self.latencies) < 2:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]


async def _submit(
    engine: Engine,
    counter: itertools.count[int],
    flows: int,
    initial_state: Mapping[str, Any] | None,
    submit: str,
) -> list[float]:
    """Run flows until the shared counter passes ``flows``; return their latencies."""
    latencies: list[float] = []
    while next(counter) < flows:
        started = time.perf_counter()
        if submit == "run":
            outcome = await engine.run(WORKFLOW, initial_state, timeout=FLOW_TIMEOUT)
        else:
            key = await engine.create(WORKFLOW, initial_state)
            await engine.start(key)
            outcome = await engine.await_flow(key, timeout=FLOW_TIMEOUT)
        latencies.append(time.perf_counter() - started)
        if outcome.status is not Status.COMPLETED:
            # A failed flow is cheap: counting it would flatter the numbers.
            raise RuntimeError(
                f"flow {outcome.flow_key} ended {outcome.status.value}: {outcome.error}"
            )
    return latencies


async def run_round(
    engine: Engine,
    steps: StepCounter,
    flows: int = FLOWS_PER_ROUND,
    submitters: int = SUBMITTERS,
    initial_state: Mapping[str, Any] | None = None,
    server: ServerCpu | None = None,
    submit: str = SUBMIT_MODES[0],
) -> RoundResult:
    """Run ``flows`` flows through ``submitters`` concurrent submitters; time the whole batch.

    Every flow starts from ``initial_state`` (``{PAYLOAD_KEY: n}`` makes each step write n bytes).
    ``server`` measures the database server's CPU time over the round, where it can; ``submit``
    is one of ``SUBMIT_MODES``.
    """
    counter = itertools.count()
    steps_before = steps.calls
    server_before = server.snapshot() if server else None
    cpu_started = time.process_time()
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(_submit(engine, counter, flows, initial_state, submit))
            for _ in range(submitters)
        ]
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    server_cpu = server.seconds(server_before, server.snapshot()) if server else None
    latencies = tuple(latency for task in tasks for latency in task.result())
    return RoundResult(
        flows=len(latencies),
        steps=steps.calls - steps_before,
        elapsed=elapsed,
        cpu=cpu,
        latencies=latencies,
        server_cpu=server_cpu,
    )


@dataclass(frozen=True)
class Summary:
    """A workload's numbers on a dialect: the median of each metric over the measured rounds.

    ``workload`` names the row (``linear``, ``payload 64 KB``, ...); ``payload_bytes`` is what each
    step wrote to the state (MB/s derives from it); ``baseline`` names the workload on the same
    dialect this one's steps/s is compared against in the table (``''``: none).
    """

    dialect: str
    rounds: int
    flows_per_s: float
    steps_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    cpu_ms_per_flow: float
    workload: str = "linear"
    payload_bytes: int = 0
    baseline: str = ""
    server_cpu_ms_per_flow: float | None = None
    """The database server's CPU ms per flow (median), when every round measured it."""

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10^6 bytes) of state the tasks wrote per second of wall time."""
        return self.steps_per_s * self.payload_bytes / 1e6

    def as_extra_info(self) -> dict[str, float | int | str]:
        """The numbers as pytest-benchmark ``extra_info`` (carried by ``--benchmark-json``)."""
        info: dict[str, float | int | str] = {
            "workload": self.workload,
            "dialect": self.dialect,
            "rounds": self.rounds,
            "flows_per_s": round(self.flows_per_s, 1),
            "steps_per_s": round(self.steps_per_s, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "cpu_ms_per_flow": round(self.cpu_ms_per_flow, 3),
            "payload_bytes": self.payload_bytes,
            "mb_per_s": round(self.mb_per_s, 2),
        }
        if self.server_cpu_ms_per_flow is not None:
            info["server_cpu_ms_per_flow"] = round(self.server_cpu_ms_per_flow, 3)
        return info


MEASURED_ROUNDS = 3
"""Rounds a pytest benchmark measures, after ``WARMUP_ROUNDS``."""
WARMUP_ROUNDS = 1


def measure_rounds(
    benchmark: BenchmarkFixture,
    bench: BenchEngine,
    group: str,
    flows: int = FLOWS_PER_ROUND,
    initial_state: Mapping[str, Any] | None = None,
) -> list[RoundResult]:
    """Run one warm-up round, then ``MEASURED_ROUNDS``, under pytest-benchmark's ``group``;
    the measured rounds' results (the warm-up runs first and is dropped)."""
    results: list[RoundResult] = []

    def one_round() -> None:
        results.append(bench.round(flows, initial_state=initial_state))

    benchmark.group = group
    # pytest-benchmark ships py.typed but leaves pedantic() unannotated.
    benchmark.pedantic(  # type: ignore[no-untyped-call]
        one_round, rounds=MEASURED_ROUNDS, iterations=1, warmup_rounds=WARMUP_ROUNDS
    )
    return results[-MEASURED_ROUNDS:]


def summarize(
    dialect: str,
    rounds: Sequence[RoundResult],
    *,
    workload: str = "linear",
    payload_bytes: int = 0,
    baseline: str = "",
) -> Summary:
    """Medians over ``rounds`` of throughput and of each round's latency percentiles."""
    if not rounds:
        raise ValueError("no rounds to summarize")
    server = [r.server_cpu_ms_per_flow for r in rounds if r.server_cpu_ms_per_flow is not None]
    return Summary(
        dialect=dialect,
        rounds=len(rounds),
        flows_per_s=statistics.median(r.flows_per_s for r in rounds),
        steps_per_s=statistics.median(r.steps_per_s for r in rounds),
        p50_ms=statistics.median(r.percentile(50) for r in rounds) * 1000,
        p95_ms=statistics.median(r.percentile(95) for r in rounds) * 1000,
        p99_ms=statistics.median(r.percentile(99) for r in rounds) * 1000,
        cpu_ms_per_flow=statistics.median(r.cpu_ms_per_flow for r in rounds),
        workload=workload,
        payload_bytes=payload_bytes,
        baseline=baseline,
        server_cpu_ms_per_flow=statistics.median(server) if len(server) == len(rounds) else None,
    )


def format_table(summaries: Iterable[Summary]) -> str:
    """A fixed-width table, one row per workload and dialect.

    Columns: flows/s, steps/s, CPU ms per flow (this process's, then the database server's when
    it runs on this host), MB/s of state written, p50/p95/p99 latency (ms), and ``vs``: steps/s
    as a multiple of the row's baseline workload on the same dialect.
    """
    rows = list(summaries)
    by_key = {(s.workload, s.dialect): s for s in rows}
    header = (
        f"{'workload':<20} {'dialect':<12} {'flows/s':>9} {'steps/s':>9} {'CPU ms/flow':>11} "
        f"{'server ms':>9} {'MB/s':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'vs':>6} "
        f"{'rounds':>6}"
    )
    lines = [header, "-" * len(header)]
    for s in rows:
        mb_per_s = f"{s.mb_per_s:>7.1f}" if s.payload_bytes else f"{'-':>7}"
        server = s.server_cpu_ms_per_flow
        server_ms = f"{'-':>9}" if server is None else f"{server:>9.2f}"
        base = by_key.get((s.baseline, s.dialect)) if s.baseline else None
        versus = f"{s.steps_per_s / base.steps_per_s:>5.2f}x" if base else f"{'-':>6}"
        lines.append(
            f"{s.workload:<20} {s.dialect:<12} {s.flows_per_s:>9.1f} {s.steps_per_s:>9.1f} "
            f"{s.cpu_ms_per_flow:>11.2f} {server_ms} {mb_per_s} {s.p50_ms:>9.1f} "
            f"{s.p95_ms:>9.1f} {s.p99_ms:>9.1f} {versus} {s.rounds:>6}"
        )
    return "\n".join(lines)


# --- databases ----------------------------------------------------------------------------


def _with_database(server_dsn: str, name: str) -> str:
    parts = urlsplit(server_dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _postgres_execute(statements: Sequence[str]) -> None:
    try:
        conn = await psycopg.AsyncConnection.connect(POSTGRES_SERVER_DSN, autocommit=True)
    except (OSError, psycopg.OperationalError) as exc:
        raise DatabaseUnavailableError(f"PostgreSQL is not reachable: {exc}") from exc
    async with conn:
        for statement in statements:
            await conn.execute(statement)


async def _mysql_execute(statements: Sequence[str]) -> None:
    parts = urlsplit(MYSQL_SERVER_DSN)
    try:
        conn = await asyncmy.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
        )
    except (OSError, asyncmy.errors.OperationalError) as exc:
        raise DatabaseUnavailableError(f"MariaDB is not reachable: {exc}") from exc
    try:
        async with conn.cursor() as cur:
            # "DROP ... IF EXISTS" of a missing database raises a note asyncmy would log.
            await cur.execute("SET SESSION sql_notes = 0")
            for statement in statements:
                await cur.execute(statement)
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def bench_database(dialect: str, name: str = BENCH_DATABASE) -> AsyncIterator[str]:
    """A fresh, dedicated database ``name`` of ``dialect`` for the benchmark; dropped on exit.

    The name matters on the servers only: each benchmark module that runs beside others (or
    keeps a large database, as the history benchmark does) names its own.
    """
    if dialect == "sqlite":
        # A file, not memory: the target is SQLite as deployed, with its fsyncs and file locks.
        with tempfile.TemporaryDirectory(prefix="dwarf-bench-") as directory:
            yield f"sqlite:///{Path(directory) / 'dwarf.sqlite'}"
        return
    if dialect == "postgresql":
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        await _postgres_execute([drop, f'CREATE DATABASE "{name}"'])
        try:
            yield _with_database(POSTGRES_SERVER_DSN, name)
        finally:
            await _postgres_execute([drop])
        return
    if dialect == "mysql":
        drop = f"DROP DATABASE IF EXISTS `{name}`"
        create = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        await _mysql_execute([drop, create])
        try:
            yield _with_database(MYSQL_SERVER_DSN, name)
        finally:
            await _mysql_execute([drop])
        return
    raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")


class BenchEngine:
    """A started engine on a fresh benchmark database, driven from synchronous code.

    pytest-benchmark times a plain function, so the engine lives in an ``asyncio.Runner`` whose
    loop is re-entered for each round: startup and migration stay outside the timed region.
    """

    def __init__(
        self,
        dialect: str,
        workers: int = WORKERS,
        configure: Callable[[Engine], Engine] | None = None,
        database: str = BENCH_DATABASE,
    ) -> None:
        self.dialect = dialect
        self._database = database
        self._workers = workers
        self._configure = configure
        self._runner = asyncio.Runner()
        self._stack = contextlib.AsyncExitStack()
        self.engine: Engine | None = None
        self.dsn = ""
        self.steps = StepCounter()
        self._server: ServerCpu | None = None

    def start(self) -> None:
        """Create the database and start the engine (raises ``DatabaseUnavailableError``)."""
        try:
            self._runner.run(self._start())
        except BaseException:
            self.close()
            raise

    async def _start(self) -> None:
        dsn = await self._stack.enter_async_context(bench_database(self.dialect, self._database))
        self.dsn = dsn
        proxy = linear_proxy(self.steps)
        engine = (
            Engine()
            .with_dsn(dsn)
            .with_graph_loader(proxy.load_graph)
            .with_task_executor(proxy.execute_task)
            .with_workers(self._workers)
        )
        if self._configure is not None:
            engine = self._configure(engine)
        self.engine = await self._stack.enter_async_context(engine)
        self._server = ServerCpu(self.dialect, dsn)

    def round(
        self,
        flows: int = FLOWS_PER_ROUND,
        submitters: int = SUBMITTERS,
        initial_state: Mapping[str, Any] | None = None,
        submit: str = SUBMIT_MODES[0],
    ) -> RoundResult:
        """Run one round of ``flows`` flows, each from ``initial_state``, on the started engine."""
        if self.engine is None:
            raise RuntimeError("the benchmark engine is not started")
        return self._runner.run(
            run_round(
                self.engine, self.steps, flows, submitters, initial_state, self._server, submit
            )
        )

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` (loading a database, say) on the engine's event loop, outside any round."""
        return self._runner.run(work)

    def close(self) -> None:
        """Shut the engine down, drop the database and close the event loop."""
        try:
            self._runner.run(self._stack.aclose())
        finally:
            self.engine = None
            self._runner.close()
