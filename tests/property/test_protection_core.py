"""Properties of ``Protection``, the replica's admission by key (docs/internals/protection.md).

Time is injected, so every rule is checked exactly: a concurrency limit is never exceeded, a
static rate never admits more than ``rate * window + burst`` in any window, the key table stays
within its bound however many keys a host mints, an open breaker admits exactly one probe per
due time on its shard, a success closes only its own shard and brings the others' probes
forward, and valve gossip merges to the same state in any order, repeated or not.
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dwarf._scheduling import BREAKER_INITIAL_PROBE_DELAY, Protection, backoff

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SHARDS = (1, 2, 3)
MS = st.integers(0, 400).map(lambda ms: timedelta(milliseconds=ms))


# --- static concurrency limit --------------------------------------------------------------------


class ConcurrencyMachine(RuleBasedStateMachine):
    """Select (admit, then commit) and finish steps of two tasks under a live concurrency limit."""

    def __init__(self) -> None:
        super().__init__()
        self.protection = Protection()
        self.limit: int | None = None
        self.running: dict[tuple[int, int], str] = {}
        self.ids = count(1)
        self.now = T0

    @rule(limit=st.one_of(st.none(), st.integers(1, 4)))
    def configure(self, limit: int | None) -> None:
        self.protection.set_concurrency_limit("a", limit)
        self.limit = limit

    @rule(task=st.sampled_from(["a", "b"]), shard=st.sampled_from(SHARDS), wait=MS)
    def select(self, task: str, shard: int, wait: timedelta) -> None:
        self.now += wait
        step = (shard, next(self.ids))
        if self.protection.admit(task, shard, step[1], self.now):
            self.protection.commit(task, shard, step[1], self.now)
            self.running[step] = task
            if task == "a" and self.limit is not None:
                assert self._running("a") <= self.limit
        else:
            # Only the limited task is ever refused: nothing else gates here.
            assert task == "a"
            assert self.limit is not None
            assert self._running("a") >= self.limit

    @precondition(lambda self: self.running)
    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        step = data.draw(st.sampled_from(sorted(self.running)))
        self.protection.release(*step)
        del self.running[step]

    def _running(self, task: str) -> int:
        return sum(1 for t in self.running.values() if t == task)

    @invariant()
    def the_running_count_is_what_was_selected_and_not_finished(self) -> None:
        controls = {c.key: c for c in self.protection.controls(self.now)}
        if "a" in controls:
            assert controls["a"].running == self._running("a")

    @invariant()
    def a_key_over_its_lowered_limit_admits_nothing(self) -> None:
        # A lowered limit does not stop running steps; it only refuses new ones until below.
        if self.limit is not None and self._running("a") > self.limit:
            assert not self.protection.admit("a", 1, 10**9, self.now)


ConcurrencyMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=50, deadline=None
)
TestConcurrencyLimit = ConcurrencyMachine.TestCase


@given(
    limit=st.integers(1, 5),
    attempts=st.lists(st.tuples(MS, st.booleans()), min_size=1, max_size=60),
)
def test_admitting_greedily_never_runs_more_than_the_concurrency_limit(
    limit: int, attempts: list[tuple[timedelta, bool]]
) -> None:
    protection = Protection()
    protection.set_concurrency_limit("t", limit)
    now, running = T0, list[int]()
    for step_id, (wait, finish_one) in enumerate(attempts):
        now += wait
        if finish_one and running:
            protection.release(1, running.pop(0))
        if protection.admit("t", 1, step_id, now):
            protection.commit("t", 1, step_id, now)
            running.append(step_id)
        assert len(running) <= limit


# --- static rate limit ---------------------------------------------------------------------------


@settings(max_examples=150)
@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 7.5, 20.0, 55.0, 200.0]),
    waits=st.lists(st.integers(0, 700), min_size=1, max_size=80),
)
def test_the_pacer_never_admits_more_than_rate_times_window_plus_burst(
    rate: float, waits: list[int]
) -> None:
    protection = Protection()
    protection.set_rate_limit("t", rate)
    burst = max(1, int(rate / 10))
    now, admitted, step = T0, list[float](), count()
    for ms in waits:
        now += timedelta(milliseconds=ms)
        # The refill planner admits as many as it may at one instant; so does this loop.
        while protection.admit("t", 1, step_id := next(step), now):
            protection.commit("t", 1, step_id, now)
            admitted.append((now - T0).total_seconds())
    # Every window [admitted[i], admitted[j]] holds at most rate * width + burst admissions:
    # j - i + 1 <= rate * (t_j - t_i) + burst, i.e. (j - rate*t_j) - (i - rate*t_i) <= burst - 1.
    lowest = float("inf")
    for j, at in enumerate(admitted):
        lowest = min(lowest, j - rate * at)
        assert (j - rate * at) - lowest <= burst - 1 + 1e-6, (rate, j, at)


@given(rate=st.sampled_from([0.5, 2.0, 20.0, 100.0]), seconds=st.integers(2, 20))
def test_the_pacer_admits_its_rate_when_asked_often(rate: float, seconds: int) -> None:
    # The ceiling must not starve either: polled every 10 ms it admits about ``rate`` per second.
    protection = Protection()
    protection.set_rate_limit("t", rate)
    now, admitted, step = T0, 0, count()
    for _ in range(seconds * 100):
        while protection.admit("t", 1, step_id := next(step), now):
            protection.commit("t", 1, step_id, now)
            admitted += 1
        now += timedelta(milliseconds=10)
    assert admitted >= int(rate * seconds * 0.95)


# --- the key table's bound -----------------------------------------------------------------------


OPERATIONS = st.sampled_from(["backpressure", "trip", "succeed", "sync", "peer_trip", "limit"])


@settings(max_examples=100)
@given(
    max_keys=st.integers(1, 6),
    ops=st.lists(
        st.tuples(OPERATIONS, st.integers(0, 40), st.sampled_from(["a", "b"]), MS),
        max_size=80,
    ),
)
def test_the_key_table_never_holds_more_than_max_keys(
    max_keys: int, ops: list[tuple[str, int, str, timedelta]]
) -> None:
    protection = Protection(max_keys=max_keys)
    now = T0
    configured: set[str] = set()
    for step_id, (op, n, task, wait) in enumerate(ops):
        now += wait
        key = f"host-{n}"
        if op == "backpressure":
            protection.backpressure(task, 1, step_id, now, key=key)
        elif op == "trip":
            protection.trip(task, 1, step_id, now, SHARDS, key=key)
        elif op == "succeed":
            protection.succeeded(task, 1 + n % 3, n, now)
        elif op == "sync":
            protection.sync_valve(key, 1 + n, now)
        elif op == "peer_trip":
            protection.trip_from_peer(key, now, SHARDS)
        else:
            protection.set_rate_limit(key, 1.0 + n)
            configured.add(key)
        # What traffic mints stays bounded; a limit the host sets is always kept (its own count).
        assert len(protection.controls(now)) <= max_keys + len(configured)
        assert {c.key for c in protection.controls(now) if c.static_rate_limit} == configured


# --- breakers per shard --------------------------------------------------------------------------


class BreakerMachine(RuleBasedStateMachine):
    """Trip a task on every shard, then poll admission and report outcomes as the engine does.

    The model is the schedule alone: per shard, whether it is open and when its probe is due. A
    poll at or after the due time admits exactly one step (the probe) and moves the schedule by
    the backoff; a poll before it admits nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self.protection = Protection()
        self.now = T0
        self.due: dict[int, datetime | None] = dict.fromkeys(SHARDS)
        self.probes: dict[int, int] = dict.fromkeys(SHARDS, 0)
        self.ids = count()

    @rule(wait=MS)
    def advance(self, wait: timedelta) -> None:
        self.now += wait

    @rule()
    def trip(self) -> None:
        _, fresh = self.protection.trip("t", 1, next(self.ids), self.now, SHARDS)
        assert fresh == any(due is None for due in self.due.values())
        for shard in SHARDS:
            if self.due[shard] is None:
                self.due[shard] = self.now + BREAKER_INITIAL_PROBE_DELAY
                self.probes[shard] = 0

    @rule(shard=st.sampled_from(SHARDS), tries=st.integers(1, 4))
    def poll(self, shard: int, tries: int) -> None:
        """A refill considering ``tries`` steps of ``t`` on ``shard`` at the same instant."""
        due = self.due[shard]
        admitted = []
        for _ in range(tries):
            step_id = next(self.ids)
            if self.protection.admit("t", shard, step_id, self.now):
                admitted.append(self.protection.commit("t", shard, step_id, self.now))
        if due is None:
            assert admitted == [False] * tries  # closed: every step, none a probe
        elif self.now < due:
            assert admitted == []
        else:
            assert admitted == [True], "exactly one probe per due time"
            self.probes[shard] += 1
            self.due[shard] = self.now + backoff(self.probes[shard])

    @rule(shard=st.sampled_from(SHARDS))
    def probe_succeeds(self, shard: int) -> None:
        closed = self.protection.succeeded("t", shard, next(self.ids), self.now)
        assert closed == ("t" if self.due[shard] is not None else None)
        if closed is None:
            return
        self.due[shard] = None
        for other in SHARDS:
            due = self.due[other]
            if due is not None and due > self.now:
                self.due[other] = self.now  # brought forward: the downstream is back

    @invariant()
    def the_schedule_is_the_model(self) -> None:
        control = {c.key: c for c in self.protection.controls(self.now)}.get("t")
        open_shards = tuple(s for s in SHARDS if self.due[s] is not None)
        assert self.protection.tripped("t") == bool(open_shards)
        if control is None:
            assert not open_shards
            return
        assert control.breaker_open_shards == open_shards
        dues = [d for d in self.due.values() if d is not None]
        assert control.next_probe_at == (min(dues) if dues else None)
        assert self.protection.tripped_tasks(1) == ({"t"} if self.due[1] else set())


BreakerMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)
TestBreakersPerShard = BreakerMachine.TestCase


@given(
    tripped_at=MS,
    success_shard=st.sampled_from(SHARDS),
    later=MS,
)
def test_a_success_closes_only_its_shard_and_expedites_the_others(
    tripped_at: timedelta, success_shard: int, later: timedelta
) -> None:
    protection = Protection()
    trip_time = T0 + tripped_at
    protection.trip("t", 1, 1, trip_time, SHARDS)
    protection.trip("u", 1, 2, trip_time, SHARDS)
    now = trip_time + later
    assert protection.succeeded("t", success_shard, 3, now) == "t"
    control = {c.key: c for c in protection.controls(now)}
    others = tuple(s for s in SHARDS if s != success_shard)
    assert control["t"].breaker_open_shards == others
    assert control["t"].next_probe_at == min(now, trip_time + BREAKER_INITIAL_PROBE_DELAY)
    # Another key's breakers are not touched.
    assert control["u"].breaker_open_shards == SHARDS
    assert control["u"].next_probe_at == trip_time + BREAKER_INITIAL_PROBE_DELAY
    # The expedited shards admit their probe now, one each.
    for shard in others:
        assert protection.admit("t", shard, 10 + shard, now)
        assert protection.commit("t", shard, 10 + shard, now)
        assert not protection.admit("t", shard, 20 + shard, now)


# --- valve gossip --------------------------------------------------------------------------------


SYNCS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(1, 5),
        st.integers(0, 4).map(lambda s: T0 + timedelta(seconds=s)),
    ),
    max_size=12,
)


def merged(syncs: list[tuple[str, int, datetime]]) -> dict[str, list[int | None]]:
    """Each key's admitted rate at a few instants after every cut: what the valve state shows."""
    protection = Protection()
    for key, w_cong, t_cong in syncs:
        protection.sync_valve(key, w_cong, t_cong)
    probes = [T0 + timedelta(seconds=s) for s in (0, 1, 3, 5, 8, 13, 30)]
    return {
        key: [{c.key: c for c in protection.controls(at)}[key].adaptive_rate_limit for at in probes]
        for key in sorted({key for key, _, _ in syncs})
    }


@given(syncs=SYNCS, data=st.data())
def test_valve_gossip_merges_in_any_order(
    syncs: list[tuple[str, int, datetime]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(syncs))
    assert merged(shuffled) == merged(syncs)


@given(syncs=SYNCS, data=st.data())
def test_valve_gossip_repeated_changes_nothing(
    syncs: list[tuple[str, int, datetime]], data: st.DataObject
) -> None:
    repeats = data.draw(st.lists(st.sampled_from(syncs), max_size=8)) if syncs else []
    assert merged(syncs + repeats) == merged(syncs)


@given(syncs=SYNCS)
def test_valve_gossip_keeps_the_latest_cut_and_the_lowest_among_equals(
    syncs: list[tuple[str, int, datetime]],
) -> None:
    # The register's order: later wins, and at equal times the lower rate wins.
    for key, limits in merged(syncs).items():
        cuts = [(t, w) for k, w, t in syncs if k == key]
        t_cong = max(t for t, _ in cuts)
        w_cong = min(w for t, w in cuts if t == t_cong)
        assert limits == merged([(key, w_cong, t_cong)])[key]


def test_breakers_stay_bounded_however_many_keys_trip_and_recover() -> None:
    # A host minting a key per request: each trips, then recovers. The table holds at most
    # ``max_keys`` keys; what the breakers keep must not grow with the keys either.
    def retained(keys: int) -> int:
        protection = Protection(max_keys=4, max_step_keys=4)
        tracemalloc.start()
        try:
            for n in range(keys):
                protection.trip("t", 1, n, T0, [1], key=f"account-{n}")
                assert protection.succeeded("t", 1, n, T0) == f"account-{n}"
            size, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return size

    assert retained(5000) <= retained(50) + 16_384
