"""State survives the database intact: non-ASCII text, large values, and deletions.

Ports upstream unicoderoundtripflow (multi-byte, right-to-left, astral-plane and escape-heavy
text through state, the interrupt payload, resume data, baggage and the workflow name),
largestateflow (a final state over 64 KB, MariaDB's TEXT ceiling) and deletetombstoneflow (a
deleted key is absent from the final state, not a ``null``).
"""

from __future__ import annotations

from typing import Any

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOptions, Graph, Query, Status, current_baggage
from tests.fixtures.engines import MakeEngine

ACCENTS = "café naïve — Ω≈ç√"
CJK = "日本語のテキスト"
RTL = "مرحبا بالعالم"
ASTRAL = "🚀🎉 astral"
ESCAPED = 'quote " backslash \\ slash / ünïcödé'
WORKFLOW = "Ünicödé 日本語 Graph"


async def test_non_ascii_text_round_trips_through_every_stored_payload(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph(WORKFLOW)
    graph.add_transition_chain("Write", "Ask", END)
    proxy.handle_graph(WORKFLOW, graph)
    seen: dict[str, Any] = {}

    @proxy.task("Write")
    async def write(flow: Flow) -> None:
        flow.set_string("cjk", CJK)
        flow.set_string("rtl", RTL)
        flow.set_string("astral", ASTRAL)
        flow.set_string("escaped", ESCAPED)
        flow.set(ACCENTS, [CJK, {RTL: ASTRAL}])  # non-ASCII keys too

    @proxy.task("Ask")
    async def ask(flow: Flow) -> None:
        seen["baggage"] = current_baggage()
        reply = flow.interrupt({"question": CJK, "detail": ACCENTS})
        flow.set_string("answered", reply["reply"])

    async with make_engine(proxy) as engine:
        key = await engine.create(WORKFLOW, {"seed": ACCENTS}, FlowOptions(baggage={"tenant": CJK}))
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"reply": RTL})
        outcome = await engine.await_flow(key, timeout=30)
        listed, _ = await engine.list_flows(Query())
        steps = await engine.history(key)
        ask_step = await engine.step(next(s.step_key for s in steps if s.task_name == "Ask"))

    written = {
        "cjk": CJK,
        "rtl": RTL,
        "astral": ASTRAL,
        "escaped": ESCAPED,
        ACCENTS: [CJK, {RTL: ASTRAL}],
    }
    assert parked.status is Status.INTERRUPTED
    assert parked.interrupt_payload == {"question": CJK, "detail": ACCENTS}
    assert parked.state == {"seed": ACCENTS, **written}
    assert seen["baggage"] == {"tenant": CJK}
    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"seed": ACCENTS, **written, "answered": RTL}
    assert [summary.workflow_name for summary in listed] == [WORKFLOW]
    assert ask_step.state == {"seed": ACCENTS, **written}


async def test_a_final_state_larger_than_64_kb_round_trips(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("large")
    graph.add_transition_chain("Carry", "Grow", END)
    proxy.handle_graph("large", graph)

    @proxy.task("Carry")
    async def carry(flow: Flow) -> None:
        pass

    @proxy.task("Grow")
    async def grow(flow: Flow) -> None:
        flow.set_strings("lines", [f"line {i:06d} " + "é" * 40 for i in range(2000)])

    payload = "x" * (200 * 1024)
    async with make_engine(proxy) as engine:
        outcome = await engine.run("large", {"payload": payload}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert len(outcome.state["payload"]) == len(payload)
    assert outcome.state["payload"] == payload
    assert outcome.state["lines"] == [f"line {i:06d} " + "é" * 40 for i in range(2000)]


def tombstone_proxy(seen: dict[str, Any]) -> TestProxy:
    """TaskA deletes ``drop``; TaskB records how the next step sees the state."""
    proxy = TestProxy()
    graph = Graph("tombstone")
    graph.add_transition_chain("TaskA", "TaskB", END)
    proxy.handle_graph("tombstone", graph)

    @proxy.task("TaskA")
    async def task_a(flow: Flow) -> None:
        flow.delete("drop")

    @proxy.task("TaskB")
    async def task_b(flow: Flow) -> None:
        seen["hasDrop"] = flow.has("drop")
        seen["snapshot"] = flow.snapshot()

    return proxy


async def test_a_deleted_key_is_absent_from_the_final_state(make_engine: MakeEngine) -> None:
    seen: dict[str, Any] = {}
    async with make_engine(tombstone_proxy(seen)) as engine:
        outcome = await engine.run("tombstone", {"keep": 1, "drop": 2}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"keep": 1}
    assert seen["hasDrop"] is False


async def test_a_deleted_key_is_absent_from_the_next_tasks_snapshot(
    make_engine: MakeEngine,
) -> None:
    seen: dict[str, Any] = {}
    async with make_engine(tombstone_proxy(seen)) as engine:
        outcome = await engine.run("tombstone", {"keep": 1, "drop": 2}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert seen["snapshot"] == {"keep": 1}


async def test_integers_beyond_double_precision_stay_exact(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("big")
    graph.add_transition_chain("Double", END)
    proxy.handle_graph("big", graph)

    @proxy.task("Double")
    async def double(flow: Flow) -> None:
        flow.set_int("twice", flow.get_int("id") * 2)

    big = 2**53 + 1
    async with make_engine(proxy) as engine:
        outcome = await engine.run("big", {"id": big}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"id": big, "twice": 2 * big}


async def test_a_null_in_the_input_is_dropped_even_by_steps_that_change_nothing(
    make_engine: MakeEngine,
) -> None:
    # A step that changes nothing hands its stored input on as is, unless that input holds a
    # top-level null: then the successor (and the final state) must still lose the key.
    proxy = TestProxy()
    graph = Graph("idle")
    graph.add_transition_chain("Pass", "Look", END)
    proxy.handle_graph("idle", graph)
    seen: dict[str, Any] = {}

    @proxy.task("Pass")
    async def pass_on(flow: Flow) -> None:
        del flow

    @proxy.task("Look")
    async def look(flow: Flow) -> None:
        seen["second"] = flow.snapshot()

    async with make_engine(proxy) as engine:
        outcome = await engine.run("idle", {"keep": [1, None], "gone": None}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert seen["second"] == {"keep": [1, None]}
    assert outcome.state == {"keep": [1, None]}
