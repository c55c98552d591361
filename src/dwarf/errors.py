"""Errors that dwarf's engine operations raise, each carrying an HTTP-style status code.

The tree::

    DwarfError (500)
    ├── BadRequestError (400)    malformed key, bad argument, invalid graph or expression
    ├── NotFoundError (404)      unknown flow, step or thread (a wrong token looks the same)
    ├── ConflictError (409)      the flow or step is in the wrong state for the operation
    ├── UnavailableError (503)   the engine is not running, or a database stayed unreachable
    └── StorageError (500)       a database statement failed (not lock contention, not a fault
                                 of the connection or server: those are retried, then 503)

A workflow's own failure is never one of these: it is a ``FlowOutcome`` with status ``failed``.
This module imports nothing but the standard library.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BadRequestError",
    "ConflictError",
    "DwarfError",
    "NotFoundError",
    "StorageError",
    "UnavailableError",
]


class DwarfError(Exception):
    """Base of every error an engine operation raises; ``status_code`` says what kind it is."""

    status_code: ClassVar[int] = 500

    def __init_subclass__(cls, status_code: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status_code is not None:
            cls.status_code = status_code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadRequestError(DwarfError, status_code=400):
    """The input is malformed: a bad key, argument, graph or ``when`` expression."""


class NotFoundError(DwarfError, status_code=404):
    """The flow, step or thread does not exist (or its key's token does not match)."""


class ConflictError(DwarfError, status_code=409):
    """The flow or step is not in a state that allows the operation."""


class UnavailableError(DwarfError, status_code=503):
    """The engine is not running (not started yet, or shut down), or a database is unreachable.

    A dropped connection or a restarting server is retried for a bounded window first; this
    error means the window passed, or a write was cut off so that its outcome is unknown. Try
    again later.
    """


class StorageError(DwarfError):
    """A database statement failed for a reason other than lock contention.

    Its message names the shard and dialect and carries the driver's first line of text with
    the DSN's secrets scrubbed.
    """
