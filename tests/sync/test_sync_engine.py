"""``SyncEngine`` from plain threads: flows run, calls overlap, and closing leaves no thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from dwarf.engine import Engine, Registry
from dwarf.errors import BadRequestError, ConflictError, UnavailableError
from dwarf.sync import SyncEngine
from dwarf.workflow import END, Flow, Graph, Status


@pytest.fixture
def no_thread_left_behind() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t.name for t in set(threading.enumerate()) - before]
    assert not left, f"threads left running: {left}"


def double_then_label(registry: Registry) -> Engine:
    g = Graph("double")
    g.add_task("double", "double")
    g.add_task("label", "label")
    g.add_transition_chain("double", "label")
    g.add_transition("label", END)
    registry.handle_graph("double", g)

    @registry.task("double")
    async def double(flow: Flow) -> None:
        flow.set_int("n", flow.get_int("n") * 2)

    @registry.task("label")
    def label(flow: Flow) -> None:  # a plain def: runs in the loop's worker threads
        flow.set_string("label", f"n={flow.get_int('n')}")

    return Engine().with_graph_loader(registry.load_graph).with_task_executor(registry.execute_task)


@pytest.mark.usefixtures("no_thread_left_behind")
def test_a_flow_runs_to_its_end_from_a_plain_thread() -> None:
    with SyncEngine(double_then_label(Registry()), in_test=True) as eng:
        out = eng.run("double", {"n": 21}, timeout=30)
        assert out.status == Status.COMPLETED
        assert out.state["label"] == "n=42"
        assert [s.task_name for s in eng.history(out.flow_key)] == ["double", "label"]
        assert eng.snapshot(out.flow_key).status == Status.COMPLETED


@pytest.mark.usefixtures("no_thread_left_behind")
def test_four_threads_call_at_once() -> None:
    with SyncEngine(double_then_label(Registry()), in_test=True) as eng:

        def client(base: int) -> list[str]:
            labels = []
            for i in range(5):
                key = eng.create("double", {"n": base + i})
                eng.start(key)
                labels.append(eng.await_flow(key, timeout=30).state["label"])
            return labels

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(client, [0, 100, 200, 300]))
    assert results == [[f"n={2 * (base + i)}" for i in range(5)] for base in (0, 100, 200, 300)]


@pytest.mark.usefixtures("no_thread_left_behind")
def test_a_handler_calling_its_own_sync_engine_fails_instead_of_hanging() -> None:
    registry = Registry()
    g = Graph("inner")
    g.add_task("call", "call")
    g.add_transition("call", END)
    registry.handle_graph("inner", g)
    holder: list[SyncEngine] = []

    @registry.task("call")
    async def call(flow: Flow) -> None:
        holder[0].snapshot(flow.flow_key)

    engine = Engine().with_graph_loader(registry.load_graph)
    with SyncEngine(engine.with_task_executor(registry.execute_task), in_test=True) as eng:
        holder.append(eng)
        out = eng.run("inner", timeout=30)
    assert out.status == Status.FAILED
    assert out.error_type == ConflictError.__name__
    assert "called from its own event loop" in out.error


@pytest.mark.usefixtures("no_thread_left_behind")
def test_calls_after_close_are_refused_and_close_is_idempotent() -> None:
    eng = SyncEngine(double_then_label(Registry()), in_test=True)
    eng.close()
    eng.close()
    with pytest.raises(UnavailableError, match="the sync engine is closed"):
        eng.run("double", {"n": 1})


@pytest.mark.usefixtures("no_thread_left_behind")
def test_a_startup_error_is_raised_and_stops_the_loop() -> None:
    with pytest.raises(BadRequestError, match="no graph loader"):
        SyncEngine(Engine(), in_test=True)
