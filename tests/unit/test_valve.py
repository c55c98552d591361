"""The rate valve: CUBIC recovery, the sliding window, the backpressure cut and the gossip merge."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from dwarf._scheduling import CUBIC_BETA, CUBIC_C, MAX_RATE, ValveBank, recover_rate

# Whole second since the epoch, so offsets below land on known window positions.
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_recover_rate_starts_at_the_cut_value() -> None:
    assert recover_rate(10, T0, T0) == 10


def test_recover_rate_reaches_w_max_at_k_for_w_cong_10() -> None:
    w_max = 10 / (1 - CUBIC_BETA)
    k = math.cbrt(w_max * CUBIC_BETA / CUBIC_C)
    assert k == pytest.approx(1.26, abs=0.01)
    assert recover_rate(10, T0, at(k)) == int(w_max) == 10
    # Convex after K: growth resumes.
    assert recover_rate(10, T0, at(3)) == 10
    assert recover_rate(10, T0, at(4)) == 11


def test_recover_rate_grows_to_12_after_5s_and_43_after_10s() -> None:
    assert recover_rate(10, T0, at(5)) == 12
    assert recover_rate(10, T0, at(10)) == 43


def test_recover_rate_before_the_cut_time_reads_as_zero_elapsed() -> None:
    assert recover_rate(10, at(5), T0) == 10


def test_recover_rate_is_exact_at_the_cut_where_float_rounding_would_lose_one() -> None:
    # The literal formula evaluates to 1014.9999999999999 here.
    assert recover_rate(1015, T0, T0) == 1015


def test_recover_rate_is_at_least_one_and_capped_at_max_rate() -> None:
    assert recover_rate(1, T0, T0) == 1
    far = datetime(1, 1, 1, tzinfo=UTC)
    assert recover_rate(1, far, datetime(9999, 1, 1, tzinfo=UTC)) == MAX_RATE


def test_uncut_valve_never_gates() -> None:
    bank = ValveBank()
    for _ in range(1000):
        bank.commit("t", T0)
    assert bank.peek("t", T0)
    assert bank.peek("never-seen", T0)
    assert bank.limits(T0) == {}


def test_first_cut_without_traffic_leaves_one_per_second() -> None:
    bank = ValveBank()
    assert bank.regulate("t", T0) == (1, T0)
    assert bank.peek("t", T0)
    bank.commit("t", T0)
    assert not bank.peek("t", at(0.5))
    assert bank.limits(T0) == {"t": 1}


def test_cut_reanchors_to_the_observed_rate_on_a_new_burst() -> None:
    bank = ValveBank()
    for _ in range(20):
        bank.commit("t", at(0.2))
    assert bank.regulate("t", at(0.5)) == (19, at(0.5))
    # Within 1 s of the last cut: no re-anchoring, just one less.
    assert bank.regulate("t", at(1.4)) == (18, at(1.4))
    # More than 1 s after the last cut: a new burst, re-anchored to what was emitted.
    for _ in range(30):
        bank.commit("t", at(2.2))
    assert bank.regulate("t", at(2.5)) == (29, at(2.5))


def test_cut_within_a_second_of_the_last_does_not_reanchor() -> None:
    bank = ValveBank()
    bank.regulate("t", at(0.5))
    for _ in range(30):
        bank.commit("t", at(0.6))
    assert bank.regulate("t", at(1.5)) == (1, at(1.5))


def test_reanchoring_never_lowers_the_cut_below_the_current_value_minus_one() -> None:
    bank = ValveBank()
    bank.sync("t", 50, T0)
    bank.commit("t", at(3))
    assert bank.regulate("t", at(3)) == (49, at(3))


def test_peek_admits_until_the_window_reaches_the_limit() -> None:
    bank = ValveBank()
    bank.sync("t", 3, T0)
    admitted = 0
    while bank.peek("t", at(0.1)):
        bank.commit("t", at(0.1))
        admitted += 1
    assert admitted == 3


def test_window_prorates_the_previous_second() -> None:
    bank = ValveBank()
    for _ in range(10):
        bank.commit("t", at(0.5))
    valve = bank.get("t")
    assert valve is not None
    assert valve.estimate(at(0.9)) == 10
    assert valve.estimate(at(1.25)) == 7  # 10 * 0.75
    assert valve.estimate(at(1.9)) == 1  # 10 * 0.1, exactly
    assert valve.estimate(at(2.0)) == 0


def test_window_forgets_after_two_idle_periods() -> None:
    bank = ValveBank()
    for _ in range(10):
        bank.commit("t", at(0.5))
    valve = bank.get("t")
    assert valve is not None
    assert valve.estimate(at(2.1)) == 0
    assert valve.estimate(at(1.5)) == 0  # an earlier time does not resurrect old counts


def test_window_keeps_counts_when_the_clock_steps_back() -> None:
    bank = ValveBank()
    for _ in range(4):
        bank.commit("t", at(3.5))
    bank.commit("t", at(3.2))
    valve = bank.get("t")
    assert valve is not None
    assert valve.estimate(at(3.6)) == 5


def test_rate_limit_recovers_along_the_curve_after_a_cut() -> None:
    bank = ValveBank()
    bank.sync("t", 10, T0)
    assert bank.limits(T0) == {"t": 10}
    assert bank.limits(at(5)) == {"t": 12}
    assert bank.limits(at(10)) == {"t": 43}


def test_sync_adopts_an_unknown_task() -> None:
    bank = ValveBank()
    assert bank.sync("t", 7, T0)
    valve = bank.get("t")
    assert valve is not None
    assert (valve.w_cong, valve.t_cong) == (7, T0)


def test_sync_adopts_a_later_cut_and_ignores_an_earlier_one() -> None:
    bank = ValveBank()
    bank.sync("t", 7, at(1))
    assert bank.sync("t", 9, at(2))
    assert not bank.sync("t", 1, at(1))
    valve = bank.get("t")
    assert valve is not None
    assert (valve.w_cong, valve.t_cong) == (9, at(2))


def test_sync_on_a_tie_keeps_the_lower_rate() -> None:
    bank = ValveBank()
    bank.sync("t", 7, T0)
    assert not bank.sync("t", 8, T0)
    assert bank.sync("t", 5, T0)
    assert not bank.sync("t", 5, T0)
    valve = bank.get("t")
    assert valve is not None
    assert valve.w_cong == 5


def test_sync_over_a_never_cut_valve_adopts_the_cut() -> None:
    bank = ValveBank()
    bank.commit("t", T0)
    assert bank.sync("t", 4, T0)
    assert bank.limits(T0) == {"t": 4}


def test_sync_ignores_an_empty_task_and_a_rate_below_one() -> None:
    bank = ValveBank()
    assert not bank.sync("", 5, T0)
    assert not bank.sync("t", 0, T0)
    assert bank.peek("t", T0)
    assert bank.limits(T0) == {}


def test_sync_rejects_a_naive_timestamp_by_name() -> None:
    bank = ValveBank()
    with pytest.raises(ValueError, match="t_cong"):
        bank.sync("t", 5, datetime(2026, 1, 1))


def test_a_local_cut_loses_to_a_later_peer_cut() -> None:
    bank = ValveBank()
    bank.regulate("t", at(1))
    assert bank.sync("t", 30, at(1.5))
    assert bank.limits(at(1.5)) == {"t": 30}
