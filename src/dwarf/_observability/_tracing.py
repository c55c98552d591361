"""Spans: a ``workflow`` span minted at create, and one span per dispatched step.

The ``workflow`` span is started and ended at once; what lives on is its W3C ``traceparent``,
stored on the flow row. Every step of the flow, on whichever replica claims it, opens its span
with that stored parent, so one trace spans replicas without any replica talking to another
(docs/internals/observability.md#m5). The step span is current while the task runs, so a host's
instrumented client continues the trace; a subgraph child's ``workflow`` span is minted while
its caller's step span is current, which puts the child's steps under the caller.

Only the W3C ``traceparent`` is stored: the host's global propagator may carry more (baggage),
which has no business on a row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dwarf._observability._metrics import SCOPE, is_sdk_provider

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["LiveTracing", "Tracing", "build_tracing"]

_W3C = TraceContextTextMapPropagator()


class Tracing:
    """Tracing for an engine with no SDK provider: no span, no stored traceparent."""

    enabled = False

    def mint(self, workflow_name: str, *, under_current: bool) -> str:
        """Start and end a ``workflow`` span; return its traceparent ("" when not recorded).

        ``under_current`` parents it under the span current now (a subgraph's caller step, or
        the host's span for a linked root flow); otherwise it starts a trace of its own.
        """
        return ""

    @contextlib.contextmanager
    def step(
        self, task_name: str, traceparent: str, flow_key: str, workflow_name: str
    ) -> Iterator[None]:
        """A span for one step's processing, current inside it, parented by ``traceparent``."""
        yield

    def task_error(self, error: BaseException) -> None:
        """Record the task's exception on the current step span, with error status."""


class LiveTracing(Tracing):
    """Tracing over a recording ``TracerProvider``."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self._tracer = provider.get_tracer(SCOPE)

    def mint(self, workflow_name: str, *, under_current: bool) -> str:
        parent = None if under_current else Context()
        span = self._tracer.start_span(
            "workflow",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={"workflow.name": workflow_name},
        )
        span.end()
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=trace.set_span_in_context(span))
        return carrier.get("traceparent", "")

    @contextlib.contextmanager
    def step(
        self, task_name: str, traceparent: str, flow_key: str, workflow_name: str
    ) -> Iterator[None]:
        # No stored parent (a flow created before tracing was on): the step starts a trace.
        parent = _W3C.extract({"traceparent": traceparent}) if traceparent else Context()
        with self._tracer.start_as_current_span(
            task_name,
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={"workflow.id": flow_key, "workflow.name": workflow_name},
        ):
            yield

    def task_error(self, error: BaseException) -> None:
        span = trace.get_current_span()
        span.record_exception(error)
        span.set_status(StatusCode.ERROR, type(error).__name__)


def build_tracing(provider: TracerProvider | None) -> Tracing:
    """Tracing over ``provider`` (default: the global one); silent without an SDK."""
    if provider is None:
        provider = trace.get_tracer_provider()
    return LiveTracing(provider) if is_sdk_provider(provider) else Tracing()
