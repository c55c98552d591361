"""The ``dwarf`` instruments: counters, histograms and observable gauges.

Instrument names and labels are a public contract (docs/observability.md lists them all); the
internal rules are in docs/internals/observability.md. No label takes a value from a flow's data:
labels are workflow and task names, statuses, priorities and code-site names, all bounded by the
host's graphs, never flow keys or fairness keys (M3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import CodeType
from typing import TYPE_CHECKING

from opentelemetry.metrics import CallbackOptions, Observation

from dwarf._observability._gauges import GaugeSampler, KeyGauge

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = ["SCOPE", "LiveMetrics", "Metrics", "build_metrics", "is_sdk_provider", "operation_of"]

SCOPE = "dwarf"
"""Instrumentation scope of every instrument and span."""

SECONDS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
"""Histogram buckets (seconds): a database round trip up to an hour-long flow."""

_API_MODULES = ("opentelemetry.metrics", "opentelemetry.trace")


def is_sdk_provider(provider: object) -> bool:
    """Whether ``provider`` records anything.

    The API's own providers (its no-op ones, and the global proxy while no SDK is set) discard
    everything, so the engine does not even build the attributes for them (M1).
    """
    return not type(provider).__module__.startswith(_API_MODULES)


_OPERATIONS: dict[CodeType, str] = {}


def operation_of(fn: Callable[..., object]) -> str:
    """The ``operation`` label of a transaction: the engine function that ran it.

    ``fail_step.<locals>.tx`` and ``Store.claim.<locals>.claim`` become ``fail_step`` and
    ``claim``: a label per code site, so the set is fixed by the source, never by data (M3).
    """
    code = getattr(fn, "__code__", None)
    if code is not None and (known := _OPERATIONS.get(code)) is not None:
        return known
    qualname = getattr(fn, "__qualname__", type(fn).__name__)
    name = qualname.split(".<locals>", 1)[0].rsplit(".", 1)[-1].lstrip("_") or "transaction"
    if code is not None:
        _OPERATIONS[code] = name
    return name


class Metrics:
    """The instruments of an engine with no SDK provider: every method does nothing."""

    enabled = False

    def flow_started(self, workflow: str) -> None:
        """A flow (root or subgraph) started running."""

    def flow_terminated(self, workflow: str, status: str, seconds: float | None) -> None:
        """A flow ended ``completed``, ``failed`` or ``cancelled`` after running ``seconds``."""

    def step_executed(self, task: str, status: str) -> None:
        """A step's run ended with ``status`` (completed, failed, retried, ...)."""

    def step_duration(self, task: str, seconds: float) -> None:
        """A claimed step took ``seconds`` from claim to its outcome written."""

    def steps_recovered(self, count: int) -> None:
        """``count`` steps whose lease expired went back to pending."""

    def queue_wait(self, priority: int, seconds: float) -> None:
        """A step was claimed ``seconds`` after it became due."""

    def steps_skipped(self, by_task: Mapping[str, int]) -> None:
        """A refill left due steps unclaimed because protection refused them, per task."""

    def rate_cut(self, key: str) -> None:
        """A task's backpressure cut the valve of protection key ``key``."""

    def breaker_trip(self, key: str, cause: str) -> None:
        """A task's breaker-trip error opened ``key``'s breaker (a fresh trip only)."""

    def breaker_probe(self, key: str, outcome: str, cause: str) -> None:
        """A breaker probe of ``key`` ended with ``outcome`` (success or failure)."""

    def transaction(self, fn: Callable[..., object], seconds: float) -> None:
        """A transaction (or read) run by ``fn`` took ``seconds``, retries included."""

    def refill(self, fairness_keys: Mapping[int, int]) -> None:
        """The last refill planned these bands: priority -> distinct admissible fairness keys."""

    def observe(self, sampler: GaugeSampler) -> None:
        """Serve the observable gauges from ``sampler``."""


class LiveMetrics(Metrics):
    """The instruments over a recording ``MeterProvider``."""

    enabled = True

    def __init__(self, provider: MeterProvider) -> None:
        meter = provider.get_meter(SCOPE)
        self._flows_started = meter.create_counter(
            "dwarf_flows_started_total", "{flow}", "Flows started (subgraphs included)"
        )
        self._flows_terminated = meter.create_counter(
            "dwarf_flows_terminated_total", "{flow}", "Flows that ended, by terminal status"
        )
        self._steps_executed = meter.create_counter(
            "dwarf_steps_executed_total", "{step}", "Step runs, by how they ended"
        )
        self._steps_recovered = meter.create_counter(
            "dwarf_steps_recovered_total", "{step}", "Steps put back to pending by lease recovery"
        )
        self._step_duration = meter.create_histogram(
            "dwarf_step_duration_seconds",
            "s",
            "Time from a step's claim to its outcome written: the task's run plus one write",
            explicit_bucket_boundaries_advisory=SECONDS,
        )
        self._queue_wait = meter.create_histogram(
            "dwarf_step_queue_wait_seconds",
            "s",
            "Time from a step becoming due to its claim",
            explicit_bucket_boundaries_advisory=SECONDS,
        )
        self._flow_duration = meter.create_histogram(
            "dwarf_flow_duration_seconds",
            "s",
            "Time from a flow's start to its end",
            explicit_bucket_boundaries_advisory=SECONDS,
        )
        self._tx_duration = meter.create_histogram(
            "dwarf_db_transaction_duration_seconds",
            "s",
            "Time of one database transaction or read, lock-contention retries included",
            explicit_bucket_boundaries_advisory=SECONDS,
        )
        self._skipped = meter.create_counter(
            "dwarf_steps_skipped_saturated_total",
            "{step}",
            "Due steps a refill left pending because protection refused them",
        )
        self._rate_cuts = meter.create_counter(
            "dwarf_task_rate_cuts_total", "{cut}", "Valve cuts on backpressure, by protection key"
        )
        self._trips = meter.create_counter(
            "dwarf_task_breaker_trips_total", "{trip}", "Breakers opened, by protection key"
        )
        self._probes = meter.create_counter(
            "dwarf_task_breaker_probes_total", "{probe}", "Breaker probes run, by outcome"
        )
        self._meter = meter
        self._sampler: GaugeSampler | None = None
        self._fairness: Mapping[int, int] = {}

    def flow_started(self, workflow: str) -> None:
        self._flows_started.add(1, {"workflow": workflow})

    def flow_terminated(self, workflow: str, status: str, seconds: float | None) -> None:
        attributes = {"workflow": workflow, "status": status}
        self._flows_terminated.add(1, attributes)
        if seconds is not None:
            self._flow_duration.record(max(seconds, 0.0), attributes)

    def step_executed(self, task: str, status: str) -> None:
        self._steps_executed.add(1, {"task": task, "status": status})

    def step_duration(self, task: str, seconds: float) -> None:
        self._step_duration.record(seconds, {"task": task})

    def steps_recovered(self, count: int) -> None:
        if count > 0:
            self._steps_recovered.add(count)

    def queue_wait(self, priority: int, seconds: float) -> None:
        self._queue_wait.record(max(seconds, 0.0), {"priority": priority})

    def steps_skipped(self, by_task: Mapping[str, int]) -> None:
        for task, count in by_task.items():
            self._skipped.add(count, {"task": task})

    def rate_cut(self, key: str) -> None:
        self._rate_cuts.add(1, {"task": key})

    def breaker_trip(self, key: str, cause: str) -> None:
        self._trips.add(1, {"task": key, "cause": cause})

    def breaker_probe(self, key: str, outcome: str, cause: str) -> None:
        self._probes.add(1, {"task": key, "outcome": outcome, "cause": cause})

    def transaction(self, fn: Callable[..., object], seconds: float) -> None:
        self._tx_duration.record(seconds, {"operation": operation_of(fn)})

    def refill(self, fairness_keys: Mapping[int, int]) -> None:
        self._fairness = fairness_keys

    def observe(self, sampler: GaugeSampler) -> None:
        # OpenTelemetry cannot unregister a callback: a closed sampler answers nothing instead.
        self._sampler = sampler
        meter = self._meter
        meter.create_observable_gauge(
            "dwarf_steps_queue_depth",
            [self._queue_depth],
            "{step}",
            "Steps claimed by this replica and waiting for a worker",
        )
        meter.create_observable_gauge(
            "dwarf_steps_pending",
            [self._pending],
            "{step}",
            "Due pending steps, by priority band, summed across shards",
        )
        meter.create_observable_gauge(
            "dwarf_steps_oldest_pending_age_seconds",
            [self._oldest],
            "s",
            "Age of the longest-due pending step, by priority band, across shards",
        )
        meter.create_observable_gauge(
            "dwarf_steps_fairness_keys",
            [self._fairness_keys],
            "{key}",
            "Distinct admissible fairness keys per band this replica's last refill planned",
        )
        meter.create_observable_gauge(
            "dwarf_task_rate_limit",
            [self._rate_limit],
            "{step}/s",
            "Steps per second a protection key admits now (static limit or valve ceiling)",
        )
        meter.create_observable_gauge(
            "dwarf_task_concurrency_running",
            [self._running],
            "{step}",
            "Steps of a protection key selected by this replica and not finished",
        )
        meter.create_observable_gauge(
            "dwarf_task_breaker_state",
            [self._breaker_state],
            "1",
            "1 while a protection key's breaker is open on any shard, else 0",
        )

    def _queue_depth(self, options: CallbackOptions) -> Iterable[Observation]:
        sampler = self._sampler
        if sampler is None or sampler.closed:
            return []
        return [Observation(sampler.queue_depth())]

    def _pending(self, options: CallbackOptions) -> Iterable[Observation]:
        sample = self._sampler.current() if self._sampler is not None else None
        if sample is None:
            return []
        return [Observation(n, {"priority": p}) for p, n in sorted(sample.pending.items())]

    def _oldest(self, options: CallbackOptions) -> Iterable[Observation]:
        sample = self._sampler.current() if self._sampler is not None else None
        if sample is None:
            return []
        return [Observation(s, {"priority": p}) for p, s in sorted(sample.oldest_age_s.items())]

    def _fairness_keys(self, options: CallbackOptions) -> Iterable[Observation]:
        sampler, last = self._sampler, self._fairness
        if sampler is None or sampler.closed:
            return []
        return [Observation(n, {"priority": p}) for p, n in sorted(last.items())]

    def _keys(self) -> list[KeyGauge]:
        sample = self._sampler.current() if self._sampler is not None else None
        return list(sample.keys) if sample is not None else []

    def _rate_limit(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(k.rate_limit, {"task": k.key})
            for k in self._keys()
            if k.rate_limit is not None
        ]

    def _running(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(k.running, {"task": k.key}) for k in self._keys()]

    def _breaker_state(self, options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(int(k.breaker_open), {"task": k.key}) for k in self._keys()]


def build_metrics(provider: MeterProvider | None) -> Metrics:
    """The instruments over ``provider`` (default: the global one); silent without an SDK."""
    if provider is None:
        from opentelemetry.metrics import get_meter_provider

        provider = get_meter_provider()
    return LiveMetrics(provider) if is_sdk_provider(provider) else Metrics()
