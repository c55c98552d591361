"""Switch edges: the first ``when`` that holds, in declaration order, is the only successor.

Ports upstream switchflow and switchflow_NoMatch: thresholds with their boundaries, a catch-all
``true`` arm, and a router with no matching arm, which completes the flow at the router.
"""

from __future__ import annotations

import pytest

from dwarf.engine import Handler, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


def switch_proxy(ran: list[str], *, catch_all: bool) -> TestProxy:
    """router switches to handleHigh (>= 10000), handleMid (>= 1000), then handleLow (true)."""
    proxy = TestProxy()
    graph = Graph("switch")
    graph.add_task("router", "router")
    graph.add_task("handleHigh", "handle-high")
    graph.add_task("handleMid", "handle-mid")
    graph.add_transition_switch("router", "handleHigh", "amount >= 10000")
    graph.add_transition_switch("router", "handleMid", "amount >= 1000")
    graph.add_transition("handleHigh", END)
    graph.add_transition("handleMid", END)
    if catch_all:
        graph.add_task("handleLow", "handle-low")
        graph.add_transition_switch("router", "handleLow", "true")
        graph.add_transition("handleLow", END)
    proxy.handle_graph("switch", graph)

    async def router(flow: Flow) -> None:
        ran.append("router")
        flow.set_bool("routed", True)

    def handler(branch: str) -> Handler:
        async def handle(flow: Flow) -> None:
            ran.append(branch)
            flow.set_string("branch", branch)

        return handle

    proxy.handle_task("router", router)
    for branch in ("high", "mid", "low"):
        proxy.handle_task(f"handle-{branch}", handler(branch))
    return proxy


@pytest.mark.parametrize(
    ("amount", "branch"),
    [
        pytest.param(50000, "high", id="above-high-threshold"),
        pytest.param(5000, "mid", id="mid-band"),
        pytest.param(100, "low", id="below-thresholds-takes-catch-all"),
        pytest.param(10000, "high", id="boundary-10000-is-high"),
        pytest.param(1000, "mid", id="boundary-1000-is-mid"),
    ],
)
async def test_switch_takes_only_the_first_matching_arm(
    make_engine: MakeEngine, amount: int, branch: str
) -> None:
    ran: list[str] = []
    async with make_engine(switch_proxy(ran, catch_all=True)) as engine:
        outcome = await engine.run("switch", {"amount": amount}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["branch"] == branch
    # Later arms that also hold (the catch-all always does) never run: one successor only.
    assert ran == ["router", branch]


async def test_switch_without_a_matching_arm_completes_at_the_router(
    make_engine: MakeEngine,
) -> None:
    ran: list[str] = []
    async with make_engine(switch_proxy(ran, catch_all=False)) as engine:
        outcome = await engine.run("switch", {"amount": 100}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert ran == ["router"]
    assert "branch" not in outcome.state
    assert outcome.state == {"amount": 100, "routed": True}


async def test_switch_without_catch_all_still_routes_matching_input(
    make_engine: MakeEngine,
) -> None:
    ran: list[str] = []
    async with make_engine(switch_proxy(ran, catch_all=False)) as engine:
        outcome = await engine.run("switch", {"amount": 5000}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["branch"] == "mid"
    assert ran == ["router", "mid"]
