"""Mistakes a new user makes get errors that say what to do (docs/internals/routing.md#r7 and
#r8, docs/internals/api-contract.md): each test asserts the error type and that the message
names the field or suggests the fix."""

from __future__ import annotations

import logging
import uuid

import pytest

from dwarf.engine import TestProxy
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from tests.fixtures.engines import MakeEngine


async def test_an_unknown_handler_lists_the_nearest_registered_urls(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("ship")
    graph.add_task("ship", "svc/shipp")  # the handler below is registered as svc/ship
    graph.add_transition("ship", END)
    proxy.handle_graph("ship", graph)

    @proxy.task("svc/ship")
    async def ship(flow: Flow) -> None:
        pass

    async with make_engine(proxy) as engine:
        outcome = await engine.run("ship", timeout=30)

    assert outcome.status is Status.FAILED
    assert "'svc/shipp'" in outcome.error
    assert "nearest registered: 'svc/ship'" in outcome.error


def one_task_proxy() -> TestProxy:
    proxy = TestProxy()
    graph = Graph("quick")
    graph.add_transition_chain("noop", END)
    proxy.handle_graph("quick", graph)

    @proxy.task("noop")
    async def noop(flow: Flow) -> None:
        pass

    return proxy


async def test_a_malformed_thread_key_names_the_option_echoes_it_and_states_the_form(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(one_task_proxy()) as engine:
        with pytest.raises(BadRequestError) as info:
            await engine.create("quick", options=FlowOptions(thread_key="customer-7"))
    message = str(info.value)
    assert "options.thread_key" in message
    assert "'customer-7'" in message
    assert '"<shard>-<id>-<token>"' in message


async def test_an_unknown_key_is_echoed_with_the_argument_that_carried_it(
    make_engine: MakeEngine,
) -> None:
    unknown = "1-999999-0123456789abcdef"
    async with make_engine(one_task_proxy()) as engine:
        with pytest.raises(NotFoundError) as flow_info:
            await engine.snapshot(unknown)
        with pytest.raises(NotFoundError) as step_info:
            await engine.step(unknown)
    assert str(flow_info.value) == f"flow {unknown!r} (flow_key) not found"
    assert str(step_info.value) == f"step {unknown!r} (step_key) not found"


async def test_a_step_key_given_for_a_flow_key_says_so_and_names_the_flow(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(one_task_proxy()) as engine:
        outcome = await engine.run("quick", timeout=30)
        step_key = (await engine.history(outcome.flow_key))[0].step_key
        with pytest.raises(BadRequestError) as info:
            await engine.snapshot(step_key)
    message = str(info.value)
    assert f"flow_key {step_key!r} is a step key, not a flow key" in message
    assert repr(outcome.flow_key) in message


async def test_a_flow_key_given_for_a_step_key_says_so(make_engine: MakeEngine) -> None:
    async with make_engine(one_task_proxy()) as engine:
        outcome = await engine.run("quick", timeout=30)
        with pytest.raises(BadRequestError) as info:
            await engine.fork(outcome.flow_key)
    assert f"step_key {outcome.flow_key!r} is a flow key, not a step key" in str(info.value)


class Warnings(logging.Handler):
    """Collects the WARNING records an engine logs."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message."""
        if record.levelno == logging.WARNING:
            self.messages.append(record.getMessage())


def warning_logger() -> tuple[logging.Logger, Warnings]:
    logger = logging.getLogger(f"dwarf.tests.graph_safety.{uuid.uuid4().hex}")
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    warnings = Warnings()
    logger.addHandler(warnings)
    return logger, warnings


def checkout_proxy(*, when: str, strict: bool = False) -> TestProxy:
    """``charge`` sets ``count = 5`` and ``status = 'paid'``; ``ship`` follows iff ``when``."""
    proxy = TestProxy()
    graph = Graph("checkout")
    graph.add_task("charge", "svc/charge")
    graph.add_task("ship", "svc/ship")
    graph.add_transition_when("charge", "ship", when)
    graph.add_transition("ship", END)
    graph.set_strict_routing(strict)
    proxy.handle_graph("checkout", graph)

    @proxy.task("svc/charge")
    async def charge(flow: Flow) -> None:
        flow.set("count", 5)
        flow.set("status", "paid")

    @proxy.task("svc/ship")
    async def ship(flow: Flow) -> None:
        flow.set("shipped", True)

    return proxy


async def test_a_dead_end_completes_but_its_history_entry_and_the_log_say_so(
    make_engine: MakeEngine,
) -> None:
    logger, warnings = warning_logger()
    async with make_engine(checkout_proxy(when="stauts == 'paid'"), logger=logger) as engine:
        outcome = await engine.run("checkout", timeout=30)
        history = await engine.history(outcome.flow_key)
        step = await engine.step(history[0].step_key)

    assert outcome.status is Status.COMPLETED
    assert "shipped" not in outcome.state
    assert [entry.task_name for entry in history] == ["charge"]
    expected = "no transition matched out of 'charge' (\"stauts == 'paid'\" is false)"
    assert history[0].note == expected
    assert step.note == expected
    assert history[0].error == ""
    assert any(expected in message for message in warnings.messages)


async def test_strict_routing_fails_the_dead_end_step_with_the_conditions(
    make_engine: MakeEngine,
) -> None:
    async with make_engine(checkout_proxy(when="stauts == 'paid'", strict=True)) as engine:
        outcome = await engine.run("checkout", timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.error.startswith("strict routing: no transition matched out of 'charge'")
    assert "stauts == 'paid'" in outcome.error


async def test_a_when_comparing_different_types_is_noted_and_logged(
    make_engine: MakeEngine,
) -> None:
    logger, warnings = warning_logger()
    async with make_engine(checkout_proxy(when="count > 'abc'"), logger=logger) as engine:
        outcome = await engine.run("checkout", timeout=30)
        history = await engine.history(outcome.flow_key)

    assert outcome.status is Status.COMPLETED
    mismatch = (
        "\"count > 'abc'\" compared values of different types: count (number 5) > string 'abc'"
    )
    assert mismatch in history[0].note
    assert any(mismatch in message for message in warnings.messages)


async def test_a_step_whose_transition_matched_has_no_note(make_engine: MakeEngine) -> None:
    async with make_engine(checkout_proxy(when="status == 'paid'")) as engine:
        outcome = await engine.run("checkout", timeout=30)
        history = await engine.history(outcome.flow_key)

    assert outcome.state["shipped"] is True
    assert [entry.note for entry in history] == ["", ""]


async def test_retry_three_means_three_retries_after_the_first_run(
    make_engine: MakeEngine,
) -> None:
    proxy = TestProxy()
    graph = Graph("flaky")
    graph.add_transition_chain("flaky", END)
    proxy.handle_graph("flaky", graph)
    attempts: list[int] = []

    @proxy.task("flaky")
    async def flaky(flow: Flow) -> None:
        attempts.append(flow.attempt)
        if flow.retry(3, 0.0, 1.0, 0.0):
            return
        raise RuntimeError("still down")

    async with make_engine(proxy) as engine:
        outcome = await engine.run("flaky", timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.error == "still down"
    assert attempts == [0, 1, 2, 3]
