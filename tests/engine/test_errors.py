"""Misuse of the flow operations raises the documented error, never a driver or pydantic error.

docs/internals/api-contract.md#a3: a malformed key is a 400, an unknown flow (including a real id
with a wrong token, or a shard that is not open) a 404, an operation in the wrong state a 409, any
operation on an engine that is not running a 503, and bad input a 400 whose message names the field.
A timed-out wait raises ``TimeoutError`` and leaves the flow running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnavailableError,
)
from dwarf.workflow import END, Flow, FlowOptions, Graph, Status
from tests.fixtures.engines import MakeEngine

KeyOp = Callable[[Engine, str], Awaitable[Any]]

KEY_OPS: list[Any] = [
    pytest.param(lambda e, k: e.start(k), id="start"),
    pytest.param(lambda e, k: e.start_notify(k, "host"), id="start_notify"),
    pytest.param(lambda e, k: e.await_flow(k, timeout=5), id="await_flow"),
    pytest.param(lambda e, k: e.poll(k, timeout=0.1), id="poll"),
    pytest.param(lambda e, k: e.snapshot(k), id="snapshot"),
    pytest.param(lambda e, k: e.resume(k, {"x": 1}), id="resume"),
    pytest.param(lambda e, k: e.cancel(k, "why"), id="cancel"),
]

UNKNOWN_KEY = "1-999999-0123456789abcdef"


def ops_proxy() -> tuple[TestProxy, asyncio.Event]:
    """Workflows ``quick`` (one no-op task), ``blocked`` (waits for the event) and ``ask``."""
    proxy = TestProxy()
    release = asyncio.Event()
    for name, task in (("quick", "noop"), ("blocked", "wait"), ("ask", "ask")):
        graph = Graph(name)
        graph.add_transition_chain(task, END)
        proxy.handle_graph(name, graph)
    invalid = Graph("invalid")
    invalid.add_task("dangling", "noop")  # no transition to END: fails validation
    proxy.handle_graph("invalid", invalid)

    @proxy.task("noop")
    async def noop(flow: Flow) -> None:
        pass

    @proxy.task("wait")
    async def wait(flow: Flow) -> None:
        await release.wait()

    @proxy.task("ask")
    async def ask(flow: Flow) -> None:
        flow.interrupt({"q": 1})

    return proxy, release


# --- 404 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", KEY_OPS)
async def test_an_unknown_flow_key_is_not_found(make_engine: MakeEngine, op: KeyOp) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        with pytest.raises(NotFoundError) as caught:
            await op(engine, UNKNOWN_KEY)

    assert caught.value.status_code == 404


@pytest.mark.parametrize("op", KEY_OPS)
async def test_a_real_flow_id_with_a_wrong_token_is_not_found(
    make_engine: MakeEngine, op: KeyOp
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        key = await engine.create("quick")
        shard, flow_id, token = key.split("-")
        forged = f"{shard}-{flow_id}-{'0' * 16 if token != '0' * 16 else '1' * 16}"
        with pytest.raises(NotFoundError):
            await op(engine, forged)
        assert (await engine.snapshot(key)).status is Status.CREATED, "the real flow is untouched"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("op", KEY_OPS)
async def test_a_key_on_a_shard_that_is_not_open_is_not_found(
    make_engine: MakeEngine, op: KeyOp
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        with pytest.raises(NotFoundError):
            await op(engine, "2-1-0123456789abcdef")


async def test_a_key_with_an_out_of_range_id_is_not_found(
    make_engine: MakeEngine, engine_dialect: str, request: pytest.FixtureRequest
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        with pytest.raises(NotFoundError):
            await engine.snapshot("1-99999999999999999999999-0123456789abcdef")


async def test_an_unregistered_workflow_is_not_found(make_engine: MakeEngine) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        with pytest.raises(NotFoundError):
            await engine.create("no-such-workflow")
        with pytest.raises(NotFoundError):
            await engine.run("no-such-workflow", timeout=30)


# --- 400: malformed keys ----------------------------------------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize("op", KEY_OPS)
@pytest.mark.parametrize(
    "bad_key",
    [
        "",
        "garbage",
        "1-2",
        "x-1-0123456789abcdef",
        "1-y-0123456789abcdef",
        "0-1-0123456789abcdef",
        "-1-1-0123456789abcdef",
        "1-1-",
        "1-1-0123456789abcdef0",
    ],
)
async def test_a_malformed_flow_key_is_a_bad_request(
    make_engine: MakeEngine, op: KeyOp, bad_key: str
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        with pytest.raises(BadRequestError) as caught:
            await op(engine, bad_key)

    assert caught.value.status_code == 400
    assert "flow" in str(caught.value)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("op", KEY_OPS)
async def test_a_key_that_is_not_a_string_is_a_bad_request(
    make_engine: MakeEngine, op: KeyOp
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        with pytest.raises(BadRequestError):
            await op(engine, 42)  # type: ignore[arg-type]


# --- 409 --------------------------------------------------------------------------------------


async def test_operations_in_the_wrong_state_conflict(make_engine: MakeEngine) -> None:
    proxy, release = ops_proxy()
    async with make_engine(proxy) as engine:
        created = await engine.create("quick")
        running = await engine.create("blocked")
        await engine.start(running)
        done = await engine.run("quick", timeout=30)
        failed_key = await engine.create_task("no-handler")
        await engine.start(failed_key)
        failed = await engine.await_flow(failed_key, timeout=30)

        conflicts = {
            "resume a created flow": engine.resume(created, {}),
            "start a running flow": engine.start(running),
            "start_notify a running flow": engine.start_notify(running, "h"),
            "resume a running flow": engine.resume(running, {}),
            "start a completed flow": engine.start(done.flow_key),
            "resume a completed flow": engine.resume(done.flow_key, {}),
            "cancel a completed flow": engine.cancel(done.flow_key),
            "cancel a failed flow": engine.cancel(failed.flow_key),
            "start a failed flow": engine.start(failed.flow_key),
        }
        codes = {}
        for what, call in conflicts.items():
            with pytest.raises(ConflictError) as caught:
                await call
            codes[what] = caught.value.status_code
        release.set()
        assert (await engine.await_flow(running, timeout=30)).status is Status.COMPLETED

    assert done.status is Status.COMPLETED
    assert failed.status is Status.FAILED
    assert set(codes.values()) == {409}


async def test_a_second_resume_of_the_same_interrupt_conflicts(make_engine: MakeEngine) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        key = await engine.create("ask")
        await engine.start(key)
        parked = await engine.await_flow(key, timeout=30)
    # An engine that dispatches nothing: after the resume the released step stays pending.
    async with make_engine(proxy, workers=0) as frozen:
        await frozen.resume(key, {"first": True})
        with pytest.raises(ConflictError):
            await frozen.resume(key, {"second": True})
        resumed = await frozen.snapshot(key)

    assert parked.status is Status.INTERRUPTED
    assert resumed.status is Status.RUNNING


# --- 503 --------------------------------------------------------------------------------------

ALL_OPS: list[Any] = [
    pytest.param(lambda e, k: e.create("quick"), id="create"),
    pytest.param(lambda e, k: e.create_task("noop"), id="create_task"),
    pytest.param(lambda e, k: e.run("quick", timeout=5), id="run"),
    *KEY_OPS,
]


@pytest.mark.parametrize("op", ALL_OPS)
async def test_every_operation_on_an_engine_never_started_is_unavailable(op: KeyOp) -> None:
    proxy, _ = ops_proxy()
    engine = Engine().with_graph_loader(proxy.load_graph).with_task_executor(proxy.execute_task)
    with pytest.raises(UnavailableError) as caught:
        await op(engine, UNKNOWN_KEY)

    assert caught.value.status_code == 503


@pytest.mark.sqlite_only
@pytest.mark.parametrize("op", ALL_OPS)
async def test_every_operation_on_a_shut_down_engine_is_unavailable(
    make_engine: MakeEngine, op: KeyOp
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        key = await engine.create("quick")

    with pytest.raises(UnavailableError):
        await op(engine, key)


async def test_an_await_pending_at_shutdown_is_released_as_unavailable(
    make_engine: MakeEngine,
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy, workers=0) as engine:
        key = await engine.create("quick")
        await engine.start(key)  # nothing dispatches: the flow stays running
        waiting = asyncio.ensure_future(engine.await_flow(key, timeout=30))
        # Let the waiter register and finish its first read (this checks the release of a
        # parked waiter, not a read racing the shards closing).
        await asyncio.sleep(0.1)

    with pytest.raises(UnavailableError):
        await asyncio.wait_for(waiting, 30)


# --- 400: bad input ---------------------------------------------------------------------------


BAD_INPUTS: list[Any] = [
    pytest.param(lambda e, k: e.create(""), "workflow_name", id="create-empty-name"),
    pytest.param(lambda e, k: e.create("   "), "workflow_name", id="create-blank-name"),
    pytest.param(lambda e, k: e.create(7), "workflow_name", id="create-name-not-str"),
    pytest.param(lambda e, k: e.run("", timeout=5), "workflow_name", id="run-empty-name"),
    pytest.param(lambda e, k: e.create_task(""), "task_name", id="create_task-empty-name"),
    pytest.param(lambda e, k: e.create("quick", ["x"]), "initial_state", id="state-not-object"),
    pytest.param(
        lambda e, k: e.create("quick", {"x": float("nan")}), "initial_state.x", id="state-nan"
    ),
    pytest.param(
        lambda e, k: e.create("quick", {"x": {"y": object()}}),
        "initial_state.x.y",
        id="state-not-json",
    ),
    pytest.param(
        lambda e, k: e.create("quick", {"x": "a\x00b"}), "initial_state.x", id="state-nul-char"
    ),
    pytest.param(lambda e, k: e.create_task("noop", "x"), "initial_state", id="task-state-str"),
    pytest.param(lambda e, k: e.run("quick", timeout=-1), "timeout", id="run-negative-timeout"),
    pytest.param(lambda e, k: e.run("quick", timeout="1s"), "timeout", id="run-timeout-str"),
    pytest.param(lambda e, k: e.await_flow(k, timeout=-1), "timeout", id="await-neg-timeout"),
    pytest.param(lambda e, k: e.poll(k, timeout=-0.5), "timeout", id="poll-negative-timeout"),
    pytest.param(lambda e, k: e.resume(k, ["x"]), "resume_data", id="resume-data-not-object"),
    pytest.param(
        lambda e, k: e.resume(k, {"x": float("inf")}), "resume_data.x", id="resume-data-inf"
    ),
    pytest.param(lambda e, k: e.cancel(k, 5), "reason", id="cancel-reason-not-str"),
    pytest.param(lambda e, k: e.start_notify(k, 5), "hostname", id="hostname-not-str"),
    pytest.param(lambda e, k: e.create("invalid"), "END", id="loader-graph-fails-validation"),
]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("op", "field"), BAD_INPUTS)
async def test_bad_input_is_a_bad_request_naming_the_field(
    make_engine: MakeEngine, op: KeyOp, field: str
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        key = await engine.create("ask")
        with pytest.raises(BadRequestError) as caught:
            await op(engine, key)
        after = await engine.snapshot(key)

    assert field in str(caught.value)
    assert after.status is Status.CREATED, "a refused call changes nothing"


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "op",
    [
        pytest.param(lambda e, o: e.create("quick", None, o), id="create"),
        pytest.param(lambda e, o: e.create_task("noop", None, o), id="create_task"),
        pytest.param(lambda e, o: e.run("quick", None, o, timeout=5), id="run"),
    ],
)
async def test_baggage_with_no_json_form_is_a_bad_request(
    make_engine: MakeEngine, op: Callable[[Engine, FlowOptions], Awaitable[Any]]
) -> None:
    proxy, _ = ops_proxy()
    options = FlowOptions(baggage={"handle": object()})
    async with make_engine(proxy) as engine:
        with pytest.raises(BadRequestError, match="baggage"):
            await op(engine, options)


@pytest.mark.sqlite_only
async def test_options_that_are_not_flow_options_are_a_bad_request(
    make_engine: MakeEngine,
) -> None:
    proxy, _ = ops_proxy()
    async with make_engine(proxy) as engine:
        with pytest.raises(BadRequestError, match="options"):
            await engine.create("quick", None, {"priority": 1})  # type: ignore[arg-type]


# --- timeouts ---------------------------------------------------------------------------------


async def test_a_timed_out_wait_raises_timeout_error_and_leaves_the_flow_running(
    make_engine: MakeEngine,
) -> None:
    proxy, release = ops_proxy()
    async with make_engine(proxy) as engine:
        with pytest.raises(TimeoutError):
            await engine.run("blocked", timeout=0.2)
        key = await engine.create("blocked")
        await engine.start(key)
        with pytest.raises(TimeoutError):
            await engine.await_flow(key, timeout=0.2)
        polled = await engine.poll(key, timeout=0.2)
        release.set()
        finished = await engine.await_flow(key, timeout=30)

    assert polled.status is Status.RUNNING
    assert polled.flow_key == key
    assert finished.status is Status.COMPLETED, "the timed-out wait did not cancel the flow"
