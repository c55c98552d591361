"""OpenTelemetry SDK providers with in-memory readers and exporters, and ways to read them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Telemetry:
    """An SDK meter provider with an in-memory reader, a tracer provider with an exporter."""

    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)

    def __post_init__(self) -> None:
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def points(
        self, name: str, data: MetricsData | None = None
    ) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, point) of every data point of instrument ``name``."""
        data = data if data is not None else self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend((dict(p.attributes or {}), p) for p in metric.data.data_points)
        return found

    def value(self, name: str, **labels: Any) -> Any:
        """The sum/value of the data point of ``name`` with exactly ``labels`` (None: absent)."""
        for attributes, point in self.points(name):
            if attributes == labels:
                return getattr(point, "value", None) if hasattr(point, "value") else point.count
        return None

    async def eventually(
        self, name: str, check: Callable[[list[tuple[dict[str, Any], Any]]], bool]
    ) -> list[tuple[dict[str, Any], Any]]:
        """Collect until ``check`` holds for ``name``'s points (gauges sample asynchronously)."""
        for _ in range(200):
            points = self.points(name)
            if check(points):
                return points
            await asyncio.sleep(0.05)
        raise AssertionError(f"{name}: never satisfied; last points {self.points(name)}")

    def spans(self) -> list[ReadableSpan]:
        """Every finished span."""
        return list(self.exporter.get_finished_spans())

    def scopes(self) -> Iterator[str]:
        """Instrumentation scope names of the collected metrics."""
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                yield scope.scope.name
