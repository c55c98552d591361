"""Value types: construction, camelCase JSON aliases, validation naming the field, statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from dwarf.errors import BadRequestError
from dwarf.workflow._values import (
    TERMINAL_STATUSES,
    FlowOptions,
    FlowOutcome,
    FlowStep,
    FlowSummary,
    Query,
    Status,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def error_fields(exc: BadRequestError) -> set[str]:
    """The fields pydantic's error (the cause of the ``BadRequestError``) names."""
    cause = exc.__cause__
    assert isinstance(cause, ValidationError)
    fields = {".".join(str(part) for part in err["loc"]) for err in cause.errors()}
    assert all(f".{field}:" in str(exc) for field in fields), "the message names the field"
    return fields


# --- Status --------------------------------------------------------------------------------


def test_status_values_are_lowercase_strings() -> None:
    completed: str = Status.COMPLETED  # a str wherever a str is expected
    assert completed == "completed"
    assert f"{Status.FAILED}" == "failed"
    assert [s.value for s in Status] == [
        "created",
        "pending",
        "running",
        "interrupted",
        "completed",
        "failed",
        "cancelled",
    ]
    assert Status("failed") is Status.FAILED


@pytest.mark.parametrize(
    ("status", "terminal", "stopped"),
    [
        (Status.CREATED, False, False),
        (Status.PENDING, False, False),
        (Status.RUNNING, False, False),
        (Status.INTERRUPTED, False, True),
        (Status.COMPLETED, True, True),
        (Status.FAILED, True, True),
        (Status.CANCELLED, True, True),
    ],
)
def test_status_terminal_and_stopped(status: Status, terminal: bool, stopped: bool) -> None:
    assert status.is_terminal is terminal
    assert status.is_stopped is stopped
    assert (status in TERMINAL_STATUSES) is terminal


def test_terminal_statuses_match_raw_status_strings_from_storage() -> None:
    assert {"completed", "failed", "cancelled"} <= TERMINAL_STATUSES
    assert "interrupted" not in TERMINAL_STATUSES
    assert "running" not in TERMINAL_STATUSES


# --- FlowOptions ---------------------------------------------------------------------------


def test_flow_options_defaults_mean_engine_defaults() -> None:
    opts = FlowOptions()
    assert opts.priority == 0
    assert opts.fairness_key == ""
    assert opts.fairness_weight == 0.0
    assert opts.start_at is None
    assert opts.baggage is None
    assert opts.thread_key == ""
    assert opts.time_budget is None
    assert opts.delete_on_completion is False


def test_flow_options_time_budget_accepts_float_seconds() -> None:
    assert FlowOptions(time_budget=1.5).time_budget == timedelta(seconds=1.5)
    assert FlowOptions(time_budget=timedelta(minutes=2)).time_budget == timedelta(minutes=2)


def test_flow_options_rejects_a_negative_time_budget_naming_the_field() -> None:
    with pytest.raises(BadRequestError) as info:
        FlowOptions(time_budget=-1)
    assert error_fields(info.value) == {"time_budget"}
    assert "must not be negative" in str(info.value)


def test_flow_options_rejects_a_naive_start_at_naming_the_field() -> None:
    with pytest.raises(BadRequestError) as info:
        FlowOptions(start_at=datetime(2025, 1, 1, 9, 0))
    assert error_fields(info.value) == {"start_at"}
    assert "timezone" in str(info.value)


def test_flow_options_start_at_is_normalized_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    opts = FlowOptions(start_at=datetime(2025, 1, 1, 10, 0, tzinfo=paris))
    assert opts.start_at == datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    assert opts.start_at is not None
    assert opts.start_at.utcoffset() == timedelta(0)


def test_flow_options_rejects_a_non_finite_fairness_weight() -> None:
    with pytest.raises(BadRequestError) as info:
        FlowOptions(fairness_weight=float("nan"))
    assert error_fields(info.value) == {"fairness_weight"}


def test_flow_options_rejects_an_unknown_option() -> None:
    with pytest.raises(BadRequestError) as info:
        FlowOptions.model_validate({"priorty": 3})
    assert error_fields(info.value) == {"priorty"}


def test_flow_options_rejects_a_wrong_type_on_assignment() -> None:
    opts = FlowOptions()
    with pytest.raises(BadRequestError) as info:
        opts.priority = "high"  # type: ignore[assignment]
    assert error_fields(info.value) == {"priority"}


def test_flow_options_dumps_camel_case_and_round_trips() -> None:
    opts = FlowOptions(
        priority=3,
        fairness_key="tenant-1",
        fairness_weight=2.5,
        start_at=T0,
        baggage={"user": "ada", "ids": [1, 2]},
        thread_key="1-2-abc",
        time_budget=timedelta(seconds=90),
        delete_on_completion=True,
    )
    dumped = opts.model_dump(by_alias=True, mode="json")
    assert set(dumped) == {
        "priority",
        "fairnessKey",
        "fairnessWeight",
        "startAt",
        "baggage",
        "threadKey",
        "timeBudget",
        "deleteOnCompletion",
    }
    assert dumped["timeBudget"] == 90.0
    assert dumped["startAt"] == "2025-03-01T12:00:00Z"
    assert FlowOptions.model_validate(dumped) == opts
    assert FlowOptions.model_validate_json(opts.model_dump_json(by_alias=True)) == opts


def test_flow_options_accepts_snake_case_names_in_data_too() -> None:
    assert FlowOptions.model_validate({"fairness_key": "k"}).fairness_key == "k"


# --- FlowOutcome ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "stopped"),
    [
        ("created", False),
        ("running", False),
        ("interrupted", True),
        ("completed", True),
        ("failed", True),
        ("cancelled", True),
    ],
)
def test_flow_outcome_stopped_follows_the_status(status: str, stopped: bool) -> None:
    assert FlowOutcome(flow_key="1-2-ab", status=Status(status)).stopped is stopped


def test_flow_outcome_parses_a_status_string_and_rejects_an_unknown_one() -> None:
    assert FlowOutcome.model_validate({"status": "failed"}).status is Status.FAILED
    with pytest.raises(BadRequestError) as info:
        FlowOutcome.model_validate({"status": "done"})
    assert error_fields(info.value) == {"status"}


def test_flow_outcome_round_trips_through_camel_case_json() -> None:
    outcome = FlowOutcome(
        flow_key="1-7-0123456789abcdef",
        status=Status.INTERRUPTED,
        state={"name": "ada", "n": 2**64},
        interrupt_payload={"question": "approve?"},
    )
    dumped = outcome.model_dump(by_alias=True)
    assert dumped == {
        "flowKey": "1-7-0123456789abcdef",
        "status": "interrupted",
        "state": {"name": "ada", "n": 2**64},
        "error": "",
        "errorType": "",  # additive: the failing exception's type name
        "interruptPayload": {"question": "approve?"},
        "cancelReason": "",
    }
    assert FlowOutcome.model_validate_json(outcome.model_dump_json(by_alias=True)) == outcome


def test_flow_outcome_empty_containers_are_not_shared_between_instances() -> None:
    a = FlowOutcome(status=Status.COMPLETED)
    b = FlowOutcome(status=Status.COMPLETED)
    a.state["x"] = 1
    assert b.state == {}


# --- FlowStep / FlowSummary ----------------------------------------------------------------


def test_flow_step_has_every_api_field_with_camel_case_aliases() -> None:
    step = FlowStep(step_id=3)
    assert set(step.model_dump(by_alias=True)) == {
        "stepKey",
        "stepId",
        "stepDepth",
        "taskName",
        "attempt",
        "predecessorId",
        "successorId",
        "prevKey",
        "nextKey",
        "subgraph",
        "subWorkflowName",
        "subHistory",
        "state",
        "changes",
        "interruptPayload",
        "status",
        "error",
        "errorType",  # additive: the failing exception's type name
        "note",  # additive: a completed step's routing note
        "createdAt",
        "startedAt",
        "updatedAt",
    }


def test_flow_step_nests_sub_history_recursively_and_round_trips() -> None:
    data: dict[str, Any] = {
        "stepKey": "1-10-aa",
        "stepId": 10,
        "taskName": "call",
        "status": "completed",
        "subgraph": True,
        "subWorkflowName": "child",
        "subHistory": [
            {"stepId": 11, "taskName": "inner", "status": "completed", "successorId": 12},
            {
                "stepId": 12,
                "taskName": "deeper",
                "status": "completed",
                "subHistory": [{"stepId": 13, "status": "failed", "error": "boom"}],
            },
        ],
        "startedAt": "2025-03-01T12:00:00Z",
        "updatedAt": "2025-03-01T12:00:01.250Z",
    }
    step = FlowStep.model_validate(data)
    assert step.sub_history[1].sub_history[0].error == "boom"
    assert step.sub_history[1].sub_history[0].status is Status.FAILED
    assert step.started_at == T0
    assert FlowStep.model_validate(step.model_dump(by_alias=True)) == step


def test_flow_step_reports_naive_timestamps_as_utc() -> None:
    step = FlowStep(created_at=datetime(2025, 3, 1, 12, 0))
    assert step.created_at == T0


def test_flow_step_has_started_only_once_dispatched() -> None:
    assert not FlowStep(status=Status.CREATED).has_started
    assert not FlowStep(status=Status.PENDING).has_started
    assert FlowStep(status=Status.RUNNING).has_started
    assert FlowStep(status=Status.COMPLETED).has_started


def test_flow_step_rejects_a_bad_field_naming_it() -> None:
    with pytest.raises(BadRequestError) as info:
        FlowStep.model_validate({"stepId": "ten"})
    assert error_fields(info.value) == {"stepId"}


def test_flow_summary_has_the_api_fields_and_round_trips() -> None:
    summary = FlowSummary(
        flow_key="2-5-ff",
        thread_key="2-5-ff",
        workflow_name="greet",
        status=Status.RUNNING,
        task_name="hello",
        created_at=T0,
        started_at=T0,
        updated_at=T0 + timedelta(seconds=1),
        priority=100,
        fairness_key="t1",
    )
    dumped = summary.model_dump(by_alias=True)
    assert set(dumped) == {
        "flowKey",
        "threadKey",
        "workflowName",
        "status",
        "taskName",
        "error",
        "cancelReason",
        "createdAt",
        "startedAt",
        "updatedAt",
        "priority",
        "fairnessKey",
    }
    assert FlowSummary.model_validate(dumped) == summary


# --- Query ---------------------------------------------------------------------------------


def test_query_defaults_filter_nothing() -> None:
    q = Query()
    assert (q.status, q.workflow_name, q.thread_key, q.task_name, q.fairness_key) == ("",) * 5
    assert (q.priority, q.shard, q.limit) == (0, 0, 0)
    assert (q.older_than, q.newer_than) == (None, None)
    assert (q.cursor, q.search) == ("", "")


def test_query_ages_accept_float_seconds() -> None:
    q = Query(older_than=3600.0, newer_than=timedelta(days=1))
    assert q.older_than == timedelta(hours=1)
    assert q.newer_than == timedelta(days=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("limit", -1), ("priority", -5), ("shard", -1), ("older_than", -1.0), ("newer_than", -2)],
)
def test_query_rejects_negative_numbers_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(BadRequestError) as info:
        Query.model_validate({field: value})
    assert error_fields(info.value) == {field}


def test_query_status_accepts_a_status_and_rejects_an_unknown_one() -> None:
    assert Query(status=Status.COMPLETED).status == "completed"
    assert Query(status="failed").status == "failed"
    with pytest.raises(BadRequestError) as info:
        Query(status="complete")
    assert error_fields(info.value) == {"status"}
    assert "'complete' is not a status" in str(info.value)


def test_query_round_trips_through_camel_case_json() -> None:
    q = Query(workflow_name="greet", fairness_key="t", older_than=60, limit=10, search="50%")
    dumped = q.model_dump(by_alias=True, mode="json")
    assert dumped["workflowName"] == "greet"
    assert dumped["olderThan"] == 60.0
    assert Query.model_validate(dumped) == q


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Query(status="bogus"), "Query.status"),
        (lambda: Query(limit=-1), "Query.limit"),
        (lambda: FlowOptions.model_validate({"priorty": 1}), "FlowOptions.priorty"),
        (lambda: FlowOptions(time_budget=-1), "FlowOptions.time_budget"),
        (lambda: FlowOutcome(status="done"), "FlowOutcome.status"),
        (lambda: FlowSummary(status="done"), "FlowSummary.status"),
        (lambda: FlowStep(step_id="ten"), "FlowStep.step_id"),
    ],
)
def test_every_value_type_raises_bad_request_naming_the_field(make: Any, field: str) -> None:
    with pytest.raises(BadRequestError) as info:
        make()
    assert info.value.status_code == 400
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value.__cause__, ValidationError)
