"""The observability package: silent without an SDK, labels from code sites, typed setters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracerProvider

from dwarf._observability import build_metrics, build_tracing
from dwarf._observability._metrics import operation_of
from dwarf.engine import Engine
from dwarf.errors import BadRequestError


def test_without_an_sdk_provider_every_instrument_is_silent() -> None:
    # No global provider is set in the test run: the API's proxy stands in, recording nothing.
    assert not build_metrics(None).enabled
    assert not build_tracing(None).enabled
    assert not build_metrics(NoOpMeterProvider()).enabled
    assert not build_tracing(NoOpTracerProvider()).enabled
    assert build_tracing(NoOpTracerProvider()).mint("w", under_current=False) == ""


def test_sdk_providers_record() -> None:
    assert build_metrics(MeterProvider()).enabled
    tracing = build_tracing(TracerProvider())
    assert tracing.enabled
    traceparent = tracing.mint("w", under_current=False)
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, len(trace_id), len(span_id)) == ("00", 32, 16)
    assert int(flags, 16) & 1  # sampled


def _fail_step() -> Callable[[object], Awaitable[None]]:
    async def tx(db: object) -> None:
        del db

    return tx


class Store:
    def claim(self) -> Callable[[object], object]:
        return lambda db: db


def test_a_transactions_operation_is_the_function_that_ran_it() -> None:
    assert operation_of(_fail_step()) == "fail_step"
    assert operation_of(Store().claim()) == "claim"


def test_provider_setters_refuse_what_is_not_a_provider() -> None:
    with pytest.raises(BadRequestError, match="meter_provider"):
        Engine().with_meter_provider("prometheus")  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="tracer_provider"):
        Engine().with_tracer_provider(None)  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="link"):
        Engine().with_link_root_traces("yes")  # type: ignore[arg-type]
