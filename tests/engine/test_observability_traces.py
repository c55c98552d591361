"""Traces: one trace per flow across replicas and subgraphs, the step span current in the task.

The ``workflow`` span is minted at create and its traceparent stored on the flow; each replica
that runs a step parents the step's span by that stored value, so the trace holds together
without replicas sharing anything but the database.
"""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.engine.otel_support import Telemetry
from tests.fixtures.engines import MakeEngine


def attr(span: ReadableSpan, name: str) -> object:
    """One attribute of a finished span."""
    return (span.attributes or {}).get(name)


def traced_proxy(current: dict[str, list[int]]) -> TestProxy:
    """two: T1 (interrupts once) -> T2 (calls child) -> END; child: C1 -> END; boom: X raises.

    Each task records the span id current while it runs in ``current[task]``.
    """
    proxy = TestProxy()
    two = Graph("two")
    two.add_transition_chain("T1", "T2", END)
    proxy.handle_graph("two", two)
    child = Graph("child")
    child.add_transition("C1", END)
    proxy.handle_graph("child", child)
    boom = Graph("boom")
    boom.add_transition("X", END)
    proxy.handle_graph("boom", boom)

    def note(task: str) -> None:
        current.setdefault(task, []).append(trace.get_current_span().get_span_context().span_id)

    @proxy.task("T1")
    async def t1(flow: Flow) -> None:
        note("T1")
        flow.interrupt({"why": "wait"})

    @proxy.task("T2")
    async def t2(flow: Flow) -> None:
        note("T2")
        flow.set("child", flow.subgraph("child"))

    @proxy.task("C1")
    async def c1(flow: Flow) -> None:
        note("C1")

    @proxy.task("X")
    async def x(flow: Flow) -> None:
        raise KeyError("api_key")

    return proxy


async def test_one_trace_spans_two_replicas_and_a_subgraph(make_engine: MakeEngine) -> None:
    current: dict[str, list[int]] = {}
    proxy = traced_proxy(current)
    first, second = Telemetry(), Telemetry()
    async with make_engine(proxy, tracer_provider=first.tracer_provider) as replica:
        paused = await replica.run("two", {}, timeout=30)
    assert paused.status is Status.INTERRUPTED
    async with make_engine(proxy, tracer_provider=second.tracer_provider) as replica:
        await replica.resume(paused.flow_key, {})
        done = await replica.await_flow(paused.flow_key, timeout=30)
    assert done.status is Status.COMPLETED

    spans = first.spans() + second.spans()
    assert {span.context.trace_id for span in spans} == {spans[0].context.trace_id}
    workflows = [s for s in spans if s.name == "workflow"]
    root = next(s for s in workflows if attr(s, "workflow.name") == "two")
    child = next(s for s in workflows if attr(s, "workflow.name") == "child")
    assert root.parent is None
    assert root in first.spans()  # minted at create, on the first replica

    def named(name: str) -> list[ReadableSpan]:
        return [s for s in spans if s.name == name]

    t1_spans = named("T1")
    assert len(t1_spans) == 2  # first run (replica 1), re-run after resume (replica 2)
    assert [s in first.spans() for s in t1_spans].count(True) == 1
    assert {s.parent.span_id for s in t1_spans if s.parent} == {root.context.span_id}
    assert all(attr(s, "workflow.id") == paused.flow_key for s in t1_spans)
    t2_spans = named("T2")
    assert child.parent is not None
    assert child.parent.span_id in {s.context.span_id for s in t2_spans}
    c1_spans = named("C1")
    assert [s.parent.span_id for s in c1_spans if s.parent] == [child.context.span_id]
    assert attr(c1_spans[0], "workflow.name") == "child"

    # The step's span is the current span inside its task.
    for task in ("T1", "T2", "C1"):
        assert set(current[task]) == {s.context.span_id for s in named(task)}


@pytest.mark.sqlite_only
async def test_root_flows_start_their_own_trace_unless_linked(make_engine: MakeEngine) -> None:
    proxy = traced_proxy({})
    for link in (False, True):
        otel = Telemetry()
        host = otel.tracer_provider.get_tracer("host")
        async with make_engine(
            proxy, tracer_provider=otel.tracer_provider, link_root_traces=link
        ) as engine:
            with host.start_as_current_span("request") as request:
                await engine.create("child", {})
        (workflow,) = [s for s in otel.spans() if s.name == "workflow"]
        if link:
            assert workflow.parent is not None
            assert workflow.parent.span_id == request.get_span_context().span_id
            assert workflow.context.trace_id == request.get_span_context().trace_id
        else:
            assert workflow.parent is None
            assert workflow.context.trace_id != request.get_span_context().trace_id


@pytest.mark.sqlite_only
async def test_a_task_exception_is_recorded_on_its_span(make_engine: MakeEngine) -> None:
    otel = Telemetry()
    async with make_engine(traced_proxy({}), tracer_provider=otel.tracer_provider) as engine:
        outcome = await engine.run("boom", {}, timeout=30)
    assert outcome.status is Status.FAILED
    (span,) = [s for s in otel.spans() if s.name == "X"]
    assert span.status.status_code is StatusCode.ERROR
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "KeyError"
