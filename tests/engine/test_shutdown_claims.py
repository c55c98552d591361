"""A clean shutdown hands back what it claimed, even a claim still being read back.

What a user notices: a flow started just before a replica shuts down completes promptly on the
next one, instead of waiting out a lease (the time budget plus 30 s) held by a stopped replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dwarf._storage import Store
from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


def one_step(proxy: TestProxy) -> None:
    graph = Graph("once")
    graph.add_transition_chain("t", END)
    proxy.handle_graph("once", graph)

    @proxy.task("t")
    async def t(flow: Flow) -> None:
        del flow


async def test_a_claim_in_progress_at_shutdown_runs_on_the_next_replica(
    make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = TestProxy()
    one_step(proxy)
    claiming = asyncio.Event()

    def slowed(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def slow_claim(self: Store, *args: Any) -> Any:
            # The claim's UPDATE has committed when shutdown begins; its read-back is still going.
            won = await original(self, *args)
            if won:
                claiming.set()
                await asyncio.sleep(0.3)
            return won

        return slow_claim

    async with make_engine(proxy, workers=2) as first:
        # The portable claim and a dialect's own (PostgreSQL claims and reads back at once),
        # of planned steps or of a whole due band (docs/internals/dispatch.md#d12).
        for cls in (Store, *Store.__subclasses__()):
            for name in ("claim", "claim_due_band"):
                if name in vars(cls):
                    monkeypatch.setattr(cls, name, slowed(vars(cls)[name]))
        key = await first.create("once")
        await first.start(key)
        await asyncio.wait_for(claiming.wait(), 20)
    monkeypatch.undo()
    async with make_engine(proxy, workers=2) as second:
        # Far below the two and a half minutes a leaked claim would hold the step.
        outcome = await second.await_flow(key, timeout=30)

    assert outcome.status is Status.COMPLETED
