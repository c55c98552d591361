"""Logs: structured records for a flow's lifecycle, a failed task's type and traceback, and
never a password or a state value in any record or span."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.engine.otel_support import Telemetry
from tests.fixtures.engines import MakeEngine
from tests.fixtures.logs import Records

SECRET_STATE = "state-value-7f3a9c"
PASSWORD = "pw-b71e04d2"


def proxy() -> TestProxy:
    """ok: A -> B -> END; broken: K raises KeyError('api_key')."""
    proxy = TestProxy()
    ok = Graph("ok")
    ok.add_transition_chain("A", "B", END)
    proxy.handle_graph("ok", ok)
    broken = Graph("broken")
    broken.add_transition("K", END)
    proxy.handle_graph("broken", broken)

    @proxy.task("A")
    async def a(flow: Flow) -> None:
        flow.set("seen", flow.get_string("secret"))

    @proxy.task("B")
    async def b(flow: Flow) -> None:
        pass

    @proxy.task("K")
    async def k(flow: Flow) -> None:
        raise KeyError("api_key")

    return proxy


@pytest.mark.sqlite_only
async def test_a_flows_lifecycle_is_logged_with_structured_fields(
    make_engine: MakeEngine, records: tuple[logging.Logger, Records]
) -> None:
    logger, handler = records
    async with make_engine(proxy(), logger=logger) as engine:
        key = await engine.create("ok", {"secret": "x"})
        await engine.start(key)
        assert (await engine.await_flow(key, timeout=30)).status is Status.COMPLETED

    transitions = [
        (r.from_status, r.to_status)  # type: ignore[attr-defined]
        for r in handler.records
        if r.levelno == logging.INFO and r.getMessage().startswith("Flow status transition")
    ]
    assert transitions == [("", "created"), ("created", "running"), ("running", "completed")]
    for record in handler.records:
        if record.levelno == logging.INFO:
            assert (record.flow_key, record.workflow, record.shard) == (key, "ok", 1)  # type: ignore[attr-defined]
    executing = [r for r in handler.records if r.getMessage().startswith("Executing task")]
    assert [r.task for r in executing] == ["A", "B"]  # type: ignore[attr-defined]
    assert all(r.levelno == logging.DEBUG and r.flow_key == key for r in executing)  # type: ignore[attr-defined]
    assert len({r.step_key for r in executing}) == 2  # type: ignore[attr-defined]
    completed = [r for r in handler.records if r.getMessage().startswith("Task completed")]
    assert [r.task for r in completed] == ["A", "B"]  # type: ignore[attr-defined]


@pytest.mark.sqlite_only
async def test_a_failed_tasks_type_and_traceback_are_logged_as_a_warning(
    make_engine: MakeEngine, records: tuple[logging.Logger, Records]
) -> None:
    logger, handler = records
    async with make_engine(proxy(), logger=logger) as engine:
        outcome = await engine.run("broken", {}, timeout=30)
    assert outcome.status is Status.FAILED
    (warning,) = [r for r in handler.records if r.levelno == logging.WARNING]
    assert "KeyError: 'api_key'" in warning.getMessage()
    assert warning.error_type == "KeyError"  # type: ignore[attr-defined]
    assert warning.task == "K"  # type: ignore[attr-defined]
    assert warning.exc_info is not None
    assert warning.exc_info[0] is KeyError
    assert logging.Formatter().formatException(warning.exc_info).startswith("Traceback")


def with_password(dsn: str) -> str:
    """``dsn`` with a password (PostgreSQL's trust authentication ignores it)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{host}"))


async def test_no_password_or_state_value_reaches_a_log_record_or_a_span(
    engine_dsn: str, records: tuple[logging.Logger, Records]
) -> None:
    logger, handler = records
    otel = Telemetry()
    dsn = with_password(engine_dsn) if engine_dsn.startswith("postgresql") else engine_dsn
    served = proxy()
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(served.load_graph)
        .with_task_executor(served.execute_task)
        .with_logger(logger)
        .with_meter_provider(otel.meter_provider)
        .with_tracer_provider(otel.tracer_provider)
    )
    async with engine:
        assert (await engine.run("ok", {"secret": SECRET_STATE}, timeout=30)).state
        await engine.run("broken", {"secret": SECRET_STATE}, timeout=30)
    assert handler.records
    formatter = logging.Formatter()
    for record in handler.records:
        text = formatter.format(record) + repr(vars(record))
        assert SECRET_STATE not in text
        assert PASSWORD not in text
    spans = otel.spans()
    assert spans
    for span in spans:
        text = span.to_json()
        assert SECRET_STATE not in text
        assert PASSWORD not in text
