"""Poison steps: a step the engine itself fails to process fails its flow after a few faults.

The fault is injected where the dispatcher hands a claimed step to ``process_step`` (what a state
the decoder chokes on does); the task never runs for it. The count lives on the step's row, so
two replicas together stop after ``MAX_ENGINE_FAULTS``, and a database fault is not counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from dwarf._storage import ClaimedStep, ClaimedStepRow, Store
from dwarf.engine import TestProxy
from dwarf.engine._dispatch import _dispatcher
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step import _poison
from dwarf.engine._step._execute import process_step
from dwarf.engine._step._poison import MAX_ENGINE_FAULTS
from dwarf.engine._step._step_input import SharedInputs
from dwarf.errors import StorageError
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine
from tests.fixtures.logs import Records


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A faulted step waits 10 ms before running again (doubling), not 100 ms: no test here
    asserts the delay, and the four faults before a flow fails would wait 1.5 s of each test."""
    monkeypatch.setattr(_poison, "_FIRST_BACKOFF", timedelta(milliseconds=10))


def chain_proxy() -> TestProxy:
    proxy = TestProxy()
    graph = Graph("poisoned")
    graph.add_transition_chain("first", "poison", END)
    proxy.handle_graph("poisoned", graph)

    @proxy.task("first")
    async def first(flow: Flow) -> None:
        flow.set_int("n", 1)

    @proxy.task("poison")
    async def poison(flow: Flow) -> None:
        flow.set_bool("ran", True)

    return proxy


def inject(
    monkeypatch: pytest.MonkeyPatch, error: Callable[[], Exception], times: int | None
) -> list[int]:
    """Make processing the ``poison`` step raise ``error()`` (``times`` times, or always)."""
    calls: list[int] = []

    async def faulty(
        rt: Runtime, shard: Store, row: ClaimedStepRow, flow: Any, inputs: SharedInputs
    ) -> ClaimedStep | None:
        if row.task_name == "poison" and (times is None or len(calls) < times):
            calls.append(row.step_id)
            raise error()
        return await process_step(rt, shard, row, flow, inputs)

    monkeypatch.setattr(_dispatcher, "process_step", faulty)
    return calls


async def test_a_step_the_engine_keeps_failing_fails_its_flow_naming_step_and_exception(
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    records: tuple[logging.Logger, Records],
) -> None:
    logger, handler = records
    calls = inject(monkeypatch, lambda: RecursionError("maximum recursion depth exceeded"), None)
    async with make_engine(chain_proxy(), logger=logger) as engine:
        outcome = await engine.run("poisoned", timeout=30)

    assert outcome.status is Status.FAILED
    assert "'poison'" in outcome.error
    assert "RecursionError" in outcome.error
    assert len(calls) == MAX_ENGINE_FAULTS
    assert outcome.state == {"n": 1}, "the ordinary failure path keeps the final state"
    assert max(r.levelno for r in handler.records) <= logging.WARNING
    tracebacks = [r for r in handler.records if r.exc_info]
    assert len(tracebacks) == MAX_ENGINE_FAULTS - 1, "one traceback per counted fault at most"


async def test_two_replicas_share_the_fault_count(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = inject(monkeypatch, lambda: KeyError("boom"), None)
    async with make_engine(chain_proxy()) as one, make_engine(chain_proxy()) as two:
        key = await one.create("poisoned", {})
        await two.start(key)
        outcome = await one.await_flow(key, timeout=30)

    assert outcome.status is Status.FAILED
    assert "KeyError" in outcome.error
    assert len(calls) == MAX_ENGINE_FAULTS


async def test_a_fault_that_also_breaks_the_failure_path_still_fails_the_flow(
    make_engine: MakeEngine,
    monkeypatch: pytest.MonkeyPatch,
    records: tuple[logging.Logger, Records],
) -> None:
    logger, handler = records
    inject(monkeypatch, lambda: RecursionError("deep"), None)

    async def broken(*args: object) -> None:
        raise RecursionError("deep again")

    monkeypatch.setattr(_poison, "fail_step", broken)
    async with make_engine(chain_proxy(), logger=logger) as engine:
        outcome = await engine.run("poisoned", timeout=30)

    assert outcome.status is Status.FAILED
    assert "RecursionError" in outcome.error
    assert outcome.state == {}
    # Failed directly, the flow still reports its transition like any other failure.
    ended = [r for r in handler.records if getattr(r, "to_status", "") == "failed"]
    assert [(r.levelno, getattr(r, "flow_key", "")) for r in ended] == [
        (logging.INFO, outcome.flow_key)
    ]


async def test_database_faults_are_not_counted_against_the_step(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = inject(
        monkeypatch, lambda: StorageError("shard 1: connection lost"), MAX_ENGINE_FAULTS + 2
    )
    async with make_engine(chain_proxy()) as engine:
        outcome = await engine.run("poisoned", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"n": 1, "ran": True}
    assert len(calls) == MAX_ENGINE_FAULTS + 2


async def test_a_few_faults_below_the_bound_let_the_step_run(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject(monkeypatch, lambda: ValueError("flaky"), MAX_ENGINE_FAULTS - 1)
    async with make_engine(chain_proxy()) as engine:
        outcome = await engine.run("poisoned", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"n": 1, "ran": True}
