"""Task-steering errors, their classifiers, Yield, and the onError payload."""

from __future__ import annotations

import math
from typing import Any

import pytest

from dwarf.errors import ConflictError, NotFoundError
from dwarf.workflow._signals import (
    BackpressureError,
    BreakerTripError,
    SubgraphFailedError,
    Yield,
    err_backpressure,
    err_breaker_trip,
    error_payload,
    is_backpressure,
    is_breaker_trip,
)


class HTTPError(Exception):
    def __init__(self, message: str, status_code: Any, properties: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        if properties is not None:
            self.properties = properties


def raised(make: Any) -> BaseException:
    """The exception ``make()`` raises, with the chain Python builds while raising it."""
    try:
        make()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_yield_is_a_base_exception_but_not_an_exception() -> None:
    assert issubclass(Yield, BaseException)
    assert not issubclass(Yield, Exception)
    assert Yield("interrupt").reason == "interrupt"


def test_subgraph_failed_error_is_an_exception_carrying_the_child_error() -> None:
    err = SubgraphFailedError("child failed: boom", properties={"step": "charge"})
    assert isinstance(err, Exception)
    assert str(err) == "child failed: boom"
    assert err.properties == {"step": "charge"}


def test_err_backpressure_wraps_the_original_error() -> None:
    original = HTTPError("too many requests", 429)
    err = err_backpressure(original, "rate_limited")
    assert isinstance(err, BackpressureError)
    assert err.error is original
    assert err.__cause__ is original
    assert err.cause == "rate_limited"
    assert str(err) == "too many requests"


def test_err_breaker_trip_wraps_the_original_error() -> None:
    original = TimeoutError("ack timeout")
    err = err_breaker_trip(original, "ack_timeout")
    assert isinstance(err, BreakerTripError)
    assert err.error is original
    assert err.__cause__ is original
    assert err.cause == "ack_timeout"
    assert str(err) == "ack timeout"


def test_a_string_error_is_wrapped_as_an_exception() -> None:
    err = err_backpressure("slow down")
    assert isinstance(err.error, Exception)
    assert str(err) == "slow down"
    assert err.cause == ""


def test_a_non_string_cause_is_refused() -> None:
    with pytest.raises(TypeError, match="cause"):
        err_breaker_trip("x", 503)  # type: ignore[arg-type]


def test_classifiers_return_the_cause_and_distinguish_empty_from_none() -> None:
    assert is_backpressure(err_backpressure("x")) == ""
    assert is_backpressure(err_backpressure("x", "quota")) == "quota"
    assert is_breaker_trip(err_breaker_trip("x", "")) == ""
    assert is_backpressure(ValueError("x")) is None
    assert is_breaker_trip(ValueError("x")) is None
    assert is_backpressure(None) is None


def test_each_classifier_ignores_the_other_kind() -> None:
    assert is_breaker_trip(err_backpressure("x", "quota")) is None
    assert is_backpressure(err_breaker_trip("x", "down")) is None


def test_classifiers_look_through_an_explicit_cause_chain() -> None:
    def inner() -> None:
        raise err_backpressure(HTTPError("429", 429), "quota")

    def outer() -> None:
        try:
            inner()
        except BackpressureError as exc:
            raise RuntimeError("client call failed") from exc

    def outermost() -> None:
        try:
            outer()
        except RuntimeError as exc:
            raise ValueError("task failed") from exc

    err = raised(outermost)
    assert is_backpressure(err) == "quota"
    assert is_breaker_trip(err) is None


def test_classifiers_look_through_an_implicit_context_chain() -> None:
    def handler() -> None:
        try:
            raise err_breaker_trip(ConnectionError("refused"), "unreachable")
        except BreakerTripError:
            raise KeyError("cleanup")  # noqa: B904 - the implicit context is what is tested

    err = raised(handler)
    assert err.__cause__ is None
    assert is_breaker_trip(err) == "unreachable"


def test_classifiers_respect_a_suppressed_context() -> None:
    def handler() -> None:
        try:
            raise err_breaker_trip(ConnectionError("refused"), "unreachable")
        except BreakerTripError:
            raise KeyError("unrelated") from None

    assert is_breaker_trip(raised(handler)) is None


def test_the_outermost_wrapper_decides() -> None:
    err = err_breaker_trip(err_backpressure("429", "quota"), "down")
    assert is_breaker_trip(err) == "down"
    assert is_backpressure(err) is None


def test_classifiers_terminate_on_a_cyclic_chain() -> None:
    a = ValueError("a")
    b = ValueError("b")
    a.__cause__ = b
    b.__cause__ = a
    assert is_backpressure(a) is None
    assert is_breaker_trip(a) is None


def test_error_payload_of_a_plain_exception() -> None:
    assert error_payload(ValueError("boom")) == {
        "error": "boom",
        "errorType": "ValueError",
        "statusCode": 500,
    }


def test_error_payload_uses_the_status_code_of_dwarf_errors() -> None:
    assert error_payload(NotFoundError("no such flow")) == {
        "error": "no such flow",
        "errorType": "NotFoundError",
        "statusCode": 404,
    }
    assert error_payload(ConflictError("busy"))["statusCode"] == 409


def test_error_payload_spreads_properties_after_error_and_status() -> None:
    exc = HTTPError("payment declined", 402, {"orderId": "o-1", "retryable": False})
    assert error_payload(exc) == {
        "error": "payment declined",
        "errorType": "HTTPError",
        "statusCode": 402,
        "orderId": "o-1",
        "retryable": False,
    }


@pytest.mark.parametrize("status", ["404", 404.0, True, None])
def test_error_payload_ignores_a_status_code_that_is_not_an_int(status: Any) -> None:
    assert error_payload(HTTPError("x", status))["statusCode"] == 500


def test_error_payload_stores_properties_without_a_json_form_as_text() -> None:
    exc = HTTPError("x", 400, {"when": object(), "ratio": math.nan, "items": (1, 2)})
    payload = error_payload(exc)
    assert payload["when"].startswith("<object object")
    assert payload["ratio"] == "nan"
    assert payload["items"] == [1, 2]


def test_error_payload_replaces_nul_characters() -> None:
    payload = error_payload(HTTPError("bad\x00byte", 400, {"k\x00": "v\x00"}))
    assert "\x00" not in payload["error"]
    assert all("\x00" not in key and "\x00" not in str(v) for key, v in payload.items())


def test_error_payload_ignores_properties_that_are_not_a_mapping() -> None:
    assert error_payload(HTTPError("x", 400, ["a", "b"])) == {
        "error": "x",
        "errorType": "HTTPError",
        "statusCode": 400,
    }


def test_error_payload_carries_no_stack() -> None:
    payload = error_payload(raised(lambda: 1 / 0))
    assert set(payload) == {"error", "errorType", "statusCode"}
    assert payload["errorType"] == "ZeroDivisionError"
    assert payload["error"] == "division by zero"


def test_error_payload_of_a_failed_subgraph_includes_its_properties() -> None:
    err = SubgraphFailedError("child failed", properties={"child": "1-2-abc"})
    assert error_payload(err) == {
        "error": "child failed",
        "errorType": "SubgraphFailedError",
        "statusCode": 500,
        "child": "1-2-abc",
    }
