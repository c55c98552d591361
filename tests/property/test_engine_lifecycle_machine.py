"""The flow lifecycle (docs/internals/engine.md#flow-lifecycle) under random operation sequences.

A Hypothesis state machine drives create / start / cancel / resume / restart / release on a
handful of flows of ``prep -> work -> END`` and keeps a model of the status each flow must be
in. What ``work`` does is chosen per flow through its state (``mode``): finish, interrupt,
fail, or block until the machine releases it (a flow caught mid-task, ``running``). Every
operation waits for the flow to settle, so the model is exact; between rules nothing runs.

After every rule the invariants hold for every flow: its status is the one the model expects
(and a legal one); a terminal flow has no created/pending/running step; an interrupted flow has
an interrupted step and shows its payload; a created flow has exactly one step, ``created``;
and the stored steps are exactly those of the latest run (restart leaves nothing behind, and a
task released after its flow was cancelled changes nothing). An operation in the wrong state
raises ``ConflictError`` and changes nothing (same snapshot, same history).

Each example runs its own event loop (``asyncio.Runner``) and its own ``run_in_test`` engine,
started in ``__init__`` and stopped in ``teardown``; ``PostgresLifecycleMachine`` and
``MysqlLifecycleMachine`` run the same rules on a fresh server database per example, where
start, transitions and the last step take their dialect's fast paths. Rules and checks that
need ``restart`` or ``history`` are enabled only when the engine implements them (probed once
per example with a key that cannot exist), so the machine ran while those operations were
being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncmy.errors
import psycopg
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from dwarf.engine import Engine, TestProxy
from dwarf.errors import ConflictError
from dwarf.workflow import END, Flow, FlowOutcome, FlowStep, Graph, Status
from tests.fixtures.databases import (
    create_mysql_database,
    create_postgres_database,
    drop_mysql_database,
    drop_postgres_database,
    unavailable,
)

T = TypeVar("T")

MODES = ("finish", "interrupt", "fail", "block")
FLOW_STATUSES = frozenset(
    {
        Status.CREATED,
        Status.RUNNING,
        Status.INTERRUPTED,
        Status.COMPLETED,
        Status.FAILED,
        Status.CANCELLED,
    }
)
TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
LIVE_STEP = frozenset({Status.CREATED, Status.PENDING, Status.RUNNING})
CREATED = frozenset({Status.CREATED})
RUNNING = frozenset({Status.RUNNING})
INTERRUPTED = frozenset({Status.INTERRUPTED})
CANCELLABLE = frozenset({Status.CREATED, Status.RUNNING, Status.INTERRUPTED})
RESTARTABLE = TERMINAL | INTERRUPTED
ALLOWED: dict[str, frozenset[Status]] = {
    "start": CREATED,
    "cancel": CANCELLABLE,
    "resume": INTERRUPTED,
    "restart": RESTARTABLE,
}
"""The flow statuses in which each operation is legal (docs/internals/operations.md#o1)."""
PROGRESS: dict[str, frozenset[Status]] = {
    "start": CREATED,
    "release": RUNNING,
    "resume": INTERRUPTED,
    "restart": RESTARTABLE,
    "cancel": CANCELLABLE,
}
"""Legal moves, those that move a flow forward first (Hypothesis favours early choices)."""
SETTLE_TIMEOUT = 30.0
MAX_FLOWS = 6


@dataclass
class Expected:
    """What the model knows about one flow."""

    n: int
    mode: str
    status: Status = Status.CREATED
    answer: int | None = None
    reason: str = ""
    cancelled_from: Status | None = None

    def trail(self) -> list[tuple[str, Status]]:
        """The (task, status) of every stored step, in order: one run, nothing left over."""
        if self.status is Status.CREATED or self.cancelled_from is Status.CREATED:
            return [("prep", self.status)]
        return [("prep", Status.COMPLETED), ("work", self.status)]


@dataclass
class Gates:
    """Holds ``block``-mode tasks until the machine releases them."""

    entered: dict[str, asyncio.Event] = field(default_factory=dict)
    release: dict[str, asyncio.Event] = field(default_factory=dict)
    every: list[asyncio.Event] = field(default_factory=list)

    def arm(self, key: str) -> None:
        """The next ``block`` run of ``key`` signals its arrival and waits for ``open``."""
        self.entered[key] = asyncio.Event()
        self.release[key] = asyncio.Event()
        self.every.append(self.release[key])

    async def block(self, key: str) -> None:
        """Called by the task: announce arrival, then wait to be released."""
        if key not in self.release:  # an unplanned run: hold it until teardown
            self.arm(key)
        self.entered[key].set()
        await self.release[key].wait()

    def open(self, key: str) -> None:
        """Let the task of ``key`` finish."""
        if key in self.release:
            self.release.pop(key).set()

    def open_all(self) -> None:
        """Release every task still held (teardown)."""
        for release in self.every:
            release.set()


def _graph() -> Graph:
    graph = Graph("lifecycle")
    graph.add_transition_chain("prep", "work", END)
    return graph


def _proxy(gates: Gates) -> TestProxy:
    proxy = TestProxy()
    proxy.handle_graph("lifecycle", _graph())

    async def prep(flow: Flow) -> None:
        flow.set_bool("prepared", True)

    async def work(flow: Flow) -> None:
        mode = flow.get_string("mode")
        if mode == "interrupt":
            data = flow.interrupt({"ask": flow.get_int("n")})
            flow.set_int("answer", int(data["answer"]))
        elif mode == "fail":
            raise RuntimeError("boom")
        elif mode == "block":
            await gates.block(flow.flow_key)
        flow.set_int("done", flow.get_int("n"))

    proxy.handle_task("prep", prep)
    proxy.handle_task("work", work)
    return proxy


class LifecycleMachine(RuleBasedStateMachine):
    """Random lifecycle operations against one engine, checked against a model."""

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.gates = Gates()
        self.model: dict[str, Expected] = {}
        proxy = _proxy(self.gates)
        self.engine = (
            Engine()
            .with_graph_loader(proxy.load_graph)
            .with_task_executor(proxy.execute_task)
            .with_workers(16)
        )
        self.scope: contextlib.AbstractAsyncContextManager[Engine] = self.open_scope()
        self.run(self.scope.__aenter__())

    def open_scope(self) -> contextlib.AbstractAsyncContextManager[Engine]:
        """The engine's database for this example: in-memory SQLite (``run_in_test``)."""
        return self.engine.run_in_test()

    def close_scope(self) -> None:
        """Leave the engine's scope (and drop what ``open_scope`` made)."""
        self.run(self.scope.__aexit__(None, None, None))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this example's event loop."""
        return self.runner.run(coro)

    def teardown(self) -> None:
        """Release held tasks, stop the engine, close the loop."""
        self.gates.open_all()
        try:
            self.close_scope()
        finally:
            self.runner.close()

    # --- settling -----------------------------------------------------------------------

    async def _settle(self, key: str) -> None:
        """After start/restart: wait until ``work`` is held, or the flow stops; update model."""
        expected = self.model[key]
        if expected.mode == "block":
            await asyncio.wait_for(self.gates.entered[key].wait(), SETTLE_TIMEOUT)
            expected.status = Status.RUNNING
            return
        outcome = await self.engine.await_flow(key, timeout=SETTLE_TIMEOUT)
        expected.status = outcome.status
        assert (
            outcome.status
            is {
                "finish": Status.COMPLETED,
                "interrupt": Status.INTERRUPTED,
                "fail": Status.FAILED,
            }[expected.mode]
        ), (expected, outcome)

    async def _observe(self, key: str) -> tuple[FlowOutcome, list[FlowStep]]:
        outcome = await self.engine.snapshot(key)
        steps = await self.engine.history(key)
        return outcome, steps

    async def _refused(self, key: str, operation: Awaitable[object]) -> None:
        """``operation`` must raise ``ConflictError`` and leave the flow exactly as it was."""
        before = await self._observe(key)
        try:
            await operation
        except ConflictError:
            pass
        else:
            raise AssertionError(f"expected a 409 for {key} in {self.model[key].status}")
        assert await self._observe(key) == before

    # --- rules --------------------------------------------------------------------------

    def _flows_in(self, statuses: frozenset[Status]) -> list[str]:
        return sorted(key for key, e in self.model.items() if e.status in statuses)

    def _draw(self, data: st.DataObject, statuses: frozenset[Status]) -> str:
        key: str = data.draw(st.sampled_from(self._flows_in(statuses)), label="flow")
        return key

    @initialize(mode=st.sampled_from(MODES))
    def first(self, mode: str) -> None:
        self.create(mode)

    @precondition(lambda self: len(self.model) < MAX_FLOWS)
    @rule(mode=st.sampled_from(MODES))
    def create(self, mode: str) -> None:
        n = len(self.model)
        key = self.run(self.engine.create("lifecycle", {"n": n, "mode": mode}))
        self.model[key] = Expected(n=n, mode=mode)

    @rule(data=st.data())
    def act(self, data: st.DataObject) -> None:
        """An operation the flow's status allows (or releasing a held task)."""
        key = self._draw(data, FLOW_STATUSES)
        status = self.model[key].status
        legal = [name for name, allowed in PROGRESS.items() if status in allowed]
        if not legal:
            event(f"nothing to do with a {status} flow")
            return
        operation = data.draw(st.sampled_from(legal), label="operation")
        event(f"{operation} a {status} flow")
        getattr(self, f"_{operation}")(key, data)

    def _start(self, key: str, data: st.DataObject) -> None:
        del data
        if self.model[key].mode == "block":
            self.gates.arm(key)
        self.run(self.engine.start(key))
        self.run(self._settle(key))

    def _cancel(self, key: str, data: st.DataObject) -> None:
        reason = data.draw(st.sampled_from(["", "operator said so"]), label="reason")
        self.run(self.engine.cancel(key, reason))
        expected = self.model[key]
        expected.cancelled_from, expected.status = expected.status, Status.CANCELLED
        expected.reason = reason
        # A task caught mid-run finishes now; its late completion must not revive the flow.
        self.gates.open(key)

    def _resume(self, key: str, data: st.DataObject) -> None:
        answer = data.draw(st.integers(min_value=0, max_value=99), label="answer")
        self.run(self.engine.resume(key, {"answer": answer}))
        outcome = self.run(self.engine.await_flow(key, timeout=SETTLE_TIMEOUT))
        assert outcome.status is Status.COMPLETED, outcome
        self.model[key].status = Status.COMPLETED
        self.model[key].answer = answer

    def _restart(self, key: str, data: st.DataObject) -> None:
        mode = data.draw(st.sampled_from(MODES), label="mode")
        if mode == "block":
            self.gates.arm(key)
        self.run(self.engine.restart(key, {"mode": mode}))
        expected = self.model[key]
        expected.mode, expected.answer, expected.reason = mode, None, ""
        expected.cancelled_from = None
        self.run(self._settle(key))

    def _release(self, key: str, data: st.DataObject) -> None:
        del data
        self.gates.open(key)
        outcome = self.run(self.engine.await_flow(key, timeout=SETTLE_TIMEOUT))
        assert outcome.status is Status.COMPLETED, outcome
        self.model[key].status = Status.COMPLETED

    @rule(data=st.data())
    def misuse(self, data: st.DataObject) -> None:
        """An operation the flow's status forbids: a 409 that changes nothing."""
        key = self._draw(data, FLOW_STATUSES)
        status = self.model[key].status
        illegal = [name for name, allowed in ALLOWED.items() if status not in allowed]
        operation = data.draw(st.sampled_from(sorted(illegal)), label="operation")
        event(f"refused: {operation} a {status} flow")
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "start": lambda: self.engine.start(key),
            "cancel": lambda: self.engine.cancel(key, "too late"),
            "resume": lambda: self.engine.resume(key, {"answer": 0}),
            "restart": lambda: self.engine.restart(key, {"mode": "finish"}),
        }
        self.run(self._refused(key, calls[operation]()))

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def every_flow_is_where_the_model_says(self) -> None:
        for key, expected in self.model.items():
            outcome, steps = self.run(self._observe(key))
            assert outcome.status in FLOW_STATUSES
            assert outcome.status is expected.status, (key, expected, outcome)
            self._check(expected, outcome, steps)

    def _check(self, expected: Expected, outcome: FlowOutcome, steps: list[FlowStep]) -> None:
        status, n = outcome.status, expected.n
        if status is Status.COMPLETED:
            assert outcome.state["done"] == n
            assert outcome.state["prepared"] is True
            assert outcome.state.get("answer") == expected.answer
        elif status is Status.FAILED:
            assert "boom" in outcome.error
        elif status is Status.CANCELLED:
            assert outcome.cancel_reason == expected.reason
        elif status is Status.INTERRUPTED:
            assert outcome.interrupt_payload == {"ask": n}
        step_statuses = [step.status for step in steps]
        if status in TERMINAL:
            assert not LIVE_STEP.intersection(step_statuses), (status, step_statuses)
        elif status is Status.INTERRUPTED:
            assert Status.INTERRUPTED in step_statuses
        elif status is Status.CREATED:
            assert [(s.task_name, s.status) for s in steps] == [("prep", Status.CREATED)]
        elif status is Status.RUNNING:
            assert ("work", Status.RUNNING) in [(s.task_name, s.status) for s in steps]
        # Restart deletes every step but the entry; a late worker's write changes nothing.
        assert [(s.task_name, s.status) for s in steps] == expected.trail()


LifecycleMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngineLifecycle = LifecycleMachine.TestCase


class ServerLifecycleMachine(LifecycleMachine):
    """The same machine on a database server, whose fast paths SQLite never takes."""

    server = ""
    make_database: Callable[[str], Coroutine[Any, Any, str]]
    drop_database: Callable[[str], Coroutine[Any, Any, None]]

    def open_scope(self) -> contextlib.AbstractAsyncContextManager[Engine]:
        """A fresh database per example."""
        self.database = f"dwarf_lc_{uuid.uuid4().hex[:16]}"
        try:
            dsn = self.run(type(self).make_database(self.database))
        except (OSError, psycopg.OperationalError, asyncmy.errors.OperationalError) as exc:
            self.runner.close()
            unavailable(self.server, exc)
            raise
        return self.engine.with_dsn(dsn)

    def close_scope(self) -> None:
        """Stop the engine, then drop the example's database."""
        try:
            super().close_scope()
        finally:
            self.run(type(self).drop_database(self.database))


class PostgresLifecycleMachine(ServerLifecycleMachine):
    """On PostgreSQL: start, transitions and the last step are single statements."""

    server = "PostgreSQL"
    make_database = staticmethod(create_postgres_database)
    drop_database = staticmethod(drop_postgres_database)


class MysqlLifecycleMachine(ServerLifecycleMachine):
    """On MariaDB: the start and the last step are two-table UPDATEs."""

    server = "MariaDB"
    make_database = staticmethod(create_mysql_database)
    drop_database = staticmethod(drop_mysql_database)


SERVER_SETTINGS = settings(
    max_examples=10,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PostgresLifecycleMachine.TestCase.settings = SERVER_SETTINGS
MysqlLifecycleMachine.TestCase.settings = SERVER_SETTINGS
TestEngineLifecycleOnPostgres = pytest.mark.postgres(PostgresLifecycleMachine.TestCase)
TestEngineLifecycleOnMariadb = pytest.mark.mysql(MysqlLifecycleMachine.TestCase)
