"""Interrupt and resume: a task parks its flow for outside input and continues with it.

Ports upstream interruptflow (interrupt, resume, complete), interruptpayloadflow (the payload is
reported apart from the state), interruptpersistflow (writes made before the interrupt survive
it), an interrupt before any state exists, and repeated interrupts across a goto loop.
"""

from __future__ import annotations

from typing import Any

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status, merge_state
from tests.fixtures.engines import MakeEngine


def ask_proxy(resumed_with: list[dict[str, Any]]) -> TestProxy:
    """taskA -> awaitInput (interrupts, then copies ``userInput``) -> compose."""
    proxy = TestProxy()
    graph = Graph("interrupt")
    graph.add_transition_chain("taskA", "awaitInput", "compose", END)
    proxy.handle_graph("interrupt", graph)

    @proxy.task("taskA")
    async def task_a(flow: Flow) -> None:
        flow.set_string("fromA", "a")

    @proxy.task("awaitInput")
    async def await_input(flow: Flow) -> None:
        flow.set_string("draft", "written before the interrupt")
        data = flow.interrupt({"requestedInput": "userInput"})
        resumed_with.append(data)
        if "userInput" in data:
            flow.set("userInput", data["userInput"])

    @proxy.task("compose")
    async def compose(flow: Flow) -> None:
        flow.set_string("result", flow.get_string("prompt") + ", " + flow.get_string("userInput"))

    return proxy


async def test_interrupt_parks_the_flow_and_resume_completes_it(make_engine: MakeEngine) -> None:
    resumed_with: list[dict[str, Any]] = []
    async with make_engine(ask_proxy(resumed_with)) as engine:
        key = await engine.create("interrupt", {"prompt": "Hello"})
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"userInput": "world", "extra": 1})
        outcome = await engine.await_flow(key, timeout=30)

    assert parked.status is Status.INTERRUPTED
    assert parked.flow_key == key
    assert parked.interrupt_payload == {"requestedInput": "userInput"}
    assert outcome.status is Status.COMPLETED
    assert outcome.state["result"] == "Hello, world"
    assert resumed_with == [{"userInput": "world", "extra": 1}]
    # Resume data reaches the task only: nothing of it is merged into state by the engine.
    assert "extra" not in outcome.state


async def test_interrupt_payload_is_reported_apart_from_the_state(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("payload")
    graph.add_transition_chain("setup", "ask", END)
    proxy.handle_graph("payload", graph)

    @proxy.task("setup")
    async def setup(flow: Flow) -> None:
        flow.set_string("prompt", "choose")

    @proxy.task("ask")
    async def ask(flow: Flow) -> None:
        flow.interrupt({"question": "pick one", "options": ["a", "b"]})

    async with make_engine(proxy) as engine:
        key = await engine.create("payload")
        await engine.start(key)
        outcome = await engine.await_flow(key, timeout=30)
        snapshot = await engine.snapshot(key)

    assert outcome.status is Status.INTERRUPTED
    assert outcome.interrupt_payload == {"question": "pick one", "options": ["a", "b"]}
    assert outcome.state == {"prompt": "choose"}
    assert snapshot == outcome
    # A caller wanting the combined view merges the two itself.
    merged = merge_state(outcome.state, outcome.interrupt_payload, graph.reducers())
    assert merged == {"prompt": "choose", "question": "pick one", "options": ["a", "b"]}


async def test_writes_made_before_an_interrupt_persist_through_the_resume(
    make_engine: MakeEngine,
) -> None:
    resumed_with: list[dict[str, Any]] = []
    async with make_engine(ask_proxy(resumed_with)) as engine:
        key = await engine.create("interrupt", {"prompt": "Hi"})
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"userInput": "there"})
        outcome = await engine.await_flow(key, timeout=30)

    assert parked.state == {"prompt": "Hi", "fromA": "a", "draft": "written before the interrupt"}
    assert outcome.state["draft"] == "written before the interrupt"
    assert outcome.state["result"] == "Hi, there"


async def test_an_entry_task_can_interrupt_before_any_state_exists(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("first")
    graph.add_transition_chain("gate", "after", END)
    proxy.handle_graph("first", graph)

    @proxy.task("gate")
    async def gate(flow: Flow) -> None:
        answer = flow.interrupt()
        flow.set("approved", answer.get("approved", False))

    @proxy.task("after")
    async def after(flow: Flow) -> None:
        flow.set_bool("ran", True)

    async with make_engine(proxy) as engine:
        key = await engine.create("first")
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"approved": True})
        outcome = await engine.await_flow(key, timeout=30)

    assert parked.status is Status.INTERRUPTED
    assert parked.state == {}
    assert parked.interrupt_payload == {}
    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"approved": True, "ran": True}


async def test_each_goto_round_through_an_interrupting_task_interrupts_again(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("survey")
    graph.add_task("ask", "ask")
    graph.add_task("check", "check")
    graph.add_task("done", "done")
    graph.add_transition("ask", "check")
    graph.add_transition_goto("check", "ask")
    graph.add_transition("check", "done")
    graph.add_transition("done", END)
    proxy.handle_graph("survey", graph)

    @proxy.task("ask")
    async def ask(flow: Flow) -> None:
        answers = flow.get_strings("answers")
        reply = flow.interrupt({"question": len(answers) + 1})
        flow.set_strings("answers", [*answers, reply["answer"]])

    @proxy.task("check")
    async def check(flow: Flow) -> None:
        if len(flow.get_strings("answers")) < 3:
            flow.goto("ask")

    @proxy.task("done")
    async def done(flow: Flow) -> None:
        flow.set_string("summary", "/".join(flow.get_strings("answers")))

    payloads: list[dict[str, Any]] = []
    async with make_engine(proxy) as engine:
        key = await engine.create("survey")
        await engine.start(key)
        for answer in ("red", "green", "blue"):
            parked = await engine.await_flow(key, timeout=30)
            assert parked.status is Status.INTERRUPTED
            payloads.append(parked.interrupt_payload)
            await engine.resume(key, {"answer": answer})
        outcome = await engine.await_flow(key, timeout=30)

    assert payloads == [{"question": 1}, {"question": 2}, {"question": 3}]
    assert outcome.status is Status.COMPLETED
    assert outcome.state["summary"] == "red/green/blue"


async def test_a_plain_function_task_can_interrupt_and_resume(make_engine: MakeEngine) -> None:
    proxy = TestProxy()
    graph = Graph("sync")
    graph.add_transition_chain("confirm", END)
    proxy.handle_graph("sync", graph)

    @proxy.task("confirm")
    def confirm(flow: Flow) -> None:
        reply = flow.interrupt({"confirm": "delete?"})
        flow.set_bool("confirmed", bool(reply.get("yes")))

    async with make_engine(proxy) as engine:
        key = await engine.create("sync")
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"yes": True})
        outcome = await engine.await_flow(key, timeout=30)

    assert parked.status is Status.INTERRUPTED
    assert parked.interrupt_payload == {"confirm": "delete?"}
    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"confirmed": True}
