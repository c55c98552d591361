"""What observability costs: linear throughput without an SDK, and with SDK providers attached.

The same workload as ``test_throughput.py`` (1000 ``T0 -> T1 -> T2`` flows per round, 32
submitters, 32 workers) on SQLite (a file), three ways:

- ``no SDK``: no provider injected and none set globally: the engine's silent path
  (docs/internals/observability.md#m1);
- ``SDK metrics``: an SDK ``MeterProvider`` with an ``InMemoryMetricReader``;
- ``SDK metrics+traces``: that, plus an SDK ``TracerProvider`` exporting to memory.

The printed table gives each variant's median steps/s and its cost against ``no SDK`` (targets:
<= 10 % with the SDK; the no-SDK path against the engine without instrumentation is measured by
running ``test_throughput.py`` on both commits, see docs/benchmarks.md). Never asserted: a
benchmark must not fail on a slow or shared machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from _throughput import FLOWS_PER_ROUND, STEPS_PER_FLOW, BenchEngine, measure_rounds, summarize
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pytest_benchmark.fixture import BenchmarkFixture

from dwarf.engine import Engine

COSTS = pytest.StashKey[dict[str, float]]()


def _metrics(engine: Engine) -> Engine:
    return engine.with_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))


def _metrics_and_traces(engine: Engine) -> Engine:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return _metrics(engine).with_tracer_provider(tracer_provider)


VARIANTS: dict[str, Callable[[Engine], Engine] | None] = {
    "no SDK": None,
    "SDK metrics": _metrics,
    "SDK metrics+traces": _metrics_and_traces,
}


@pytest.fixture(params=list(VARIANTS))
def variant_engine(request: pytest.FixtureRequest) -> Iterator[tuple[str, BenchEngine]]:
    """A started SQLite engine configured for one variant."""
    bench = BenchEngine("sqlite", configure=VARIANTS[request.param])
    bench.start()
    yield request.param, bench
    bench.close()


def test_observability_cost(
    benchmark: BenchmarkFixture,
    variant_engine: tuple[str, BenchEngine],
    request: pytest.FixtureRequest,
) -> None:
    name, bench = variant_engine
    measured = measure_rounds(benchmark, bench, "observability cost, linear T0->T1->T2 on SQLite")
    assert all(r.steps == FLOWS_PER_ROUND * STEPS_PER_FLOW for r in measured)
    summary = summarize(f"sqlite, {name}", measured)
    benchmark.extra_info.update(summary.as_extra_info())
    request.config.stash.setdefault(COSTS, {})[name] = summary.steps_per_s


def format_costs(costs: dict[str, float]) -> str:
    """variant | steps/s | cost against ``no SDK``."""
    base = costs.get("no SDK")
    lines = [f"{'variant':<20} {'steps/s':>9} {'cost':>8}", "-" * 39]
    for name, steps in costs.items():
        cost = f"{(1 - steps / base) * 100:>7.1f}%" if base else f"{'-':>8}"
        lines.append(f"{name:<20} {steps:>9.1f} {cost}")
    return "\n".join(lines)
