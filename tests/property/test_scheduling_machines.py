"""Hypothesis state machines and properties for the scheduling core.

Each machine drives the real object next to a small independent model and checks the rules a
user of the engine would notice: rates never collapse below 1, gossip converges whatever the
delivery order, probes respect the backoff, and a plan is a fair merge that never reorders a key
or emits a refused step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
)

from dwarf._scheduling import (
    BreakerBank,
    Candidate,
    ValveBank,
    backoff,
    plan_batch,
    recover_rate,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TASKS = st.sampled_from(["a", "b", "c"])
MACHINE_SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None)


# --- valve -----------------------------------------------------------------------------------


def model_estimate(commits: list[datetime], now: datetime) -> int:
    """The two-bucket sliding estimate recomputed from the full list of commit times."""
    period_us = 1_000_000
    now_us = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    period, offset = divmod(now_us, period_us)
    current = previous = 0
    for t in commits:
        t_period = (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(seconds=1)
        if t_period == period:
            current += 1
        elif t_period == period - 1:
            previous += 1
    return current + previous * (period_us - offset) // period_us


def apply_syncs(syncs: list[tuple[str, int, datetime]]) -> dict[str, tuple[int, datetime | None]]:
    bank = ValveBank()
    for task, w, t in syncs:
        bank.sync(task, w, t)
    result: dict[str, tuple[int, datetime | None]] = {}
    for task in ("a", "b", "c"):
        valve = bank.get(task)
        if valve is not None:
            result[task] = (valve.w_cong, valve.t_cong)
    return result


class ValveMachine(RuleBasedStateMachine):
    """Emit, cut, gossip and let time pass on one bank; compare with a model of the window."""

    def __init__(self) -> None:
        super().__init__()
        self.bank = ValveBank()
        self.now = T0
        self.commits: dict[str, list[datetime]] = {}
        self.syncs: list[tuple[str, int, datetime]] = []
        self.limits_before: dict[str, int] = {}

    @rule(ms=st.integers(0, 2500))
    def advance(self, ms: int) -> None:
        before = self.bank.limits(self.now)
        self.now += timedelta(milliseconds=ms)
        after = self.bank.limits(self.now)
        for task, limit in before.items():
            assert after[task] >= limit, "a ceiling fell while only time passed"

    @rule(task=TASKS)
    def emit(self, task: str) -> None:
        self.bank.commit(task, self.now)
        self.commits.setdefault(task, []).append(self.now)

    @rule(task=TASKS)
    def peek(self, task: str) -> None:
        valve = self.bank.get(task)
        expected = True
        if valve is not None and valve.w_cong > 0:
            assert valve.t_cong is not None
            limit = recover_rate(valve.w_cong, valve.t_cong, self.now)
            expected = model_estimate(self.commits.get(task, []), self.now) + 1 <= limit
        assert self.bank.peek(task, self.now) == expected

    @rule(task=TASKS)
    def regulate(self, task: str) -> None:
        valve = self.bank.get(task)
        previous = 0 if valve is None else valve.w_cong
        w, t = self.bank.regulate(task, self.now)
        assert w >= 1
        assert t == self.now
        assert w <= max(previous, model_estimate(self.commits.get(task, []), self.now), 1)
        assert self.bank.limits(self.now)[task] == w

    @rule(task=TASKS, w=st.integers(-1, 60), back_ms=st.integers(0, 3000))
    def sync(self, task: str, w: int, back_ms: int) -> None:
        t = self.now - timedelta(milliseconds=back_ms)
        self.bank.sync(task, w, t)
        self.syncs.append((task, w, t))

    @rule(data=st.data())
    def gossip_converges_in_any_order(self, data: st.DataObject) -> None:
        shuffled = data.draw(st.permutations(self.syncs))
        expected = apply_syncs(self.syncs)
        assert apply_syncs(shuffled) == expected
        assert apply_syncs(self.syncs + shuffled) == expected

    @invariant()
    def limits_are_at_least_one(self) -> None:
        assert all(limit >= 1 for limit in self.bank.limits(self.now).values())

    @invariant()
    def window_matches_the_model(self) -> None:
        for task, commits in self.commits.items():
            valve = self.bank.get(task)
            assert valve is not None
            assert valve.estimate(self.now) == model_estimate(commits, self.now)


TestValveMachine = ValveMachine.TestCase
TestValveMachine.settings = MACHINE_SETTINGS


@given(
    w=st.integers(1, 100_000),
    t1=st.floats(-10, 10_000, allow_nan=False),
    t2=st.floats(-10, 10_000, allow_nan=False),
)
def test_recover_rate_is_monotone_in_time_and_never_below_the_cut(
    w: int, t1: float, t2: float
) -> None:
    early, late = sorted((t1, t2))
    r_early = recover_rate(w, T0, T0 + timedelta(seconds=early))
    r_late = recover_rate(w, T0, T0 + timedelta(seconds=late))
    assert w <= r_early <= r_late


# --- breaker ---------------------------------------------------------------------------------


class BreakerMachine(RuleBasedStateMachine):
    """Trip, dispatch, close and let time pass; check the probe spacing against ``backoff``."""

    def __init__(self) -> None:
        super().__init__()
        self.bank = BreakerBank()
        self.now = T0
        # task -> (time of the trip or last probe, probes since the trip); absent when closed.
        self.open: dict[str, tuple[datetime, int]] = {}

    @rule(ms=st.integers(0, 3000))
    def advance(self, ms: int) -> None:
        self.now += timedelta(milliseconds=ms)

    @rule(task=TASKS)
    def trip(self, task: str) -> None:
        before = self.bank.probe_at(task)
        fresh = self.bank.trip(task, self.now)
        assert fresh == (task not in self.open)
        if fresh:
            self.open[task] = (self.now, 0)
            assert self.bank.probe_at(task) == self.now + timedelta(milliseconds=100)
        else:
            assert self.bank.probe_at(task) == before

    @rule(task=TASKS)
    def dispatch(self, task: str) -> None:
        probed = self.bank.commit(task, self.now)
        if task not in self.open:
            assert not probed, "a closed breaker took a probe"
            return
        since, probes = self.open[task]
        allowed = backoff(probes) if probes else timedelta(milliseconds=100)
        assert probed == (self.now - since >= allowed), "probe spacing broke the backoff"
        if probed:
            self.open[task] = (self.now, probes + 1)

    @rule(task=TASKS)
    def close(self, task: str) -> None:
        assert self.bank.close(task) == (task in self.open)
        self.open.pop(task, None)
        state = self.bank.get(task)
        if state is not None:
            assert (state.tripped_at, state.probe_attempt, state.next_probe_at) == (None, 0, None)

    @invariant()
    def tripped_matches_the_model(self) -> None:
        for task in ("a", "b", "c"):
            assert self.bank.tripped(task) == (task in self.open)

    @invariant()
    def next_probe_is_the_soonest_of_the_open_breakers(self) -> None:
        due = [self.bank.probe_at(task) for task in self.open]
        assert self.bank.next_probe_at() == min((d for d in due if d is not None), default=None)


TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.settings = MACHINE_SETTINGS


# --- planner ---------------------------------------------------------------------------------


@st.composite
def band_rows(draw: st.DrawFn) -> list[Candidate]:
    n = draw(st.integers(0, 40))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=n, max_size=n, unique=True))
    return [
        Candidate(
            step_id=step_id,
            shard=draw(st.integers(1, 3)),
            task_name=draw(TASKS),
            fairness_key=draw(st.sampled_from(["", "k1", "k2", "k3"])),
            fairness_weight=draw(st.sampled_from([-1.0, 0.0, 0.5, 1.0, 4.0])),
            priority=5,
            age_ms=float(draw(st.integers(0, 5))),  # few values: plenty of ties
        )
        for step_id in ids
    ]


def fifo(rows: list[Candidate]) -> list[Candidate]:
    return sorted(rows, key=lambda r: (-r.age_ms, r.shard, r.step_id))


@settings(max_examples=200)
@given(
    rows=band_rows(),
    capacity=st.integers(1, 30),
    refused=st.sets(TASKS, max_size=2),
    seed=st.integers(0, 2**32),
)
def test_plan_with_a_fixed_refusal_is_a_fifo_preserving_fill(
    rows: list[Candidate], capacity: int, refused: set[str], seed: int
) -> None:
    committed: list[str] = []
    plan = plan_batch(
        rows,
        capacity,
        admit=lambda r: r.task_name not in refused,
        commit=lambda r: committed.append(r.task_name),
        rng=Random(seed),
    )
    admissible = [r for r in rows if r.task_name not in refused]
    assert len(plan.batch) == min(capacity, len(admissible))
    assert all(r.task_name not in refused for r in plan.batch)
    assert committed == [r.task_name for r in plan.batch]
    keys = {r.fairness_key for r in admissible}
    assert plan.distinct_keys == len(keys)
    for key in keys:
        emitted = [r for r in plan.batch if r.fairness_key == key]
        queue = fifo([r for r in admissible if r.fairness_key == key])
        assert emitted == queue[: len(emitted)], "a key's steps left out of FIFO order"
    refused_rows = [r.task_name for r in rows if r.task_name in refused]
    assert dict(plan.skipped) == {t: refused_rows.count(t) for t in set(refused_rows)}


@settings(max_examples=200)
@given(
    rows=band_rows(),
    capacity=st.integers(1, 30),
    budgets=st.fixed_dictionaries({t: st.integers(0, 6) for t in ("a", "b", "c")}),
    seed=st.integers(0, 2**32),
)
def test_plan_under_a_closing_valve_emits_only_admitted_steps_in_key_order(
    rows: list[Candidate], capacity: int, budgets: dict[str, int], seed: int
) -> None:
    used = dict.fromkeys(budgets, 0)

    def commit(row: Candidate) -> None:
        used[row.task_name] += 1

    plan = plan_batch(
        rows,
        capacity,
        admit=lambda r: used[r.task_name] < budgets[r.task_name],
        commit=commit,
        rng=Random(seed),
    )
    assert len(plan.batch) <= capacity
    assert all(used[t] <= budgets[t] for t in used), "a step was emitted past the valve"
    for key in {r.fairness_key for r in rows}:
        emitted = [r for r in plan.batch if r.fairness_key == key]
        order = fifo([r for r in rows if r.fairness_key == key])
        positions = [order.index(r) for r in emitted]
        assert positions == sorted(positions), "a key's steps left out of FIFO order"
    if len(plan.batch) < capacity:
        left = [r for r in rows if r not in plan.batch]
        assert all(used[r.task_name] >= budgets[r.task_name] for r in left), "stopped early"
    assert sum(plan.skipped.values()) + len(plan.batch) == len(rows) or len(plan.batch) == capacity
