"""Protection of downstreams: admission by key through static limits, the valve and the breaker.

This is the replica's whole protection state, with time injected and no I/O, so its rules are
property-tested exactly (docs/internals/protection.md). The engine asks ``admit``/``commit`` for
every step the refill planner considers, reports outcomes (``backpressure``, ``trip``,
``succeeded``) and does the SQL (bouncing, parking, unparking) and the gossip the answers call for.

Admission of a step, in order (the first refusal wins):

1. the breaker of its key on its shard is open and no probe is due;
2. a ``retry_after`` hold on its key has not passed;
3. the key's static concurrency limit is reached (steps selected and not yet finished here);
4. the key's static rate limit (a pacer) has no slot;
5. the key's adaptive valve (CUBIC ceiling over a 1 s sliding window) is full.

``commit`` counts a selected step against every gate it passed and, for a due probe, advances
the breaker's probe schedule so that one probe per shard goes out per backoff period.

Breakers are kept per key *and shard*: a trip opens the key on every shard (the downstream is down
for all of them), a success closes it on the shard that saw it, and brings the other shards'
probes forward to now (the downstream is evidently back), so recovery is prompt everywhere while
each shard still sends one probe before releasing its backlog. A closed breaker is forgotten, so
breakers, like keys, stay bounded however many keys a host mints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from dwarf._scheduling._breaker import CAUSE_ACK_TIMEOUT, BreakerBank
from dwarf._scheduling._keys import MAX_KEYS, MAX_STEP_KEYS, KeyState, KeyTable
from dwarf._scheduling._pacer import Pacer

__all__ = ["Protection", "TaskControl"]

_SOON = timedelta(milliseconds=10)


@dataclass(frozen=True, slots=True)
class TaskControl:
    """One protection key's state on this replica, as ``Engine.task_controls()`` reports it.

    ``rate_limit`` is the rate admitted now in steps per second (the lower of the static limit
    and the adaptive ceiling; ``None`` when neither applies); ``breaker_open_shards`` lists the
    shards whose breaker is open, and ``next_probe_at`` the soonest probe among them.
    """

    key: str
    tasks: tuple[str, ...]
    rate_limit: float | None
    static_rate_limit: float | None
    adaptive_rate_limit: int | None
    concurrency_limit: int | None
    running: int
    cuts: int
    hold_until: datetime | None
    breaker_open_shards: tuple[int, ...]
    next_probe_at: datetime | None

    @property
    def breaker_open(self) -> bool:
        """Whether the key's breaker is open on any shard."""
        return bool(self.breaker_open_shards)


class Protection:
    """This replica's keys, valves, static limits and per-shard breakers."""

    def __init__(self, *, max_keys: int = MAX_KEYS, max_step_keys: int = MAX_STEP_KEYS) -> None:
        """No limits, nothing learned, every breaker closed."""
        self._keys = KeyTable(max_keys=max_keys, max_step_keys=max_step_keys)
        self._breakers: dict[int, BreakerBank] = {}
        self._inflight: dict[tuple[int, int], str] = {}
        self._probes: dict[tuple[int, int], tuple[str, str]] = {}

    # --- configuration (live) ----------------------------------------------------------------

    def set_rate_limit(self, key: str, per_second: float | None) -> None:
        """Cap ``key`` at ``per_second`` steps per second (``None`` removes the cap)."""
        _, state = self._keys.state(key, key, self._busy, configured=True)
        state.pacer = None if per_second is None else Pacer(per_second)

    def set_concurrency_limit(self, key: str, limit: int | None) -> None:
        """Cap ``key`` at ``limit`` steps selected and unfinished here (``None`` removes it)."""
        _, state = self._keys.state(key, key, self._busy, configured=True)
        state.concurrency_limit = limit

    # --- admission (the refill planner) ----------------------------------------------------

    def admit(self, task: str, shard: int, step_id: int, now: datetime) -> bool:
        """Whether the step may be selected now; counts nothing."""
        key = self._keys.resolve(task, shard, step_id)
        bank = self._breakers.get(shard)
        if bank is not None and bank.holds(key, now):
            return False
        state = self._keys.get(key)
        if state is None:
            return True
        if state.hold_until is not None and now < state.hold_until:
            return False
        if state.concurrency_limit is not None and state.running >= state.concurrency_limit:
            return False
        if state.pacer is not None and not state.pacer.peek(now):
            return False
        return state.valve.peek(now)

    def commit(self, task: str, shard: int, step_id: int, now: datetime) -> bool:
        """Count a selected step; return whether it is its shard's breaker probe.

        A probe is remembered until ``probe_ended`` or ``release``, for the probes counter.
        """
        key = self._keys.resolve(task, shard, step_id)
        key, state = self._keys.state(key, task, self._busy)
        state.valve.commit(now)
        if state.pacer is not None:
            state.pacer.commit(now)
        state.running += 1
        self._inflight[(shard, step_id)] = key
        bank = self._breakers.get(shard)
        if bank is None or not bank.commit(key, now):
            return False
        self._probes[(shard, step_id)] = (key, bank.cause(key) or CAUSE_ACK_TIMEOUT)
        return True

    def probe_ended(self, shard: int, step_id: int) -> tuple[str, str] | None:
        """(key, cause of the open breaker) if the step was a breaker probe; once per probe."""
        return self._probes.pop((shard, step_id), None)

    def release(self, shard: int, step_id: int) -> None:
        """A selected step finished (or was not won): it no longer counts as running here."""
        self._probes.pop((shard, step_id), None)
        key = self._inflight.pop((shard, step_id), None)
        state = self._keys.get(key) if key is not None else None
        if state is not None and state.running > 0:
            state.running -= 1

    def unrestricted(self, now: datetime) -> bool:
        """Whether ``admit`` would admit any step now, whatever its task or shard.

        True when no breaker is open, and no key has a hold in force, a static limit, or a
        valve that was ever cut. The refiller may then claim a whole due band without planning
        it (docs/internals/dispatch.md#d12). Conservative: a valve that recovered still counts.
        """
        if any(bank.tripped_tasks() for bank in self._breakers.values()):
            return False
        for _, state in self._keys.items():
            if state.hold_until is not None and now < state.hold_until:
                return False
            if state.concurrency_limit is not None or state.pacer is not None:
                return False
            if state.valve.limit(now) is not None:
                return False
        return True

    def selected(self, shard: int, step_id: int) -> bool:
        """Whether the step was selected here and has not finished (``commit`` to ``release``)."""
        return (shard, step_id) in self._inflight

    def next_admission(self, now: datetime) -> datetime | None:
        """The soonest time a key refusing now by hold, pacer or valve may admit again.

        Breaker probes are not included (``next_probe_at``); concurrency frees on ``release``.
        """
        soonest: datetime | None = None
        for _, state in self._keys.items():
            if state.hold_until is not None and state.hold_until > now:
                soonest = _min(soonest, state.hold_until)
            if state.pacer is not None and not state.pacer.peek(now):
                soonest = _min(soonest, state.pacer.next_conforming(now))
            limit = state.valve.limit(now)
            if limit is not None and not state.valve.peek(now):
                soonest = _min(soonest, now + max(_SOON, timedelta(seconds=1 / limit)))
        return soonest

    # --- outcomes -------------------------------------------------------------------------

    def backpressure(
        self,
        task: str,
        shard: int,
        step_id: int,
        now: datetime,
        *,
        key: str | None = None,
        retry_after: float | None = None,
    ) -> tuple[str, int, datetime]:
        """A step was refused with backpressure: cut its key's valve; return the cut to gossip."""
        key, state = self._keys.state(key or task, task, self._busy)
        self._keys.learn(task, shard, step_id, key)
        state.tasks.add(task)
        state.cuts += 1
        if retry_after is not None and retry_after > 0:
            until = now + timedelta(seconds=retry_after)
            state.hold_until = until if state.hold_until is None else max(state.hold_until, until)
        w_cong, t_cong = state.valve.regulate(now)
        return key, w_cong, t_cong

    def sync_valve(self, key: str, w_cong: int, t_cong: datetime) -> bool:
        """Merge a peer's cut of ``key``'s valve; return whether it was adopted."""
        if not key:
            return False
        _, state = self._keys.state(key, key, self._busy)
        return state.valve.sync(w_cong, t_cong)

    def trip(
        self,
        task: str,
        shard: int,
        step_id: int,
        now: datetime,
        shards: Iterable[int],
        *,
        key: str | None = None,
        cause: str = CAUSE_ACK_TIMEOUT,
    ) -> tuple[str, bool]:
        """A step tripped its breaker: open its key on every shard; return (key, fresh trip)."""
        key, state = self._keys.state(key or task, task, self._busy_and(key or task))
        self._keys.learn(task, shard, step_id, key)
        state.tasks.add(task)
        fresh = False
        for index in shards:
            fresh = self._bank(index).trip(key, now, cause) or fresh
        return key, fresh

    def trip_from_peer(self, key: str, now: datetime, shards: Iterable[int]) -> bool:
        """A peer tripped ``key``: open it here on every shard; return whether that was fresh."""
        if not key:
            return False
        key, state = self._keys.state(key, key, self._busy_and(key))
        if not state.tasks:
            state.tasks.add(key)
        fresh = False
        for index in shards:
            fresh = self._bank(index).trip(key, now, CAUSE_ACK_TIMEOUT) or fresh
        return fresh

    def succeeded(self, task: str, shard: int, step_id: int, now: datetime) -> str | None:
        """A step ran successfully; return its key if that closed the key's breaker on ``shard``.

        Closing one shard brings the key's probes on its other shards forward to ``now``.
        """
        key = self._keys.resolve(task, shard, step_id)
        self._keys.forget_step(shard, step_id)
        bank = self._breakers.get(shard)
        if bank is None or not bank.close(key):
            return None
        bank.forget(key)
        for other in self._breakers.values():
            other.expedite(key, now)
        return key

    def close(self, key: str, shard: int) -> bool:
        """Close ``key`` on ``shard`` without a success (nothing is left there to probe)."""
        bank = self._breakers.get(shard)
        if bank is None or not bank.close(key):
            return False
        bank.forget(key)
        return True

    def reconstitute(self, shard: int, tasks: Iterable[str], now: datetime) -> list[str]:
        """Re-open breakers at startup for tasks with breaker-parked steps on ``shard``."""
        opened: list[str] = []
        for task in tasks:
            if not task:
                continue
            key, state = self._keys.state(task, task, self._busy_and(task))
            state.tasks.add(task)
            if self._bank(shard).trip(key, now, CAUSE_ACK_TIMEOUT):
                opened.append(key)
        return opened

    # --- reading -----------------------------------------------------------------------------

    def key_of(self, task: str, shard: int, step_id: int) -> str:
        """The key a step of ``task`` answers to now."""
        return self._keys.resolve(task, shard, step_id)

    def tasks_of(self, key: str) -> list[str]:
        """The tasks a trip of ``key`` parks (sorted; the key itself when nothing was learned)."""
        state = self._keys.get(key)
        return sorted(state.tasks) if state is not None and state.tasks else [key]

    def tripped(self, key: str) -> bool:
        """Whether ``key``'s breaker is open on any shard."""
        return any(bank.tripped(key) for bank in self._breakers.values())

    def tripped_tasks(self, shard: int) -> set[str]:
        """Tasks whose steps on ``shard`` must be parked: those of every key open there."""
        bank = self._breakers.get(shard)
        if bank is None:
            return set()
        return {task for key in bank.tripped_tasks() for task in self.tasks_of(key)}

    def due_probes(self, now: datetime) -> list[tuple[str, int]]:
        """``(key, shard)`` pairs whose probe is due: the engine makes sure one step is visible."""
        due: list[tuple[str, int]] = []
        for shard, bank in sorted(self._breakers.items()):
            for key in bank.tripped_tasks():
                probe_at = bank.probe_at(key)
                if probe_at is not None and probe_at <= now:
                    due.append((key, shard))
        return due

    def next_probe_at(self) -> datetime | None:
        """The soonest probe due over every key and shard, or ``None`` when all are closed."""
        soonest: datetime | None = None
        for bank in self._breakers.values():
            at = bank.next_probe_at()
            if at is not None:
                soonest = _min(soonest, at)
        return soonest

    def controls(self, now: datetime) -> list[TaskControl]:
        """Every key's state, sorted by key."""
        result: list[TaskControl] = []
        for key, state in sorted(self._keys.items()):
            result.append(self._control(key, state, now))
        return result

    def _control(self, key: str, state: KeyState, now: datetime) -> TaskControl:
        adaptive = state.valve.limit(now)
        static = state.pacer.rate if state.pacer is not None else None
        rates = [r for r in (static, adaptive) if r is not None]
        open_shards = tuple(
            shard for shard, bank in sorted(self._breakers.items()) if bank.tripped(key)
        )
        probes = [self._breakers[s].probe_at(key) for s in open_shards]
        return TaskControl(
            key=key,
            tasks=tuple(sorted(state.tasks)),
            rate_limit=float(min(rates)) if rates else None,
            static_rate_limit=static,
            adaptive_rate_limit=adaptive,
            concurrency_limit=state.concurrency_limit,
            running=state.running,
            cuts=state.cuts,
            hold_until=state.hold_until if state.hold_until and state.hold_until > now else None,
            breaker_open_shards=open_shards,
            next_probe_at=min((p for p in probes if p is not None), default=None),
        )

    # --- internals ---------------------------------------------------------------------------

    def _bank(self, shard: int) -> BreakerBank:
        bank = self._breakers.get(shard)
        if bank is None:
            bank = self._breakers[shard] = BreakerBank()
        return bank

    def _busy(self) -> set[str]:
        return {key for bank in self._breakers.values() for key in bank.tripped_tasks()}

    def _busy_and(self, key: str) -> Callable[[], set[str]]:
        """``_busy`` plus ``key``, computed only if the key table must evict."""
        return lambda: self._busy() | {key}


def _min(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a
