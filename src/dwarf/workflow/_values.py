"""Value types a host reads and writes: statuses, flow options, outcomes, history and queries.

They are pydantic models so that a bad field is refused where it is written, with the field named
in the error, rather than deep inside the engine or the database. Fields are snake_case in Python
and camelCase in JSON (``model_dump(by_alias=True)``, the form the Go engine's JSON used); either
spelling is accepted on input. Unknown fields are refused so that a misspelt option fails loudly
instead of being silently ignored, and assignment is validated like construction.

Durations are ``timedelta``, accept a float (or int) of seconds, per the API conventions, and are
written to JSON as float seconds.
Timestamps handed in by a host must be timezone-aware; timestamps the engine reports back are
normalized to UTC, with a naive value read from a database taken to be UTC already.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from dwarf.errors import BadRequestError

__all__ = [
    "TERMINAL_STATUSES",
    "FlowOptions",
    "FlowOutcome",
    "FlowStep",
    "FlowSummary",
    "Query",
    "Status",
]


class Status(StrEnum):
    """Lifecycle status of a flow or a step (docs/internals/engine.md#flow-lifecycle).

    A flow is ``created``, ``running``, ``interrupted``, ``completed``, ``failed`` or
    ``cancelled``; a step can also be ``pending`` (waiting to be dispatched).
    """

    CREATED = "created"
    PENDING = "pending"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for completed, failed and cancelled: nothing further happens without a restart."""
        return self in TERMINAL_STATUSES

    @property
    def is_stopped(self) -> bool:
        """True when awaiting returns: a terminal status, or interrupted (waiting on a resume)."""
        return self in TERMINAL_STATUSES or self is Status.INTERRUPTED


TERMINAL_STATUSES: Final[frozenset[Status]] = frozenset(
    {Status.COMPLETED, Status.FAILED, Status.CANCELLED}
)
"""The statuses after which nothing happens without a restart: the one definition of "terminal".

Members are ``str`` values too, so a raw status string read from storage tests membership."""


class _Value(BaseModel):
    """Shared configuration: camelCase JSON aliases, names accepted too, strict field set; a bad
    field is a ``BadRequestError`` naming it, like every other bad input (pydantic's
    ``ValidationError`` is its cause)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        # Durations in JSON are seconds, as in state (API settled detail 6), not ISO 8601 text.
        ser_json_timedelta="float",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _bad_request(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # Pydantic re-raises anything but ValueError/AssertionError from a validator unchanged,
        # so construction, model_validate and assignment all surface this one error type.
        try:
            return handler(data)
        except ValidationError as exc:
            raise BadRequestError(_describe(cls.__name__, exc)) from exc


def _describe(model: str, exc: ValidationError) -> str:
    """``Query.status: 'bogus' is not a status (...)``: the first problem, naming the field."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{model}.{field}: {message}{suffix}" if field else f"{model}: {message}{suffix}"


def _no_nul(value: str) -> str:
    """Refuse NUL: PostgreSQL cannot store or compare it, and SQLite's LIKE stops at it."""
    if "\x00" in value:
        raise ValueError("a NUL character is not allowed")
    return value


def _as_utc(value: datetime | None) -> datetime | None:
    """Report engine timestamps in UTC; a naive value from storage is already UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _non_negative(value: timedelta | None) -> timedelta | None:
    if value is not None and value < timedelta(0):
        raise ValueError("must not be negative")
    return value


class FlowOptions(_Value):
    """Flow-level scheduling options given to ``create``, ``run`` or ``continue_thread``.

    Zero values mean "use the engine's default": a ``priority`` of 0 or less takes the engine's
    default priority (explicit priorities are >= 1, lower runs first), and a ``fairness_weight``
    of 0 or less counts as 1. All options are frozen onto the flow when it is created.
    """

    priority: int = 0
    """Scheduling band; lower runs first. 0 uses the engine default."""
    fairness_key: str = ""
    """Groups flows (typically a tenant) for fair sharing of workers within a priority band."""
    fairness_weight: float = 0.0
    """Relative share of the fairness key; 0 or less counts as 1."""
    start_at: AwareDatetime | None = None
    """Earliest time the entry step may run; ``None`` or a past time runs as soon as started."""
    baggage: Any = None
    """Opaque JSON value handed to every task and graph loader of the flow (and its subgraphs)."""
    thread_key: str = ""
    """Thread to continue; set by ``continue_thread``, empty for a new thread."""
    time_budget: timedelta | None = None
    """Per-flow task deadline, overriding the engine's; ``None``: each step takes the budget of
    the replica that inserts it."""
    delete_on_completion: bool = False
    """Delete the flow (and its steps) shortly after it completes successfully."""

    @field_validator("fairness_key", "thread_key")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        return _no_nul(value)

    @field_validator("fairness_weight")
    @classmethod
    def _finite_weight(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("start_at")
    @classmethod
    def _start_at_utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @field_validator("time_budget")
    @classmethod
    def _budget_not_negative(cls, value: timedelta | None) -> timedelta | None:
        return _non_negative(value)


class FlowOutcome(_Value):
    """Where a flow stands: returned by ``run``, ``await_flow``, ``poll`` and ``snapshot``.

    ``state`` is the final state once the flow is terminal, the interrupted step's merged state
    while interrupted, and empty while created or running. ``error``, ``interrupt_payload`` and
    ``cancel_reason`` are set only for the matching status.
    """

    flow_key: str = ""
    """Key of the flow."""
    status: Status
    """The flow's status when the outcome was read."""
    state: dict[str, Any] = Field(default_factory=dict)
    """The flow's state (see the class docstring for which state)."""
    error: str = ""
    """Failure message; set when ``status`` is failed."""
    error_type: str = ""
    """Type name of the exception that failed the flow (``"KeyError"``), JSON ``errorType``;
    empty when the engine itself failed it (a routing error, a bad graph)."""
    interrupt_payload: dict[str, Any] = Field(default_factory=dict)
    """The payload a task passed to ``interrupt``; set when ``status`` is interrupted."""
    cancel_reason: str = ""
    """The reason given to ``cancel``; set when ``status`` is cancelled."""

    @property
    def stopped(self) -> bool:
        """True when the flow is terminal or interrupted, i.e. awaiting it would return now."""
        return self.status.is_stopped


class FlowStep(_Value):
    """One step of a flow's execution history (``history``) or a single step (``step``).

    ``history`` leaves ``state``, ``changes``, ``interrupt_payload``, ``prev_key`` and
    ``next_key`` empty; ``step`` fills them in. A step that launched a subgraph has ``subgraph``
    set and carries the child flow's steps in ``sub_history``.
    """

    step_key: str = ""
    """External key of the step (for ``step``, ``restart_from`` and ``fork``)."""
    step_id: int = 0
    """Per-shard id of the step; the execution-DAG edges refer to it."""
    step_depth: int = 0
    """Distance from the entry step (entry = 1); fan-out siblings share a depth."""
    task_name: str = ""
    """Graph node the step ran."""
    attempt: int = 0
    """Retry counter: 0 on the first run."""
    predecessor_id: int = 0
    """Step id this step followed in the execution DAG; 0 for an entry step."""
    successor_id: int = 0
    """Step id that followed this one (the first branch of a fan-out); 0 for a tail."""
    prev_key: str = ""
    """Key of the previous step when navigating (crosses subgraph boundaries); ``step`` only."""
    next_key: str = ""
    """Key of the next step when navigating (crosses subgraph boundaries); ``step`` only."""
    subgraph: bool = False
    """True when this step launched a child flow."""
    sub_workflow_name: str = ""
    """Workflow name of the child flow, when ``subgraph`` is set."""
    sub_history: list[FlowStep] = Field(default_factory=list)
    """The child flow's steps, when ``subgraph`` is set."""
    state: dict[str, Any] = Field(default_factory=dict)
    """The step's input state; ``step`` only."""
    changes: dict[str, Any] = Field(default_factory=dict)
    """The delta the step wrote; ``step`` only."""
    interrupt_payload: dict[str, Any] = Field(default_factory=dict)
    """Payload of an interrupt raised by (or below) this step; ``step`` only."""
    status: Status = Status.PENDING
    """Status of the step."""
    error: str = ""
    """Failure text of a failed step."""
    error_type: str = ""
    """Type name of the exception the step's task raised, when its task failed it
    (``"KeyError"``), JSON ``errorType``."""
    note: str = ""
    """How a completed step's routing surprised: ``"no transition matched ..."`` with the
    conditions evaluated, or a ``when`` that compared values of different types."""
    created_at: datetime | None = None
    """When the step was inserted."""
    started_at: datetime | None = None
    """When the current attempt was first dispatched."""
    updated_at: datetime | None = None
    """When the step row last changed (its end, once terminal)."""

    @field_validator("created_at", "started_at", "updated_at")
    @classmethod
    def _timestamps_utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    @property
    def has_started(self) -> bool:
        """True once the step has been dispatched (running, interrupted or terminal).

        A created or pending step's ``started_at``, if any, is not a dispatch time.
        """
        return self.status not in (Status.CREATED, Status.PENDING)


class FlowSummary(_Value):
    """One root flow as ``list_flows`` reports it."""

    flow_key: str = ""
    """Key of the flow."""
    thread_key: str = ""
    """Key of the thread the flow belongs to (its own key for a thread's first flow)."""
    workflow_name: str = ""
    """Name the graph was loaded under."""
    status: Status = Status.CREATED
    """Status of the flow."""
    task_name: str = ""
    """Task of the flow's current (or last) step; empty while several branches run."""
    error: str = ""
    """Failure message of a failed flow."""
    cancel_reason: str = ""
    """Reason given to ``cancel``."""
    created_at: datetime | None = None
    """When the flow was created (reset by ``restart``)."""
    started_at: datetime | None = None
    """When the flow was started."""
    updated_at: datetime | None = None
    """When the flow row last changed."""
    priority: int = 0
    """Resolved scheduling priority."""
    fairness_key: str = ""
    """Resolved fairness key."""

    @field_validator("created_at", "started_at", "updated_at")
    @classmethod
    def _timestamps_utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)


class Query(_Value):
    """Filters and paging for ``list_flows`` and ``purge``; empty or zero fields are not applied."""

    status: str = ""
    """Only flows with this status (a :class:`Status` value)."""
    workflow_name: str = ""
    """Only flows of this workflow."""
    thread_key: str = ""
    """Only flows of this thread."""
    task_name: str = ""
    """Only flows whose current step runs this task."""
    fairness_key: str = ""
    """Only flows with this fairness key."""
    priority: int = Field(default=0, ge=0)
    """Only flows with this priority; 0 does not filter."""
    older_than: timedelta | None = None
    """Only flows last updated longer ago than this."""
    newer_than: timedelta | None = None
    """Only flows last updated within this long."""
    shard: int = Field(default=0, ge=0)
    """Only this 1-based shard; 0 means every shard."""
    cursor: str = ""
    """The ``next_cursor`` of the previous page."""
    search: str = ""
    """Case-insensitive substring of the workflow name, task name, error, cancel reason or key."""
    limit: int = Field(default=0, ge=0)
    """Page size (``purge``: at most this many); 0 uses the engine's default."""

    @field_validator("workflow_name", "thread_key", "task_name", "fairness_key", "cursor", "search")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        return _no_nul(value)

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str) -> str:
        if value and value not in Status.__members__.values():
            known = ", ".join(member.value for member in Status)
            raise ValueError(f"{value!r} is not a status (expected one of: {known})")
        return str(value)

    @field_validator("older_than", "newer_than")
    @classmethod
    def _age_not_negative(cls, value: timedelta | None) -> timedelta | None:
        return _non_negative(value)
