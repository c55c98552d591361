"""Metrics, traces and the gauges' sampling, through the OpenTelemetry API only.

Owns: the ``dwarf`` instruments (``Metrics``), the ``workflow`` and step spans and their W3C
``traceparent`` (``Tracing``), and the bridge that lets a synchronous gauge callback read an
asynchronous sample (``GaugeSampler``). Each comes in two kinds: a silent base class whose methods
do nothing, used when the host injected no SDK provider (so the engine builds no attribute dict
and starts no span: docs/internals/observability.md#m1), and a live one over the SDK.

May import: nothing from dwarf. The engine decides what happened; this package only emits it.
"""

from dwarf._observability._gauges import GaugeSample, GaugeSampler, KeyGauge
from dwarf._observability._metrics import LiveMetrics, Metrics, build_metrics, is_sdk_provider
from dwarf._observability._tracing import LiveTracing, Tracing, build_tracing

__all__ = [
    "GaugeSample",
    "GaugeSampler",
    "KeyGauge",
    "LiveMetrics",
    "LiveTracing",
    "Metrics",
    "Tracing",
    "build_metrics",
    "build_tracing",
    "is_sdk_provider",
]
