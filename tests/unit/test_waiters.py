"""Waiters: wake-ups with handed-over outcomes, and which waits may skip their first read."""

from __future__ import annotations

import pytest

from dwarf.engine._runtime import _waiters
from dwarf.engine._runtime._waiters import FRESH_FOR, Waiters
from dwarf.workflow import FlowOutcome, Status


class Clock:
    """A settable stand-in for ``time.monotonic``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the waiters' clock."""
    fake = Clock()
    monkeypatch.setattr(_waiters, "monotonic", fake)
    return fake


def test_a_fresh_start_lets_one_wait_skip_its_first_read(clock: Clock) -> None:
    waiters = Waiters()
    waiters.note_started("1-1-a")
    assert waiters.take_fresh("1-1-a")
    assert not waiters.take_fresh("1-1-a"), "only the first wait skips"
    assert not waiters.take_fresh("1-2-b"), "never started here"


def test_any_news_of_the_flow_ends_its_freshness(clock: Clock) -> None:
    waiters = Waiters()
    waiters.note_started("1-1-a")
    outcome = FlowOutcome(flow_key="1-1-a", status=Status.COMPLETED, state={})
    waiters.notify("1-1-a", outcome)
    assert not waiters.take_fresh("1-1-a"), "it may have stopped: read it"


def test_a_start_goes_stale(clock: Clock) -> None:
    waiters = Waiters()
    waiters.note_started("1-1-a")
    clock.now += FRESH_FOR
    assert not waiters.take_fresh("1-1-a")


def test_stale_starts_are_dropped_as_new_ones_arrive(clock: Clock) -> None:
    waiters = Waiters()
    for i in range(100):
        waiters.note_started(f"1-{i}-a")
    clock.now += FRESH_FOR
    waiters.note_started("1-999-a")
    assert len(waiters._fresh) == 1
    assert waiters.take_fresh("1-999-a")


def test_notify_hands_the_outcome_to_every_waiter() -> None:
    waiters = Waiters()
    first, second = waiters.register("1-1-a"), waiters.register("1-1-a")
    outcome = FlowOutcome(flow_key="1-1-a", status=Status.FAILED, state={}, error="x")
    waiters.notify("1-1-a", outcome)
    assert first.event.is_set()
    assert second.outcome is outcome
    waiters.unregister("1-1-a", first)
    waiters.unregister("1-1-a", second)
    assert not waiters._waiters
