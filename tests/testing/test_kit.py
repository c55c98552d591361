"""The kit's helpers called directly: stubs, detailed history and the assertions' messages."""

from __future__ import annotations

import re

import pytest

from dwarf.engine import Engine, Registry
from dwarf.errors import BadRequestError
from dwarf.testing import assert_changes, assert_ran, run_to_end, started_engine
from dwarf.workflow import END, Flow, FlowStep, Graph, Status


def registry_with_chain() -> Registry:
    registry = Registry()
    g = Graph("chain")
    for name in ("a", "b", "c"):
        g.add_task(name, name)
    g.add_transition_chain("a", "b", "c")
    g.add_transition("c", END)
    registry.handle_graph("chain", g)

    @registry.task("a")
    async def a(flow: Flow) -> None:
        flow.set_int("n", flow.get_int("n") + 1)

    @registry.task("b")
    async def b(flow: Flow) -> None:
        flow.set_int("n", flow.get_int("n") * 10)

    @registry.task("c")
    async def c(flow: Flow) -> None:
        flow.set_string("done", "yes")

    return registry


async def test_stubs_replace_tasks_for_one_run_only() -> None:
    def plain_stub(flow: Flow) -> None:  # a plain def runs in a worker thread, as handlers do
        flow.set_int("n", -1)

    async with started_engine(registry_with_chain()) as engine:
        stubbed = await run_to_end(engine, "chain", {"n": 1}, stubs={"b": plain_stub})
        real = await run_to_end(engine, "chain", {"n": 1})
    assert stubbed.outcome.state["n"] == -1
    assert real.outcome.state["n"] == 20
    assert_ran(stubbed, ["a", "b", "c"])
    assert_changes(stubbed, "a", {"n": 2})
    assert_changes(real, "b", {"n": 20})


async def test_an_exception_stub_fails_the_flow_with_it() -> None:
    async with started_engine(registry_with_chain()) as engine:
        run = await run_to_end(engine, "chain", {"n": 1}, stubs={"c": KeyError("gone")})
    assert run.outcome.status == Status.FAILED
    assert run.outcome.error_type == "KeyError"
    assert_ran(run, ["a", "b", "c"])


async def test_a_stub_that_is_neither_handler_mapping_nor_exception_is_refused() -> None:
    async with started_engine(registry_with_chain()) as engine:
        with pytest.raises(BadRequestError, match=r"stubs\['b'\]: int is neither"):
            await run_to_end(engine, "chain", {"n": 1}, stubs={"b": 3})  # type: ignore[dict-item]


async def test_stubs_need_an_engine_the_kit_started() -> None:
    registry = registry_with_chain()
    engine = Engine().with_graph_loader(registry.load_graph)
    engine.with_task_executor(registry.execute_task)
    async with engine.run_in_test():
        with pytest.raises(BadRequestError, match="stubs: the engine was not started by"):
            await run_to_end(engine, "chain", {"n": 1}, stubs={"b": {"n": 0}})
        run = await run_to_end(engine, "chain", {"n": 1})  # without stubs, any engine will do
    assert_ran(run, ["a", "b", "c"])


def steps(*names: str, changes: dict[str, object] | None = None) -> list[FlowStep]:
    return [
        FlowStep(task_name=name, changes=changes or {}, status=Status.COMPLETED) for name in names
    ]


def test_assert_ran_names_the_first_difference() -> None:
    assert_ran(steps("a", "b"), ["a", "b"])
    with pytest.raises(AssertionError) as shorter:
        assert_ran(steps("a", "b"), ["a", "b", "c"])
    assert str(shorter.value).splitlines() == [
        "steps ran: a, b",
        "expected:  a, b, c",
        "first difference at step 3: nothing more ran where 'c' was expected",
    ]
    with pytest.raises(AssertionError, match="steps ran: \\(none\\)"):
        assert_ran([], ["a"])


def test_assert_changes_lists_missing_unexpected_and_different_keys() -> None:
    history = steps("a", changes={"x": 1, "y": 2})
    assert_changes(history, "a", {"x": 1, "y": 2})
    with pytest.raises(AssertionError) as failed:
        assert_changes(history, "a", {"x": 3, "z": 4})
    assert str(failed.value).splitlines()[1:] == [
        "  missing 'z'",
        "  unexpected 'y' = 2",
        "  'x': wrote 1, expected 3",
    ]


def test_assert_changes_says_when_the_task_did_not_run_that_often() -> None:
    with pytest.raises(
        AssertionError, match=re.escape("task 'a' ran 1 time(s), so it has no step number 2")
    ):
        assert_changes(steps("a", "b"), "a", {}, nth=2)


def test_assert_changes_on_a_history_without_changes_says_where_to_get_them() -> None:
    with pytest.raises(AssertionError, match="this history carries no changes"):
        assert_changes(steps("a"), "a", {"x": 1})
