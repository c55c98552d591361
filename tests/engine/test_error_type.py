"""A failed task's exception type travels with its message: outcome, history, step and onErr."""

from __future__ import annotations

from typing import Any

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


def proxy(seen: list[dict[str, Any]]) -> TestProxy:
    """broken: K raises KeyError('api_key'); routed: R raises it too, onError -> H."""
    proxy = TestProxy()
    broken = Graph("broken")
    broken.add_transition("K", END)
    proxy.handle_graph("broken", broken)
    routed = Graph("routed")
    routed.add_transition("R", END)
    routed.add_transition_on_error("R", "H")
    routed.add_transition("H", END)
    proxy.handle_graph("routed", routed)

    @proxy.task("K")
    async def k(flow: Flow) -> None:
        raise KeyError("api_key")

    @proxy.task("R")
    async def r(flow: Flow) -> None:
        raise KeyError("api_key")

    @proxy.task("H")
    async def h(flow: Flow) -> None:
        seen.append(flow.get("onErr", dict))

    return proxy


async def test_a_failed_tasks_type_is_in_its_outcome_history_and_step(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(proxy([])) as engine:
        outcome = await engine.run("broken", {}, timeout=30)
        history = await engine.history(outcome.flow_key)
        step = await engine.step(history[0].step_key)
    assert outcome.status is Status.FAILED
    assert (outcome.error, outcome.error_type) == ("'api_key'", "KeyError")
    assert outcome.model_dump(by_alias=True)["errorType"] == "KeyError"
    assert [(s.status, s.error, s.error_type) for s in history] == [
        (Status.FAILED, "'api_key'", "KeyError")
    ]
    assert step.model_dump(by_alias=True)["errorType"] == "KeyError"


async def test_an_error_routed_to_on_error_carries_its_type(make_engine: MakeEngine) -> None:
    seen: list[dict[str, Any]] = []
    async with make_engine(proxy(seen)) as engine:
        outcome = await engine.run("routed", {}, timeout=30)
    assert outcome.status is Status.COMPLETED
    assert outcome.error_type == ""
    assert seen == [{"error": "'api_key'", "errorType": "KeyError", "statusCode": 500}]
