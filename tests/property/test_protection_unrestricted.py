"""``Protection.unrestricted``: when it says so, ``admit`` admits every step (dispatch D12).

The refiller of a one-shard engine claims a whole due band without asking ``admit`` step by
step when ``unrestricted`` holds (docs/internals/dispatch.md#d12), so that answer must never
be True while some step would be refused. A state machine drives every kind of restriction
(static limits, backpressure with and without ``retry_after``, valve cuts from peers, breaker
trips and their probes, successes) through time, and checks the implication for every task
and shard after each step; ``selected`` must follow ``commit`` and ``release``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dwarf._scheduling import Protection

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TASKS = ("a", "b", "c")
SHARDS = (1, 2)
TASK = st.sampled_from(TASKS)
SHARD = st.sampled_from(SHARDS)


class UnrestrictedMachine(RuleBasedStateMachine):
    """Every protection input, in any order, with time moving forward."""

    def __init__(self) -> None:
        super().__init__()
        self.protection = Protection()
        self.now = T0
        self.ids = count(1)
        self.selected: set[tuple[int, int]] = set()

    @rule(ms=st.integers(0, 5_000))
    def wait(self, ms: int) -> None:
        self.now += timedelta(milliseconds=ms)

    @rule(task=TASK, limit=st.one_of(st.none(), st.integers(1, 3)))
    def limit_concurrency(self, task: str, limit: int | None) -> None:
        self.protection.set_concurrency_limit(task, limit)

    @rule(task=TASK, rate=st.one_of(st.none(), st.floats(0.5, 50)))
    def limit_rate(self, task: str, rate: float | None) -> None:
        self.protection.set_rate_limit(task, rate)

    @rule(task=TASK, shard=SHARD, retry_after=st.one_of(st.none(), st.floats(0.01, 3)))
    def push_back(self, task: str, shard: int, retry_after: float | None) -> None:
        self.protection.backpressure(task, shard, next(self.ids), self.now, retry_after=retry_after)

    @rule(task=TASK, w_cong=st.integers(1, 100), ago_ms=st.integers(0, 60_000))
    def peer_cut(self, task: str, w_cong: int, ago_ms: int) -> None:
        self.protection.sync_valve(task, w_cong, self.now - timedelta(milliseconds=ago_ms))

    @rule(task=TASK, shard=SHARD)
    def trip(self, task: str, shard: int) -> None:
        self.protection.trip(task, shard, next(self.ids), self.now, SHARDS)

    @rule(task=TASK, shard=SHARD)
    def succeed(self, task: str, shard: int) -> None:
        self.protection.succeeded(task, shard, next(self.ids), self.now)

    @rule(task=TASK, shard=SHARD)
    def select(self, task: str, shard: int) -> None:
        step_id = next(self.ids)
        if self.protection.admit(task, shard, step_id, self.now):
            self.protection.commit(task, shard, step_id, self.now)
            self.selected.add((shard, step_id))

    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        if self.selected:
            shard, step_id = data.draw(st.sampled_from(sorted(self.selected)))
            self.protection.release(shard, step_id)
            self.selected.discard((shard, step_id))

    @invariant()
    def unrestricted_means_every_step_is_admitted(self) -> None:
        if self.protection.unrestricted(self.now):
            for task in TASKS:
                for shard in SHARDS:
                    assert self.protection.admit(task, shard, 10**9, self.now), (task, shard)

    @invariant()
    def selected_is_committed_and_not_released(self) -> None:
        for shard, step_id in self.selected:
            assert self.protection.selected(shard, step_id)
        assert not self.protection.selected(SHARDS[0], 10**9)


TestUnrestricted = UnrestrictedMachine.TestCase


def test_a_fresh_protection_is_unrestricted_and_a_cut_restricts_it() -> None:
    p = Protection()
    assert p.unrestricted(T0)
    p.backpressure("a", 1, 1, T0)
    assert not p.unrestricted(T0)
    q = Protection()
    q.trip("b", 1, 2, T0, SHARDS)
    assert not q.unrestricted(T0)
