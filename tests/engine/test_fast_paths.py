"""Where the dialect has fast paths, a linear flow's hot path takes them, with the same outcome.

On PostgreSQL, create, start, every step-to-step transition and the last step's completion each go
through ``Store.autocommit`` instead of a transaction; only the dispatcher's batched claims open
one. On MySQL the start is a single statement (sent with its read), and create, every step-to-step
transition and the last step are stored procedures, each called with the read of its answer as one
query through ``Store.autocommit``'s door, so none opens a transaction of BEGIN/COMMIT round trips.
SQLite runs the portable transactions. All must give the same outcome, including with a sleep, a
goto loop and a start_at delay on the path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dwarf._storage import Store
from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from tests.fixtures.engines import MakeEngine


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The qualified names of the closures every transaction runs.

    Both doors into a transaction are watched: ``transact`` (closures on a ``Tx``) and the one
    a dialect store uses for its own fast-path statements on the raw connection.
    """
    seen: list[str] = []
    for door in ("transact", "_transact_on_connection"):
        original = getattr(Store, door)

        async def spy(
            self: Store,
            fn: Callable[[Any], Awaitable[Any]],
            origin: Callable[..., object] | None = None,
            *,
            original: Callable[..., Awaitable[Any]] = original,
        ) -> Any:
            seen.append(fn.__qualname__)
            return await original(self, fn, origin)

        monkeypatch.setattr(Store, door, spy)
    return seen


def counting_proxy() -> TestProxy:
    """a -> b (then sleeps) -> c (loops back to itself twice) -> END."""
    proxy = TestProxy()
    graph = Graph("hot")
    graph.add_transition_chain("a", "b", "c", END)
    graph.add_transition_goto("c", "c")
    proxy.handle_graph("hot", graph)

    @proxy.task("a")
    async def a(flow: Flow) -> None:
        flow.set_int("n", flow.get_int("n") + 1)

    @proxy.task("b")
    async def b(flow: Flow) -> None:
        flow.set_int("n", flow.get_int("n") * 10)
        flow.set_bool("slept", True)
        flow.sleep(timedelta(milliseconds=50))

    @proxy.task("c")
    async def c(flow: Flow) -> None:
        loops = flow.get_int("loops") + 1
        flow.set_int("loops", loops)
        if loops < 3:
            flow.goto("c")

    return proxy


async def test_a_linear_flow_gives_the_same_outcome_on_either_path(
    make_engine: MakeEngine, engine_dialect: str, transactions: list[str]
) -> None:
    async with make_engine(counting_proxy()) as engine:
        start_at = datetime.now(UTC) + timedelta(milliseconds=100)
        key = await engine.create("hot", {"n": 1}, FlowOptions(start_at=start_at))
        await engine.start(key)
        outcome = await engine.await_flow(key, timeout=30)
        history = await engine.history(key)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"n": 20, "slept": True, "loops": 3}
    assert [step.task_name for step in history] == ["a", "b", "c", "c", "c"]
    # The closures run by the store's hot-path operations, e.g. "Store.start_flow.<locals>.tx"
    # or "Store.advance_to_successor.<locals>.<lambda>".
    hot_operations = {
        "create_flow",
        "start_flow",
        "advance_to_successor",
        "advance_claiming_successor",
        "finish_flow",
    }
    hot_path = [name for name in transactions if set(name.split(".")[1:2]) & hot_operations]
    # create, start, 4 step-to-successor transitions, the last step: 7 transactions portably
    # (SQLite, 3 of whose advances claim their successors, dispatch D13). PostgreSQL runs every
    # one as a single statement; MySQL starts the flow in one statement and sends each of the
    # others as a stored procedure called in one query (S12b, S12c).
    expected = {"postgresql": 0, "mysql": 0, "sqlite": 7}[engine_dialect]
    assert len(hot_path) == expected, hot_path


async def test_run_needs_no_transaction_but_the_claims_on_the_servers(
    make_engine: MakeEngine, engine_dialect: str, transactions: list[str]
) -> None:
    async with make_engine(counting_proxy()) as engine:
        outcome = await engine.run("hot", {"n": 2}, timeout=30)
        again = await engine.snapshot(outcome.flow_key)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"n": 30, "slept": True, "loops": 3}
    assert again.state == outcome.state
    # The dispatcher's own (claims, and the poll timer's lease recovery) are not the flow's.
    opened = [name for name in transactions if not name.startswith(("Dispatcher.", "PollTimer."))]
    if engine_dialect in ("postgresql", "mysql"):
        assert opened == []
    else:
        assert opened
