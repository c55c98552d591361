"""Which key a step answers to, and the bound on keys (docs/internals/protection.md#keys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dwarf._scheduling import Protection

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_step_answers_to_its_task_until_a_refusal_names_a_key() -> None:
    p = Protection()
    assert p.key_of("call", 1, 10) == "call"
    p.backpressure("call", 1, 10, T0, key="api")
    assert p.key_of("call", 1, 10) == "api"
    # A task whose refusals all named one key: its other steps answer to that key too.
    assert p.key_of("call", 1, 11) == "api"


def test_a_task_refused_under_several_keys_is_resolved_per_step() -> None:
    p = Protection()
    p.backpressure("call", 1, 10, T0, key="acme")
    p.backpressure("call", 1, 11, T0, key="globex")
    assert p.key_of("call", 1, 10) == "acme"
    assert p.key_of("call", 1, 11) == "globex"
    assert p.key_of("call", 1, 12) == "call", "one account's cut must not gate the others"


def test_a_success_forgets_the_steps_key() -> None:
    p = Protection()
    p.backpressure("call", 1, 10, T0, key="acme")
    p.backpressure("call", 1, 11, T0, key="globex")
    p.succeeded("call", 1, 10, T0)
    assert p.key_of("call", 1, 10) == "call"


def test_keys_are_bounded_and_overflowing_keys_fold_into_their_task() -> None:
    p = Protection(max_keys=4)
    for i in range(50):
        p.backpressure("call", 1, i, T0, key=f"k{i}")
    assert len(p.controls(T0)) <= 4
    # Keys with a static limit are never evicted.
    p = Protection(max_keys=2)
    p.set_rate_limit("kept-a", 1)
    p.set_concurrency_limit("kept-b", 1)
    key, _, _ = p.backpressure("call", 1, 1, T0, key="new")
    assert key == "call" or key == "new"
    assert {"kept-a", "kept-b"} <= {c.key for c in p.controls(T0)}


def test_a_retry_after_holds_the_key_and_is_reported() -> None:
    p = Protection()
    p.backpressure("call", 1, 10, T0, retry_after=2.0)
    assert not p.admit("call", 1, 10, T0 + timedelta(seconds=1))
    assert p.next_admission(T0 + timedelta(seconds=1)) == T0 + timedelta(seconds=2)
    [control] = p.controls(T0 + timedelta(seconds=1))
    assert control.hold_until == T0 + timedelta(seconds=2)
    assert p.controls(T0 + timedelta(seconds=3))[0].hold_until is None


def test_a_breaker_opens_on_every_shard_and_a_success_closes_one_and_hurries_the_rest() -> None:
    p = Protection()
    key, fresh = p.trip("call", 1, 10, T0, [1, 2, 3], cause="unavailable")
    assert (key, fresh) == ("call", True)
    assert not p.admit("call", 2, 20, T0)
    later = T0 + timedelta(milliseconds=100)
    assert p.admit("call", 2, 20, later)
    assert p.commit("call", 2, 20, later), "the due step is the probe"
    assert not p.admit("call", 2, 21, later), "one probe per due time"
    assert p.succeeded("call", 2, 20, later) == "call"
    assert p.tripped("call")
    [control] = p.controls(later)
    assert control.breaker_open_shards == (1, 3)
    assert control.next_probe_at == later, "the other shards' probes are due now"


def test_a_probe_is_reported_once_with_its_breakers_cause_and_forgotten_on_release() -> None:
    p = Protection()
    p.trip("call", 1, 10, T0, [1], cause="overloaded")
    later = T0 + timedelta(milliseconds=100)
    assert p.commit("call", 1, 11, later)
    assert not p.commit("call", 1, 12, later), "a straggler is not a probe"
    assert p.probe_ended(1, 12) is None
    assert p.probe_ended(1, 11) == ("call", "overloaded")
    assert p.probe_ended(1, 11) is None, "reported once"
    probe_at = later + timedelta(milliseconds=100)
    assert p.commit("call", 1, 13, probe_at)
    p.release(1, 13)  # ended without an outcome (lost claim, engine fault, shutdown)
    assert p.probe_ended(1, 13) is None


def test_a_configured_limit_is_kept_even_when_every_key_is_busy() -> None:
    p = Protection(max_keys=2)
    p.set_concurrency_limit("a", 1)
    p.set_concurrency_limit("b", 1)
    p.set_rate_limit("c", 3)  # the table is full of keys that may not be evicted
    controls = {c.key: c for c in p.controls(T0)}
    assert controls["c"].static_rate_limit == 3
    assert {"a", "b"} <= set(controls)
