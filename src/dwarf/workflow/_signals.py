"""Exceptions a task raises (or lets through) to steer the engine, and the onError payload.

Three kinds of exception cross the boundary between a task and the engine:

* ``Yield`` parks the step (an interrupt or a subgraph was armed). It derives from
  ``BaseException`` so that the ubiquitous ``except Exception`` in task code cannot swallow it by
  accident; a task that catches it anyway must re-raise it.
* ``BackpressureError`` / ``BreakerTripError`` wrap a transport error the host recognised (a 429,
  an ack timeout) so the engine throttles the task or trips its breaker instead of failing the
  step. Hosts usually raise them from deep inside a client, so the classifiers also look through
  ``__cause__`` / ``__context__``: the outermost wrapper found decides, so a breaker trip that
  wraps a backpressure error stays a breaker trip.
* ``SubgraphFailedError`` is what ``Flow.subgraph`` raises when the child flow failed. It is an
  ordinary ``Exception`` so that ``onError`` routing applies to it like to any other failure.

``error_payload`` builds the ``onErr`` object an onError handler reads. It never raises: it runs
while the engine is already handling a failure, so a property with no JSON form is stored as its
text, and NUL characters (which PostgreSQL cannot store) are replaced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dwarf.errors import BadRequestError
from dwarf.workflow._json import to_json_value

__all__ = [
    "BackpressureError",
    "BreakerTripError",
    "SubgraphFailedError",
    "Yield",
    "err_backpressure",
    "err_breaker_trip",
    "error_payload",
    "is_backpressure",
    "is_breaker_trip",
    "steering_error",
]

_DEFAULT_STATUS_CODE = 500


class Yield(BaseException):
    """Raised by ``Flow.interrupt`` and ``Flow.subgraph`` to park the step; let it propagate.

    ``reason`` is ``"interrupt"`` or ``"subgraph"``.
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__(f"the step parks: {reason}" if reason else "the step parks")
        self.reason = reason


class SubgraphFailedError(Exception):
    """The child flow started by ``Flow.subgraph`` failed; ``str(err)`` is the child's error.

    ``properties`` (optional) are copied into the ``onErr`` payload like any error's;
    ``final_state`` is the child's final state when the engine knows it (else ``{}``).
    """

    def __init__(
        self,
        message: str,
        *,
        properties: Mapping[str, Any] | None = None,
        final_state: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.properties: dict[str, Any] = dict(properties or {})
        self.final_state: dict[str, Any] = dict(final_state or {})

    def __str__(self) -> str:
        return self.message


class _SteeringError(Exception):
    """Shared shape of the two wrappers: the original error, a cause label, an optional key.

    ``key`` names what the engine protects (an account, a host); ``None`` means the task's own
    name. An explicit key must be a non-empty string without NUL characters.
    """

    def __init__(
        self, error: BaseException | str, cause: str = "", *, key: str | None = None
    ) -> None:
        if not isinstance(cause, str):
            raise TypeError(f"cause must be a str, got {type(cause).__name__}")
        if key is not None and (not isinstance(key, str) or not key or "\x00" in key):
            raise BadRequestError(f"key must be a non-empty string without NUL, got {key!r}")
        original = error if isinstance(error, BaseException) else Exception(str(error))
        super().__init__(str(original))
        self.error: BaseException = original
        self.cause: str = cause
        self.key: str | None = key
        self.__cause__ = original

    def __str__(self) -> str:
        return str(self.error)


class BackpressureError(_SteeringError):
    """The task's target pushed back (e.g. HTTP 429): the engine slows the task down.

    The step is re-queued without consuming an attempt. ``error`` is the original error,
    ``cause`` an opaque label used in metrics, ``key`` what the rate valve is kept for (default:
    the task's name) and ``retry_after`` (seconds, as from a ``Retry-After`` header) holds
    admission for that key until then.
    """

    def __init__(
        self,
        error: BaseException | str,
        cause: str = "",
        *,
        key: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(error, cause, key=key)
        if retry_after is not None:
            if isinstance(retry_after, bool) or not isinstance(retry_after, int | float):
                raise BadRequestError(
                    f"retry_after must be a number of seconds, got {type(retry_after).__name__}"
                )
            if not math.isfinite(retry_after) or retry_after < 0:
                raise BadRequestError(
                    f"retry_after must be a finite, non-negative number, got {retry_after!r}"
                )
        self.retry_after: float | None = None if retry_after is None else float(retry_after)


class BreakerTripError(_SteeringError):
    """The task's target is unavailable (e.g. an ack timeout, 503): the engine trips its breaker.

    The task's pending steps are held back and probed with growing spacing until one succeeds.
    ``error`` is the original error, ``cause`` an opaque label used in metrics and ``key`` what
    the breaker is kept for (default: the task's name; tasks sharing a key share a breaker).
    """


def err_backpressure(
    err: BaseException | str,
    cause: str = "",
    *,
    key: str | None = None,
    retry_after: float | None = None,
) -> BackpressureError:
    """Wrap ``err`` so the engine treats it as backpressure; raise the result from the task."""
    return BackpressureError(err, cause, key=key, retry_after=retry_after)


def err_breaker_trip(
    err: BaseException | str, cause: str, *, key: str | None = None
) -> BreakerTripError:
    """Wrap ``err`` so the engine trips the circuit breaker of ``key`` (default: the task)."""
    return BreakerTripError(err, cause, key=key)


def _outermost_wrapper(err: BaseException) -> _SteeringError | None:
    """The first steering wrapper met walking ``err`` and its cause/context chain, if any."""
    seen: set[int] = set()
    pending: list[BaseException] = [err]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue  # exception chains can be cyclic
        seen.add(id(current))
        if isinstance(current, _SteeringError):
            return current
        if current.__cause__ is not None:
            pending.append(current.__cause__)
        if current.__context__ is not None and not current.__suppress_context__:
            pending.append(current.__context__)
    return None


def steering_error(err: BaseException | None) -> BackpressureError | BreakerTripError | None:
    """The wrapper that decides how the engine treats ``err`` (outermost in its chain), if any."""
    if err is None:
        return None
    wrapper = _outermost_wrapper(err)
    return wrapper if isinstance(wrapper, BackpressureError | BreakerTripError) else None


def is_backpressure(err: BaseException | None) -> str | None:
    """The cause label if ``err`` is (or wraps) a backpressure error, else None.

    An empty string is a valid cause, so test the result against None.
    """
    if err is None:
        return None
    wrapper = _outermost_wrapper(err)
    return wrapper.cause if isinstance(wrapper, BackpressureError) else None


def is_breaker_trip(err: BaseException | None) -> str | None:
    """The cause label if ``err`` is (or wraps) a breaker-trip error, else None.

    An empty string is a valid cause, so test the result against None.
    """
    if err is None:
        return None
    wrapper = _outermost_wrapper(err)
    return wrapper.cause if isinstance(wrapper, BreakerTripError) else None


def _storable_text(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _storable_property(name: str, value: Any) -> Any:
    try:
        return to_json_value(value, path=f"onErr.{name}")
    except (TypeError, ValueError):
        return _storable_text(str(value))


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The ``onErr`` object an onError handler reads for ``exc``.

    ``{"error": str(exc), "errorType": type(exc).__name__, "statusCode": exc.status_code (an
    int) or 500, **exc.properties}``; no stack trace. ``errorType`` is additive to the API's
    shape. Properties come from an ``exc.properties`` mapping when there is one, converted to
    JSON (a value with no JSON form is stored as its text) and spread last, as the API fixes.
    """
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int) or isinstance(status, bool):
        status = _DEFAULT_STATUS_CODE
    payload: dict[str, Any] = {
        "error": _storable_text(str(exc)),
        "errorType": type(exc).__name__,
        "statusCode": status,
    }
    properties = getattr(exc, "properties", None)
    if isinstance(properties, Mapping):
        for name, value in properties.items():
            key = _storable_text(str(name))
            payload[key] = _storable_property(key, value)
    return payload
