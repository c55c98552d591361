"""Steps claimed as they are inserted (dispatch D13): a successor by its predecessor's advance,
for the same worker; the entry step of a flow ``run`` creates, for an idle worker.

On PostgreSQL, MariaDB and SQLite a linear flow's steps then need no claim of their own,
unless protection restricts anything. On every dialect the rules a claim enforces still
hold: a breakpoint set while the step before runs pauses the flow before the next step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from dwarf._storage import BandClaim, ClaimedStep, Store
from dwarf._storage._postgresql import PostgresqlStore
from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


def chain_proxy(engines: list[Engine]) -> tuple[TestProxy, list[str]]:
    """``abc``: a -> b -> c; ``a`` sets a breakpoint on ``b`` when its state asks for one."""
    proxy = TestProxy()
    graph = Graph("abc")
    graph.add_transition_chain("a", "b", "c", END)
    proxy.handle_graph("abc", graph)
    ran: list[str] = []

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        ran.append("a")
        if flow.get_bool("breakOnB"):
            await engines[0].break_before(flow.flow_key, "b", True)

    @proxy.task("b")
    async def b(flow: Flow) -> None:
        ran.append("b")

    @proxy.task("c")
    async def c(flow: Flow) -> None:
        ran.append("c")

    return proxy, ran


async def test_a_breakpoint_set_while_the_step_before_runs_pauses_the_flow(
    make_engine: MakeEngine,
) -> None:
    engines: list[Engine] = []
    proxy, ran = chain_proxy(engines)
    async with make_engine(proxy) as engine:
        engines.append(engine)
        key = await engine.create("abc", {"breakOnB": True})
        await engine.start(key)
        paused = await engine.await_flow(key, timeout=30)
        assert paused.status is Status.INTERRUPTED
        assert ran == ["a"]
        await engine.resume_break(key)
        outcome = await engine.await_flow(key, timeout=30)
    assert outcome.status is Status.COMPLETED
    assert ran == ["a", "b", "c"]


def _count_claimed_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the steps refills claim (planned claims on every dialect, whole bands too)."""
    claimed: list[int] = []

    def counting(cls: type[Store]) -> None:
        claim = cls.claim

        async def counted_claim(self: Store, *args: Any) -> list[ClaimedStep]:
            won = await claim(self, *args)
            claimed.extend(step.row.step_id for step in won)
            return won

        monkeypatch.setattr(cls, "claim", counted_claim)

    counting(Store)
    counting(PostgresqlStore)
    band = PostgresqlStore.claim_due_band

    async def counted_band(self: PostgresqlStore, *args: Any) -> Sequence[BandClaim]:
        won = await band(self, *args)
        claimed.extend(item.step.row.step_id for item in won)
        return won

    monkeypatch.setattr(PostgresqlStore, "claim_due_band", counted_band)
    return claimed


# Steps of a three-step flow claimed by a refill, by dialect: PostgreSQL, MariaDB and SQLite
# claim the entry in run's create and every successor in its advance; elsewhere (SQL Server) a
# refill claims every step.
REFILL_CLAIMS = {
    "run": {"postgresql": 0, "mysql": 0, "sqlite": 0},
    "create-start": {"postgresql": 1, "mysql": 1, "sqlite": 1},
    "limited": {"postgresql": 3, "mysql": 3, "sqlite": 3},
}


@pytest.mark.parametrize("how", list(REFILL_CLAIMS))
async def test_steps_claimed_as_they_are_inserted_need_no_refill(
    engine_dsn: str, engine_dialect: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # run: the entry is claimed by the create, the successors by their advances. start: the
    # entry becomes pending, for a refill to claim. A limit on any key restricts protection:
    # every step is then claimed by a refill.
    claimed = _count_claimed_steps(monkeypatch)
    proxy, ran = chain_proxy([])
    engine = (
        Engine()
        .with_dsn(engine_dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(4)
    )
    if how == "limited":
        engine = engine.with_concurrency_limit("b", 2)
    async with engine:
        if how == "create-start":
            key = await engine.create("abc", {})
            await engine.start(key)
            outcome = await engine.await_flow(key, timeout=30)
        else:
            outcome = await engine.run("abc", {}, timeout=30)
        history = await engine.history(outcome.flow_key)
    assert outcome.status is Status.COMPLETED
    assert ran == ["a", "b", "c"]
    assert [step.task_name for step in history] == ["a", "b", "c"]
    assert len(claimed) == REFILL_CLAIMS[how].get(engine_dialect, 3)
