"""The circuit breaker: trip once, probe on a doubling schedule, close on success."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dwarf._scheduling import CAUSE_ACK_TIMEOUT, CAUSE_UNAVAILABLE, BreakerBank, backoff

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ms(n: float) -> timedelta:
    return timedelta(milliseconds=n)


@pytest.mark.parametrize(
    ("n", "expected_ms"),
    [(1, 100), (2, 200), (3, 400), (4, 800), (10, 51_200), (11, 60_000), (12, 60_000)],
)
def test_backoff_doubles_from_100ms_and_caps_at_a_minute(n: int, expected_ms: int) -> None:
    assert backoff(n) == ms(expected_ms)


def test_backoff_reads_n_below_one_as_one_and_survives_huge_n() -> None:
    assert backoff(0) == ms(100)
    assert backoff(-5) == ms(100)
    assert backoff(10**9) == timedelta(minutes=1)


def test_fresh_trip_schedules_the_first_probe_100ms_out() -> None:
    bank = BreakerBank()
    assert bank.trip("t", T0, CAUSE_UNAVAILABLE)
    assert bank.tripped("t")
    assert bank.probe_at("t") == T0 + ms(100)
    state = bank.get("t")
    assert state is not None
    assert (state.tripped_at, state.probe_attempt, state.cause) == (T0, 0, CAUSE_UNAVAILABLE)


def test_repeat_trip_changes_nothing() -> None:
    bank = BreakerBank()
    bank.trip("t", T0, CAUSE_UNAVAILABLE)
    assert not bank.trip("t", T0 + ms(50), CAUSE_ACK_TIMEOUT)
    state = bank.get("t")
    assert state is not None
    assert (state.tripped_at, state.cause) == (T0, CAUSE_UNAVAILABLE)
    assert bank.probe_at("t") == T0 + ms(100)


def test_straggler_dispatched_before_the_probe_is_due_does_not_advance_the_schedule() -> None:
    bank = BreakerBank()
    bank.trip("t", T0)
    assert not bank.commit("t", T0 + ms(99))
    state = bank.get("t")
    assert state is not None
    assert state.probe_attempt == 0
    assert bank.probe_at("t") == T0 + ms(100)


def test_due_probes_are_spaced_100_100_200_400_ms() -> None:
    bank = BreakerBank()
    bank.trip("t", T0)
    now = T0
    gaps = []
    for _ in range(4):
        due = bank.probe_at("t")
        assert due is not None
        gaps.append(due - now)
        assert bank.commit("t", due)
        now = due
    assert gaps == [ms(100), ms(100), ms(200), ms(400)]
    state = bank.get("t")
    assert state is not None
    assert state.probe_attempt == 4


def test_late_probe_schedules_the_next_from_when_it_ran() -> None:
    bank = BreakerBank()
    bank.trip("t", T0)
    assert bank.commit("t", T0 + ms(5000))
    assert bank.probe_at("t") == T0 + ms(5100)


def test_commit_of_a_closed_or_unknown_task_is_not_a_probe() -> None:
    bank = BreakerBank()
    assert not bank.commit("unknown", T0)
    bank.trip("t", T0)
    bank.close("t")
    assert not bank.commit("t", T0 + ms(1000))


def test_close_resets_and_reports_whether_it_was_tripped() -> None:
    bank = BreakerBank()
    bank.trip("t", T0)
    bank.commit("t", T0 + ms(100))
    assert bank.close("t")
    assert not bank.tripped("t")
    assert bank.probe_at("t") is None
    assert bank.next_probe_at() is None
    assert not bank.close("t")
    assert not bank.close("never-tripped")


def test_trip_after_close_is_fresh_with_a_new_schedule() -> None:
    bank = BreakerBank()
    bank.trip("t", T0)
    for step in (100, 200, 300):
        bank.commit("t", T0 + ms(step))
    bank.close("t")
    later = T0 + ms(10_000)
    assert bank.trip("t", later)
    assert bank.probe_at("t") == later + ms(100)
    state = bank.get("t")
    assert state is not None
    assert state.probe_attempt == 0


def test_next_probe_at_is_the_soonest_over_tripped_tasks() -> None:
    bank = BreakerBank()
    assert bank.next_probe_at() is None
    bank.trip("a", T0)
    bank.trip("b", T0 + ms(30))
    assert bank.next_probe_at() == T0 + ms(100)
    bank.commit("a", T0 + ms(100))  # a's next probe moves to 200 ms
    assert bank.next_probe_at() == T0 + ms(130)
    bank.close("b")
    assert bank.next_probe_at() == T0 + ms(200)


def test_states_and_tripped_tasks_report_open_breakers() -> None:
    bank = BreakerBank()
    bank.trip("b", T0)
    bank.trip("a", T0)
    bank.close("b")
    assert bank.states() == {"a": True, "b": False}
    assert bank.tripped_tasks() == ["a"]


def test_get_returns_a_copy_that_cannot_alter_the_bank() -> None:
    bank = BreakerBank()
    bank.trip("t", T0)
    state = bank.get("t")
    assert state is not None
    state.tripped_at = None
    assert bank.tripped("t")


def test_reconstitute_trips_fresh_with_ack_timeout_and_skips_tripped_and_empty() -> None:
    bank = BreakerBank()
    bank.trip("already", T0, CAUSE_UNAVAILABLE)
    later = T0 + ms(500)
    assert bank.reconstitute(["x", "already", "", "y", "x"], later) == ["x", "y"]
    state = bank.get("x")
    assert state is not None
    assert (state.cause, state.tripped_at) == (CAUSE_ACK_TIMEOUT, later)
    assert bank.probe_at("y") == later + ms(100)
    assert bank.probe_at("already") == T0 + ms(100)


def test_forget_drops_a_closed_breaker_and_keeps_an_open_one() -> None:
    bank = BreakerBank()
    bank.trip("open", T0)
    bank.trip("closed", T0)
    bank.close("closed")
    bank.forget("closed")
    bank.forget("open")
    bank.forget("never")
    assert bank.states() == {"open": True}
    assert bank.get("closed") is None
    assert bank.probe_at("open") == T0 + ms(100)
