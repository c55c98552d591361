"""onError routing: a failing task's error goes to its handler, or fails the flow.

Ports upstream errorchangesflow (an error voids the failing task's writes, on both error paths)
and panicflow (any exception a task raises, including a mistyped typed read, is an ordinary step
error), plus the ``onErr`` payload the handler reads (API settled detail 2).
"""

from __future__ import annotations

from typing import Any

import pytest

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.engines import MakeEngine


class QuotaError(Exception):
    """An error with an HTTP-style status code and extra properties for the onErr payload."""

    status_code = 429

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.properties = {"retryAfter": 30, "tenant": "acme"}


def work_graph(name: str, *, handled: bool) -> Graph:
    """Work -> END, with Work -(onError)-> Rescue -> END when ``handled``."""
    graph = Graph(name)
    graph.add_task("Work", "work")
    graph.add_transition("Work", END)
    if handled:
        graph.add_task("Rescue", "rescue")
        graph.add_transition_on_error("Work", "Rescue")
        graph.add_transition("Rescue", END)
    return graph


class Recorder:
    """What the Rescue handler observed."""

    def __init__(self) -> None:
        self.on_err: dict[str, Any] | None = None
        self.saw_scratch = False
        self.state: dict[str, Any] = {}


def error_proxy(work: Any, seen: Recorder) -> TestProxy:
    proxy = TestProxy()
    proxy.handle_graph("handled", work_graph("handled", handled=True))
    proxy.handle_graph("unhandled", work_graph("unhandled", handled=False))
    proxy.handle_task("work", work)

    @proxy.task("rescue")
    async def rescue(flow: Flow) -> None:
        seen.saw_scratch = flow.has("scratch")
        seen.on_err = flow.get("onErr", dict)
        seen.state = flow.snapshot()
        flow.set_string("rescued", "yes")

    return proxy


async def write_then_fail(flow: Flow) -> None:
    flow.set_string("scratch", "half-written")
    if flow.get_bool("ok"):
        return
    raise RuntimeError("Work failed after writing scratch")


async def test_on_error_handler_receives_the_error_but_not_the_failed_tasks_writes(
    make_engine: MakeEngine,
) -> None:
    seen = Recorder()
    async with make_engine(error_proxy(write_then_fail, seen)) as engine:
        outcome = await engine.run("handled", {"input": 1}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["rescued"] == "yes"
    assert not seen.saw_scratch, "the handler must not see the failed task's changes"
    assert "scratch" not in outcome.state, "a failed task's changes must not reach the final state"
    assert seen.on_err == {
        "error": "Work failed after writing scratch",
        "errorType": "RuntimeError",
        "statusCode": 500,
    }
    assert seen.state["input"] == 1, "the handler starts from the failed task's input state"


async def test_unhandled_failure_fails_the_flow_and_drops_the_tasks_writes(
    make_engine: MakeEngine,
) -> None:
    seen = Recorder()
    async with make_engine(error_proxy(write_then_fail, seen)) as engine:
        outcome = await engine.run("unhandled", timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.error == "Work failed after writing scratch"
    assert "scratch" not in outcome.state


async def test_a_successful_tasks_writes_are_kept(make_engine: MakeEngine) -> None:
    seen = Recorder()
    async with make_engine(error_proxy(write_then_fail, seen)) as engine:
        outcome = await engine.run("unhandled", {"ok": True}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["scratch"] == "half-written"


async def test_on_err_carries_the_status_code_and_properties_of_the_error(
    make_engine: MakeEngine,
) -> None:
    async def over_quota(flow: Flow) -> None:
        raise QuotaError("quota exceeded")

    seen = Recorder()
    async with make_engine(error_proxy(over_quota, seen)) as engine:
        outcome = await engine.run("handled", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert seen.on_err == {
        "error": "quota exceeded",
        "errorType": "QuotaError",
        "statusCode": 429,
        "retryAfter": 30,
        "tenant": "acme",
    }
    assert outcome.state["onErr"]["statusCode"] == 429


def divide_by_zero(flow: Flow) -> None:
    flow.set_int("ratio", 1 // flow.get_int("zero"))


async def boom(flow: Flow) -> None:
    raise KeyError("boom")


@pytest.mark.parametrize(
    "work",
    [
        pytest.param(boom, id="async-handler-raises-keyerror"),
        pytest.param(divide_by_zero, id="plain-handler-raises-zerodivision"),
    ],
)
async def test_any_exception_without_on_error_fails_the_flow(
    make_engine: MakeEngine, work: Any
) -> None:
    async with make_engine(error_proxy(work, Recorder())) as engine:
        outcome = await engine.run("unhandled", timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.error != ""


@pytest.mark.parametrize(
    "work",
    [
        pytest.param(boom, id="async-handler-raises-keyerror"),
        pytest.param(divide_by_zero, id="plain-handler-raises-zerodivision"),
    ],
)
async def test_any_exception_with_on_error_routes_to_the_handler(
    make_engine: MakeEngine, work: Any
) -> None:
    seen = Recorder()
    async with make_engine(error_proxy(work, seen)) as engine:
        outcome = await engine.run("handled", timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["rescued"] == "yes"
    assert seen.on_err is not None
    assert seen.on_err["statusCode"] == 500


async def test_a_mistyped_typed_read_is_a_step_error_routed_to_on_error(
    make_engine: MakeEngine,
) -> None:
    async def read(flow: Flow) -> None:
        flow.set_int("delay", flow.get_int("retryAfter"))  # 1.5 is not an int: TypeError

    seen = Recorder()
    async with make_engine(error_proxy(read, seen)) as engine:
        outcome = await engine.run("handled", {"retryAfter": 1.5}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["rescued"] == "yes"
    assert "delay" not in outcome.state, "the task must not proceed past the mistyped read"
    assert seen.on_err is not None
    assert "retryAfter" in seen.on_err["error"]


async def test_a_failing_on_error_handler_fails_the_flow_with_its_own_error(
    make_engine: MakeEngine,
) -> None:
    seen = Recorder()
    proxy = error_proxy(write_then_fail, seen)

    @proxy.task("rescue")
    async def rescue(flow: Flow) -> None:
        raise RuntimeError("rescue failed too")

    async with make_engine(proxy) as engine:
        outcome = await engine.run("handled", timeout=30)

    assert outcome.status is Status.FAILED
    assert outcome.error == "rescue failed too"
