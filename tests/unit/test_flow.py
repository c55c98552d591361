"""The Flow carrier: reading, writing, change tracking and control signals."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel

from dwarf.workflow._flow import Flow
from dwarf.workflow._flow_control import FlowSignals
from dwarf.workflow._json import dumps, loads
from dwarf.workflow._signals import SubgraphFailedError, Yield

BIG = 2**53 + 1
HUGE = 12345678901234567890123456789


class Order(BaseModel):
    id: str
    total: int


class Options(BaseModel):
    verbose: bool = False
    tags: list[str] = []


@dataclasses.dataclass
class Point:
    x: int
    y: int


def clock(at: datetime) -> Callable[[], datetime]:
    return lambda: at


T0 = datetime(2025, 1, 1, tzinfo=UTC)


# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "stored", "expected"),
    [
        ("get_string", "ada", "ada"),
        ("get_int", 42, 42),
        ("get_int", 60.0, 60),
        ("get_int", -(2**70), -(2**70)),
        ("get_float", 1.5, 1.5),
        ("get_float", 3, 3.0),
        ("get_bool", True, True),
        ("get_duration", 90, timedelta(seconds=90)),
        ("get_duration", 0.25, timedelta(milliseconds=250)),
        ("get_strings", ["a", "b"], ["a", "b"]),
    ],
)
def test_typed_getters_read_values_of_their_type(reader: str, stored: Any, expected: Any) -> None:
    flow = Flow(state={"k": stored})
    got = getattr(flow, reader)("k")
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("reader", "zero"),
    [
        ("get_string", ""),
        ("get_int", 0),
        ("get_float", 0.0),
        ("get_bool", False),
        ("get_duration", timedelta(0)),
        ("get_strings", []),
    ],
)
@pytest.mark.parametrize("state", [{}, {"k": None}], ids=["absent", "null"])
def test_typed_getters_read_absent_or_null_as_zero_value(
    reader: str, zero: Any, state: dict[str, Any]
) -> None:
    assert getattr(Flow(state=state), reader)("k") == zero


@pytest.mark.parametrize(
    ("reader", "stored", "want", "got"),
    [
        ("get_string", 5, "str", "int"),
        ("get_int", "5", "int", "str"),
        ("get_int", 1.5, "int", "float"),
        ("get_int", True, "int", "bool"),
        ("get_float", "1.5", "float", "str"),
        ("get_float", False, "float", "bool"),
        ("get_bool", 1, "bool", "int"),
        ("get_bool", "true", "bool", "str"),
        ("get_duration", "5s", "duration", "str"),
        ("get_duration", True, "duration", "bool"),
        ("get_strings", "a", "list of str", "str"),
        ("get_strings", {"a": 1}, "list of str", "dict"),
    ],
)
def test_typed_getters_reject_wrong_types_naming_key_and_types(
    reader: str, stored: Any, want: str, got: str
) -> None:
    flow = Flow(state={"retryAfter": stored})
    with pytest.raises(TypeError, match="retryAfter") as info:
        getattr(flow, reader)("retryAfter")
    assert want in str(info.value)
    assert got in str(info.value)


def test_get_strings_rejects_a_list_holding_a_non_string() -> None:
    flow = Flow(state={"tags": ["a", 2]})
    with pytest.raises(TypeError, match=r"tags.*\[1\].*int"):
        flow.get_strings("tags")


def test_get_int_is_exact_beyond_two_to_the_53() -> None:
    flow = Flow(state={"id": BIG, "huge": HUGE})
    assert flow.get_int("id") == BIG
    assert flow.get_int("huge") == HUGE


def test_get_float_reports_an_int_too_large_for_a_float() -> None:
    with pytest.raises(TypeError, match="big"):
        Flow(state={"big": 10**400}).get_float("big")


def test_get_decodes_pydantic_models_dataclasses_and_generics() -> None:
    flow = Flow(state={"order": {"id": "o1", "total": 3}, "p": {"x": 1, "y": 2}, "ns": [1, 2]})
    assert flow.get("order", Order) == Order(id="o1", total=3)
    assert flow.get("p", Point) == Point(1, 2)
    assert flow.get("ns", list[int]) == [1, 2]
    assert flow.get("ns", tuple[int, ...]) == (1, 2)


def test_get_raises_value_error_naming_the_key_on_mismatch() -> None:
    flow = Flow(state={"order": {"id": "o1", "total": "lots"}})
    with pytest.raises(ValueError, match=r"'order'.*Order.*total"):
        flow.get("order", Order)


def test_get_mismatch_error_does_not_echo_the_value() -> None:
    flow = Flow(state={"token": {"secret": "hunter2"}})
    with pytest.raises(ValueError, match="token") as info:
        flow.get("token", int)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("type_", "zero"),
    [
        (int, 0),
        (str, ""),
        (dict, {}),
        (list[str], []),
        (dict[str, int], {}),
        (int | None, None),
        (Options, Options()),
        (Any, None),
    ],
)
@pytest.mark.parametrize("state", [{}, {"k": None}], ids=["absent", "null"])
def test_get_reads_absent_or_null_as_the_types_zero_value(
    type_: Any, zero: Any, state: dict[str, Any]
) -> None:
    assert Flow(state=state).get("k", type_) == zero


def test_get_of_an_absent_field_without_a_zero_value_raises_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"'order' is absent.*Order"):
        Flow().get("order", Order)


def test_values_read_are_copies_that_cannot_change_state() -> None:
    flow = Flow(state={"d": {"xs": [1]}, "tags": ["a"]})
    flow.get("d", dict)["xs"].append(2)
    flow.get_strings("tags").append("b")
    flow.snapshot()["d"]["xs"].append(3)
    assert flow.snapshot() == {"d": {"xs": [1]}, "tags": ["a"]}


def test_has_reads_null_as_absent() -> None:
    flow = Flow(state={"a": 0, "b": None})
    assert flow.has("a")
    assert not flow.has("b")
    assert not flow.has("c")


def test_parse_state_decodes_the_whole_state_skipping_nulls() -> None:
    class View(BaseModel):
        name: str
        score: int = 7

    flow = Flow(state={"name": "ada", "score": None, "extra": True})
    assert flow.parse_state(View) == View(name="ada", score=7)


def test_parse_state_mismatch_raises_value_error_naming_the_field() -> None:
    class View(BaseModel):
        score: int

    with pytest.raises(ValueError, match="score"):
        Flow(state={"score": "high"}).parse_state(View)


# --- writing --------------------------------------------------------------------------------


def test_set_records_the_value_in_state_and_changes() -> None:
    flow = Flow(state={"a": 1})
    flow.set("b", {"n": [1, 2]})
    assert flow.snapshot() == {"a": 1, "b": {"n": [1, 2]}}
    assert flow.changes == {"b": {"n": [1, 2]}}


def test_set_converts_models_and_dataclasses_to_json_once() -> None:
    flow = Flow()
    order = Order(id="o1", total=3)
    flow.set("order", order)
    flow.set("point", Point(1, 2))
    order.total = 99  # a later mutation of the caller's object is not seen
    assert flow.changes == {"order": {"id": "o1", "total": 3}, "point": {"x": 1, "y": 2}}
    assert flow.get("order", Order) == Order(id="o1", total=3)


def test_set_copies_the_callers_containers() -> None:
    flow = Flow()
    value = {"xs": [1]}
    flow.set("v", value)
    value["xs"].append(2)
    assert flow.snapshot() == {"v": {"xs": [1]}}


@pytest.mark.parametrize(
    "value",
    ["a\x00b", {"nested": ["ok", "bad\x00"]}, {"bad\x00key": 1}],
    ids=["top", "nested", "nested-key"],
)
def test_set_rejects_nul_characters_at_set_time_naming_the_key(value: Any) -> None:
    flow = Flow(state={"kept": 1})
    with pytest.raises(ValueError, match=r"payload.*NUL"):
        flow.set("payload", value)
    assert flow.snapshot() == {"kept": 1}
    assert flow.changes == {}


def test_set_rejects_a_nul_character_in_the_key() -> None:
    with pytest.raises(ValueError, match="NUL"):
        Flow().set("a\x00b", 1)


def test_set_string_rejects_a_nul_character() -> None:
    with pytest.raises(ValueError, match="name"):
        Flow().set_string("name", "\x00")


@pytest.mark.parametrize("bad", [math.nan, math.inf, {"score": -math.inf}])
def test_set_rejects_non_finite_floats_naming_the_key(bad: Any) -> None:
    flow = Flow()
    with pytest.raises(ValueError, match="score"):
        flow.set("score", bad)
    assert not flow.has("score")


def test_set_float_rejects_nan_naming_the_key() -> None:
    with pytest.raises(ValueError, match="ratio"):
        Flow().set_float("ratio", math.nan)


def test_set_none_deletes_the_field() -> None:
    flow = Flow(state={"a": 1})
    flow.set("a", None)
    assert not flow.has("a")
    assert flow.changes == {"a": None}


@pytest.mark.parametrize(
    ("writer", "value", "stored"),
    [
        ("set_string", "ada", "ada"),
        ("set_int", 7, 7),
        ("set_int", HUGE, HUGE),
        ("set_float", 2.5, 2.5),
        ("set_float", 2, 2.0),
        ("set_bool", False, False),
        ("set_duration", timedelta(minutes=1, milliseconds=5), 60.005),
        ("set_duration", 1.5, 1.5),
        ("set_strings", ("a", "b"), ["a", "b"]),
    ],
)
def test_typed_setters_store_json_values(writer: str, value: Any, stored: Any) -> None:
    flow = Flow()
    getattr(flow, writer)("k", value)
    assert flow.changes == {"k": stored}
    assert type(flow.snapshot()["k"]) is type(stored)


@pytest.mark.parametrize(
    ("writer", "value"),
    [
        ("set_string", 5),
        ("set_int", True),
        ("set_int", 1.0),
        ("set_int", "1"),
        ("set_float", "1.5"),
        ("set_float", True),
        ("set_bool", 1),
        ("set_duration", "5"),
        ("set_duration", False),
        ("set_strings", "ab"),
        ("set_strings", ["a", 1]),
    ],
)
def test_typed_setters_reject_values_of_another_type(writer: str, value: Any) -> None:
    flow = Flow()
    with pytest.raises(TypeError, match="field"):
        getattr(flow, writer)("field", value)
    assert flow.changes == {}


def test_set_duration_round_trips_through_get_duration() -> None:
    flow = Flow()
    flow.set_duration("ttl", timedelta(hours=2, microseconds=500))
    assert flow.get_duration("ttl") == timedelta(hours=2, microseconds=500)


def test_big_integers_survive_set_int_get_int_and_a_json_round_trip_of_changes() -> None:
    flow = Flow()
    flow.set_int("id", BIG)
    flow.set("nested", {"ids": [HUGE, -HUGE]})
    assert flow.get_int("id") == BIG
    reloaded = loads(dumps(flow.changes))
    assert reloaded == {"id": BIG, "nested": {"ids": [HUGE, -HUGE]}}
    assert Flow(state=reloaded).get_int("id") == BIG


def test_delete_removes_fields_and_records_them_as_null() -> None:
    flow = Flow(state={"a": 1, "b": 2, "c": 3})
    flow.delete("a", "b", "never-there")
    assert flow.snapshot() == {"c": 3}
    assert flow.changes == {"a": None, "b": None, "never-there": None}
    assert flow.get_int("a") == 0


def test_set_after_delete_records_the_new_value() -> None:
    flow = Flow(state={"a": 1})
    flow.delete("a")
    flow.set_int("a", 2)
    assert flow.changes == {"a": 2}


def test_clear_deletes_every_field_including_this_tasks_writes() -> None:
    flow = Flow(state={"a": 1, "b": None})
    flow.set_int("c", 3)
    flow.clear()
    assert flow.snapshot() == {}
    assert flow.changes == {"a": None, "b": None, "c": None}


def test_transform_keeps_only_the_named_fields_under_new_names() -> None:
    flow = Flow(state={"parentA": 1, "parentB": {"x": [1]}, "other": "drop"})
    flow.transform("subA", "parentA", "subB", "parentB")
    assert flow.snapshot() == {"subA": 1, "subB": {"x": [1]}}
    assert flow.changes == {
        "parentA": None,
        "parentB": None,
        "other": None,
        "subA": 1,
        "subB": {"x": [1]},
    }


def test_transform_can_swap_two_fields() -> None:
    flow = Flow(state={"a": 1, "b": 2})
    flow.transform("a", "b", "b", "a")
    assert flow.snapshot() == {"a": 2, "b": 1}
    assert flow.changes == {"a": 2, "b": 1}


def test_transform_skips_absent_and_null_sources() -> None:
    flow = Flow(state={"a": 1, "n": None})
    flow.transform("x", "a", "y", "n", "z", "missing")
    assert flow.snapshot() == {"x": 1}
    assert not flow.has("y")
    assert flow.changes == {"a": None, "n": None, "x": 1}


def test_transform_with_an_odd_argument_count_raises_and_changes_nothing() -> None:
    flow = Flow(state={"a": 1})
    with pytest.raises(ValueError, match="pairs"):
        flow.transform("x", "a", "y")
    assert flow.snapshot() == {"a": 1}
    assert flow.changes == {}


def test_changes_include_earlier_attempts_changes() -> None:
    flow = Flow(state={"a": 1, "b": 2}, changes={"b": 2, "gone": None})
    flow.set_int("c", 3)
    assert flow.changes == {"b": 2, "gone": None, "c": 3}


def test_constructor_copies_the_callers_dicts() -> None:
    state: dict[str, Any] = {"d": {"xs": [1]}}
    changes: dict[str, Any] = {"d": {"xs": [1]}}
    flow = Flow(state=state, changes=changes)
    state["d"]["xs"].append(2)
    changes["new"] = 1
    flow.set_int("mine", 1)
    assert flow.snapshot() == {"d": {"xs": [1]}, "mine": 1}
    assert state == {"d": {"xs": [1, 2]}}
    assert flow.changes == {"d": {"xs": [1]}, "mine": 1}


def test_changes_property_is_a_copy() -> None:
    flow = Flow()
    flow.set("v", {"xs": [1]})
    flow.changes["v"]["xs"].append(2)
    assert flow.changes == {"v": {"xs": [1]}}


# --- identity -------------------------------------------------------------------------------


def test_identity_properties_reflect_the_constructor() -> None:
    created = datetime(2024, 5, 1, 12, tzinfo=UTC)
    updated = datetime(2024, 5, 1, 13, tzinfo=UTC)
    flow = Flow(
        flow_key="1-2-abc",
        step_key="1-9-def",
        attempt=3,
        created_at=created,
        updated_at=updated,
        baggage={"tenant": "t1"},
    )
    assert (flow.flow_key, flow.step_key, flow.attempt) == ("1-2-abc", "1-9-def", 3)
    assert (flow.created_at, flow.updated_at) == (created, updated)
    assert flow.baggage == {"tenant": "t1"}


def test_timestamps_are_utc_and_naive_ones_are_taken_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    flow = Flow(
        created_at=datetime(2024, 5, 1, 12),
        updated_at=datetime(2024, 5, 1, 14, tzinfo=plus_two),
    )
    assert flow.created_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert flow.created_at.tzinfo is UTC
    assert flow.updated_at.tzinfo is UTC
    assert flow.updated_at == datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_baggage_is_copied_on_read() -> None:
    flow = Flow(baggage={"roles": ["a"]})
    flow.baggage["roles"].append("b")
    assert flow.baggage == {"roles": ["a"]}


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        Flow(attempt=-1)


# --- retry ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (0, timedelta(seconds=1)),
        (1, timedelta(seconds=2)),
        (2, timedelta(seconds=4)),
        (3, timedelta(seconds=8)),
        (4, timedelta(seconds=10)),  # 16 s capped at max_delay
        (9, timedelta(seconds=10)),
    ],
)
def test_retry_delay_grows_exponentially_up_to_max_delay(attempt: int, expected: timedelta) -> None:
    flow = Flow(attempt=attempt)
    assert flow.retry(10, timedelta(seconds=1), 2.0, timedelta(seconds=10))
    assert flow.signals.retry_delay == expected


@pytest.mark.parametrize(
    ("attempt", "initial", "multiplier", "max_delay", "expected_ms"),
    [
        (3, 0.5, 0.0, 0, 500),  # multiplier 0: no growth
        (3, 0.5, -2.0, 0, 500),  # negative multiplier: no growth
        (2, 1.0, 0.5, 0, 250),  # a multiplier below 1 shrinks the delay
        (5, 1.0, 3.0, 0, 243_000),  # max_delay 0: no cap
        (0, 1.2345678, 1.0, 0, 1234),  # truncated to whole milliseconds
        (1, 0.0015, 1.0, 0, 1),
        (0, 0.0, 2.0, 10.0, 0),  # immediate retry
        (2000, 1.0, 2.0, 60.0, 60_000),  # an overflowing power is still capped
    ],
)
def test_retry_delay_arithmetic(
    attempt: int, initial: float, multiplier: float, max_delay: float, expected_ms: int
) -> None:
    flow = Flow(attempt=attempt)
    assert flow.retry(attempt + 1, initial, multiplier, max_delay)
    assert flow.signals.retry_delay == timedelta(milliseconds=expected_ms)


def test_retry_delay_that_overflows_without_a_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_delay"):
        Flow(attempt=2000).retry(3000, 1.0, 2.0, 0)


@pytest.mark.parametrize(("attempt", "max_attempts"), [(0, 0), (5, 5), (6, 5)])
def test_retry_returns_false_and_arms_nothing_once_attempts_are_spent(
    attempt: int, max_attempts: int
) -> None:
    flow = Flow(attempt=attempt)
    assert not flow.retry(max_attempts, 1.0, 2.0, 10.0)
    assert flow.signals.retry_delay is None
    assert flow.competing_signals() == []


def test_retry_allows_max_attempts_plus_one_executions() -> None:
    allowed = [Flow(attempt=n).retry(5, 0, 1.0, 0) for n in range(8)]
    assert allowed == [True] * 5 + [False] * 3


def test_retry_gives_up_when_the_next_run_would_land_past_the_horizon() -> None:
    created = T0
    # 50 min elapsed; attempt 2 waits 4 min -> 54 min, inside a 1 h horizon.
    flow = Flow(attempt=2, step_created_at=created, now=clock(created + timedelta(minutes=50)))
    assert flow.retry(100, 60.0, 2.0, 0, give_up_after=timedelta(hours=1))
    # 57 min elapsed + 4 min = 61 min: past the horizon.
    late = Flow(attempt=2, step_created_at=created, now=clock(created + timedelta(minutes=57)))
    assert not late.retry(100, 60.0, 2.0, 0, give_up_after=timedelta(hours=1))
    assert late.signals.retry_delay is None


def test_retry_gives_up_exactly_at_the_horizon() -> None:
    flow = Flow(step_created_at=T0, now=clock(T0 + timedelta(seconds=59)))
    assert not flow.retry(10, 1.0, 1.0, 0, give_up_after=60.0)
    flow = Flow(step_created_at=T0, now=clock(T0 + timedelta(seconds=58, milliseconds=999)))
    assert flow.retry(10, 1.0, 1.0, 0, give_up_after=60.0)


def test_retry_gives_up_when_a_single_delay_alone_overshoots_the_horizon() -> None:
    flow = Flow(step_created_at=T0, now=clock(T0))
    assert not flow.retry(10, timedelta(hours=1), 1.0, 0, give_up_after=timedelta(minutes=1))


def test_retry_without_a_positive_horizon_is_bounded_by_attempts_only() -> None:
    old = Flow(step_created_at=T0, now=clock(T0 + timedelta(days=3)))
    assert old.retry(1, 1.0, 1.0, 0, give_up_after=0)
    assert Flow(step_created_at=T0, now=clock(T0 + timedelta(days=3))).retry(1, 1.0, 1.0, 0)


def test_retry_horizon_defaults_to_the_carriers_creation_time() -> None:
    moments = iter([T0, T0 + timedelta(seconds=30)])
    flow = Flow(now=lambda: next(moments))
    assert not flow.retry(10, 1.0, 1.0, 0, give_up_after=30.0)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((1.5, 1.0, 2.0, 0), TypeError),
        ((True, 1.0, 2.0, 0), TypeError),
        ((3, -1.0, 2.0, 0), ValueError),
        ((3, 1.0, math.nan, 0), ValueError),
        ((3, "1s", 2.0, 0), TypeError),
    ],
)
def test_retry_rejects_bad_arguments(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        Flow().retry(*args)


# --- sleep, goto ----------------------------------------------------------------------------


def test_sleep_records_the_duration_and_ignores_negative_values() -> None:
    flow = Flow()
    flow.sleep(timedelta(seconds=5))
    flow.sleep(-1)
    assert flow.signals.sleep == timedelta(seconds=5)
    flow.sleep(0.5)
    assert flow.signals.sleep == timedelta(milliseconds=500)


def test_sleep_combines_with_another_signal() -> None:
    flow = Flow()
    flow.sleep(1)
    flow.goto("next")
    assert flow.competing_signals() == []
    assert flow.signals == FlowSignals(sleep=timedelta(seconds=1), goto="next")


def test_goto_records_the_target_and_rejects_an_empty_name() -> None:
    flow = Flow()
    flow.goto("review")
    assert flow.signals.goto == "review"
    with pytest.raises(ValueError, match="task name"):
        flow.goto("")


def test_a_fresh_carrier_has_no_signals() -> None:
    assert Flow().signals == FlowSignals()


# --- interrupt ------------------------------------------------------------------------------


def test_interrupt_arms_the_payload_and_raises_yield() -> None:
    flow = Flow()
    payload = {"question": "approve?"}
    with pytest.raises(Yield):
        flow.interrupt(payload)
    payload["question"] = "MUTATED"
    assert flow.signals.interrupt_payload == {"question": "approve?"}


def test_interrupt_without_payload_arms_an_empty_object() -> None:
    flow = Flow()
    with pytest.raises(Yield):
        flow.interrupt()
    assert flow.signals.interrupt_payload == {}


def test_yield_is_not_caught_by_except_exception() -> None:
    def task(flow: Flow) -> str:
        try:
            flow.interrupt({"q": 1})
        except Exception:
            return "swallowed"
        return "continued"

    with pytest.raises(Yield):
        task(Flow())


def test_interrupt_after_resume_returns_the_resume_data_without_arming() -> None:
    flow = Flow(resume_data={"approved": True})
    assert flow.interrupt({"question": "approve?"}) == {"approved": True}
    assert flow.signals.interrupt_payload is None
    assert not flow.has("approved")


def test_interrupt_payload_must_be_a_json_object() -> None:
    flow = Flow()
    with pytest.raises(TypeError, match="JSON object"):
        flow.interrupt(["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"score.*nan"):
        flow.interrupt({"score": math.nan})
    assert flow.signals.interrupt_payload is None


def test_interrupt_twice_in_one_dispatch_raises_and_keeps_the_first_payload() -> None:
    flow = Flow()
    with pytest.raises(Yield):
        flow.interrupt({"n": 1})
    with pytest.raises(RuntimeError, match="already armed an interrupt"):
        flow.interrupt({"n": 2})
    assert flow.signals.interrupt_payload == {"n": 1}


def test_interrupt_after_a_subgraph_was_armed_raises() -> None:
    flow = Flow()
    with pytest.raises(Yield):
        flow.subgraph("child")
    with pytest.raises(RuntimeError, match="subgraph"):
        flow.interrupt({"q": 1})
    assert flow.signals.interrupt_payload is None


def test_interrupt_after_a_subgraph_resolved_raises() -> None:
    flow = Flow(subgraph_outcome=({"out": 1}, ""))
    with pytest.raises(RuntimeError, match="subgraph"):
        flow.interrupt({"q": 1})


# --- subgraph -------------------------------------------------------------------------------


def test_subgraph_arms_the_child_and_raises_yield() -> None:
    flow = Flow(state={"parent": 1})
    child_input = {"x": [1]}
    with pytest.raises(Yield):
        flow.subgraph("child", child_input)
    child_input["x"].append(2)
    assert flow.signals.subgraph == ("child", {"x": [1]})


def test_subgraph_without_input_starts_the_child_empty() -> None:
    flow = Flow(state={"parent": 1})
    with pytest.raises(Yield):
        flow.subgraph("child")
    assert flow.signals.subgraph == ("child", {})


def test_subgraph_returns_the_childs_final_state_once_it_completed() -> None:
    flow = Flow(state={"parent": 1}, subgraph_outcome=({"result": 42}, ""))
    assert flow.subgraph("child", {"x": 1}) == {"result": 42}
    assert flow.signals.subgraph is None
    assert flow.snapshot() == {"parent": 1}


def test_subgraph_raises_subgraph_failed_error_when_the_child_failed() -> None:
    flow = Flow(subgraph_outcome=({"partial": 1}, "child step exploded"))
    with pytest.raises(SubgraphFailedError, match="child step exploded") as info:
        flow.subgraph("child")
    assert isinstance(info.value, Exception)
    assert info.value.final_state == {"partial": 1}


def test_subgraph_twice_in_one_dispatch_raises_and_keeps_the_first() -> None:
    flow = Flow()
    with pytest.raises(Yield):
        flow.subgraph("first")
    with pytest.raises(RuntimeError, match="already armed a subgraph"):
        flow.subgraph("second")
    assert flow.signals.subgraph == ("first", {})


@pytest.mark.parametrize("resumed", [True, False])
def test_subgraph_after_an_interrupt_raises(resumed: bool) -> None:
    flow = Flow(resume_data={"ok": True}) if resumed else Flow()
    if not resumed:
        with pytest.raises(Yield):
            flow.interrupt({"q": 1})
    with pytest.raises(RuntimeError, match="interrupt"):
        flow.subgraph("child")
    assert flow.signals.subgraph is None


def test_subgraph_rejects_bad_arguments_without_arming() -> None:
    flow = Flow()
    with pytest.raises(ValueError, match="workflow name"):
        flow.subgraph("")
    with pytest.raises(TypeError, match="JSON object"):
        flow.subgraph("child", [1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        flow.subgraph("child", {"s": "\x00"})
    assert flow.signals.subgraph is None


# --- competing signals ----------------------------------------------------------------------


def test_competing_signals_names_every_armed_signal_when_more_than_one_is() -> None:
    flow = Flow()
    assert flow.retry(3, 1.0, 2.0, 0)
    assert flow.competing_signals() == []
    flow.goto("elsewhere")
    assert flow.competing_signals() == ["retry", "goto"]
    with pytest.raises(Yield):
        flow.interrupt({"q": 1})
    assert flow.competing_signals() == ["interrupt", "retry", "goto"]


def test_retry_and_subgraph_compete() -> None:
    flow = Flow()
    flow.retry(3, 0, 1.0, 0)
    with pytest.raises(Yield):
        flow.subgraph("child")
    assert flow.competing_signals() == ["retry", "subgraph"]
