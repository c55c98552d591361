"""State size is bounded on every dialect (docs/internals/state.md#c10).

A document larger than ``MAX_STATE_BYTES`` is a BadRequestError naming the limit where a caller
hands it in (create, resume, the rewind overrides, continue_thread, baggage); one a task builds
(its changes, a successor's input, an interrupt payload) fails the step once with an error
naming the limit, never a server error or a step retried forever. A document just under the limit,
written in the form the MariaDB driver escapes most, round-trips on every dialect.
"""

from __future__ import annotations

import pytest

from dwarf.engine import TestProxy
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from dwarf.workflow._json import MAX_STATE_BYTES
from tests.fixtures.engines import MakeEngine

LIMIT = f"{MAX_STATE_BYTES:,}-byte limit for state"
# JSON doubles a backslash, and the MariaDB driver doubles each again: the worst case per byte.
NEAR_LIMIT = "\\" * ((MAX_STATE_BYTES - 100) // 2)
OVER_LIMIT = "x" * (MAX_STATE_BYTES + 1)


def proxy(calls: list[str]) -> TestProxy:
    p = TestProxy()
    ask = Graph("ask")
    ask.add_transition_chain("pause", "echo", END)
    p.handle_graph("ask", ask)
    one = Graph("one")
    one.add_transition("write", END)
    p.handle_graph("one", one)
    two = Graph("two")
    two.add_transition_chain("write", "echo", END)
    p.handle_graph("two", two)

    @p.task("pause")
    async def pause(flow: Flow) -> None:
        calls.append("pause")
        flow.interrupt({"q": "?"})

    @p.task("echo")
    async def echo(flow: Flow) -> None:
        calls.append("echo")

    @p.task("write")
    async def write(flow: Flow) -> None:
        calls.append("write")
        what = flow.get("what", str)
        if what == "near":
            flow.set("blob", NEAR_LIMIT)
        elif what == "over":
            flow.set("blob", OVER_LIMIT)
        elif what == "half":
            flow.set("other", "y" * (MAX_STATE_BYTES // 2 + 10))
        elif what == "payload":
            flow.interrupt({"blob": OVER_LIMIT})

    return p


async def test_a_state_near_the_limit_round_trips_on_every_dialect(
    make_engine: MakeEngine,
) -> None:
    calls: list[str] = []
    async with make_engine(proxy(calls)) as engine:
        # The last step of a flow writes its changes and the final state in one statement.
        outcome = await engine.run("one", {"what": "near"}, timeout=60)
        assert outcome.status is Status.COMPLETED, outcome.error
        assert outcome.state["blob"] == NEAR_LIMIT
        # A successor's input, and a created flow's initial state.
        outcome = await engine.run("two", {"what": "near"}, timeout=60)
        assert outcome.status is Status.COMPLETED, outcome.error
        assert outcome.state["blob"] == NEAR_LIMIT
        key = await engine.create("ask", {"blob": NEAR_LIMIT})
        await engine.start(key)
        await engine.await_flow(key, timeout=60)
        await engine.resume(key, {})
        outcome = await engine.await_flow(key, timeout=60)
    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state["blob"] == NEAR_LIMIT


async def test_a_document_over_the_limit_is_refused_where_it_enters(
    make_engine: MakeEngine,
) -> None:
    big = {"blob": OVER_LIMIT}
    half = {"other": "y" * (MAX_STATE_BYTES // 2 + 10)}
    async with make_engine(proxy([])) as engine:
        with pytest.raises(BadRequestError, match=rf"initial_state is .*{LIMIT}"):
            await engine.create("ask", big)
        with pytest.raises(BadRequestError, match=rf"initial_state is .*{LIMIT}"):
            await engine.create_task("echo", big)
        with pytest.raises(BadRequestError, match=rf"options\.baggage is .*{LIMIT}"):
            await engine.create("ask", {}, FlowOptions(baggage=big))
        key = await engine.create("ask", half)
        await engine.start(key)
        await engine.await_flow(key, timeout=60)
        with pytest.raises(BadRequestError, match=rf"resume_data is .*{LIMIT}"):
            await engine.resume(key, big)
        await engine.resume(key, {})
        assert (await engine.await_flow(key, timeout=60)).status is Status.COMPLETED
        # Overrides small enough alone, but not with the state they overlay.
        with pytest.raises(BadRequestError, match=rf"state with overrides is .*{LIMIT}"):
            await engine.restart(key, {"more": half["other"]})
        steps = await engine.history(key)
        with pytest.raises(BadRequestError, match=rf"state with overrides is .*{LIMIT}"):
            await engine.restart_from(steps[-1].step_key, {"more": half["other"]})
        with pytest.raises(BadRequestError, match=rf"state with overrides is .*{LIMIT}"):
            await engine.fork(steps[-1].step_key, {"more": half["other"]})
        with pytest.raises(BadRequestError, match=rf"additional_state is .*{LIMIT}"):
            await engine.continue_thread(key, {"more": half["other"]})
        paused = await engine.create("ask", half)
        await engine.break_before(paused, "pause", True)
        await engine.start(paused)
        assert (await engine.await_flow(paused, timeout=60)).status is Status.INTERRUPTED
        with pytest.raises(BadRequestError, match=rf"state with overrides is .*{LIMIT}"):
            await engine.resume_break(paused, {"more": half["other"]})
        # Nothing was written by the refusals: the flow runs on as it was.
        await engine.resume_break(paused, {})
        assert (await engine.await_flow(paused, timeout=60)).status is Status.INTERRUPTED
        await engine.resume(paused, {})
        outcome = await engine.await_flow(paused, timeout=60)
    assert outcome.status is Status.COMPLETED
    assert outcome.state == half


@pytest.mark.parametrize(
    ("graph", "what", "named"),
    [
        ("one", "over", "changes"),
        ("two", "half", "the input state of 'echo'"),
        ("two", "payload", "interrupt payload"),
    ],
)
async def test_a_task_building_a_document_over_the_limit_fails_its_step_once(
    make_engine: MakeEngine, graph: str, what: str, named: str
) -> None:
    calls: list[str] = []
    seed = {"what": what, "seed": "z" * (MAX_STATE_BYTES // 2)} if what == "half" else {}
    async with make_engine(proxy(calls)) as engine:
        outcome = await engine.run(graph, {"what": what, **seed}, timeout=60)
        steps = await engine.history(outcome.flow_key)
    assert outcome.status is Status.FAILED
    assert f"{named} is " in outcome.error
    assert LIMIT in outcome.error
    assert calls == ["write"], "the step failed once, it was not retried"
    assert [s.status for s in steps] == [Status.FAILED]
