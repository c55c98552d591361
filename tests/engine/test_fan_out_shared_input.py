"""A forEach branch's input: the spawn's whole output plus its bindings, wherever it is read.

A branch's row stores only its bindings over its spawn's snapshot (docs/internals/state.md#c2),
so these pin that every reader still sees the whole input: the task, the step inspector,
``restart_from`` and ``fork`` from a branch, and a re-run spawn's new branches on the same
engine (whose decoded snapshots must not outlive the spawn's run).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from dwarf._storage import StepRow, Tx
from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Reducer, Status
from tests.fixtures.engines import MakeEngine


class Seen:
    """What the branches saw, by element index, and how often the spawn ran."""

    def __init__(self) -> None:
        self.inputs: dict[int, list[dict[str, Any]]] = {}
        self.spawns = 0


def shared_input_proxy(seen: Seen, arrays: list[list[Any]]) -> TestProxy:
    """``Split -forEach(items as item)-> Work -> Join -> END``; the spawn's n-th run writes
    ``arrays[n]`` (the last one from then on) and a field named like the binding."""
    graph = Graph("shared")
    for task in ("Split", "Work", "Join"):
        graph.add_task(task, task)
    graph.add_transition_for_each("Split", "Work", "items", "item")
    graph.add_transition("Work", "Join")
    graph.add_transition("Join", END)
    graph.set_fan_in("Join")
    graph.set_reducer("seen", Reducer.APPEND)
    proxy = TestProxy()
    proxy.handle_graph("shared", graph)

    @proxy.task("Split")
    async def split(flow: Flow) -> None:
        flow.set("items", arrays[min(seen.spawns, len(arrays) - 1)])
        flow.set("item", "the spawn's own")
        seen.spawns += 1

    @proxy.task("Work")
    async def work(flow: Flow) -> None:
        state = flow.snapshot()
        seen.inputs.setdefault(state["itemIndex"], []).append(state)
        flow.set("seen", [state.get("item")])

    @proxy.task("Join")
    async def join(flow: Flow) -> None:
        del flow

    return proxy


def branch_input(items: list[Any], index: int, **more: Any) -> dict[str, Any]:
    """The input of branch ``index``: the spawn's output and the bindings (a null one absent)."""
    state = {"n": 1, "items": items, "item": items[index], "itemIndex": index}
    state["itemCount"] = len(items)
    return {key: value for key, value in {**state, **more}.items() if value is not None}


async def step_row(db: Tx, *, step_id: int) -> StepRow | None:
    """The raw row of a step (its stored state and base, not its whole input)."""
    return await db.get_step_by_id(step_id=step_id)


async def work_keys(engine: Engine, flow_key: str) -> list[str]:
    """The step keys of the flow's ``Work`` steps, by step id."""
    steps = await engine.history(flow_key)
    return [
        step.step_key for step in sorted(steps, key=lambda s: s.step_id) if step.task_name == "Work"
    ]


async def test_each_branch_and_the_inspector_see_the_whole_array_and_the_bindings(
    make_engine: MakeEngine,
) -> None:
    seen = Seen()
    items = [10, None, 30]
    async with make_engine(shared_input_proxy(seen, [items])) as engine:
        outcome = await engine.run("shared", {"n": 1}, timeout=30)
        inspected = [
            (await engine.step(key)).state for key in await work_keys(engine, outcome.flow_key)
        ]

    assert outcome.status is Status.COMPLETED
    expected = [branch_input(items, index) for index in range(3)]
    # A null element hides the spawn's field of the same name, as a deleted key would.
    assert "item" not in expected[1]
    assert [seen.inputs[index] for index in range(3)] == [[state] for state in expected]
    assert inspected == expected
    assert outcome.state["seen"] == [10, None, 30]


async def test_restart_from_a_branch_reruns_it_on_its_whole_input_with_overrides(
    make_engine: MakeEngine,
) -> None:
    seen = Seen()
    items = [1, 2]
    async with make_engine(shared_input_proxy(seen, [items])) as engine:
        first = await engine.run("shared", {"n": 1}, timeout=30)
        await engine.restart_from((await work_keys(engine, first.flow_key))[1], {"extra": True})
        outcome = await engine.await_flow(first.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert seen.inputs[1] == [branch_input(items, 1), branch_input(items, 1, extra=True)]
    assert outcome.state["seen"] == [1, 2]


async def test_a_fork_from_a_branch_copies_its_siblings_whole_inputs(
    make_engine: MakeEngine,
) -> None:
    seen = Seen()
    items = [5, 6, 7]
    async with make_engine(shared_input_proxy(seen, [items])) as engine:
        first = await engine.run("shared", {"n": 1}, timeout=30)
        forked = await engine.fork((await work_keys(engine, first.flow_key))[2], {"item": 70})
        outcome = await engine.await_flow(forked, timeout=30)
        copied = [(await engine.step(key)).state for key in await work_keys(engine, forked)]

    assert outcome.status is Status.COMPLETED
    assert outcome.state["seen"] == [5, 6, 70]
    assert copied == [
        branch_input(items, 0),
        branch_input(items, 1),
        branch_input(items, 2, item=70),
    ]


async def test_a_rerun_spawn_fans_out_over_its_new_array(make_engine: MakeEngine) -> None:
    seen = Seen()
    async with make_engine(shared_input_proxy(seen, [[1, 2], [3, 4, 5]])) as engine:
        first = await engine.run("shared", {"n": 1}, timeout=30)
        steps = await engine.history(first.flow_key)
        spawn = next(step.step_key for step in steps if step.task_name == "Split")
        await engine.restart_from(spawn)
        outcome = await engine.await_flow(first.flow_key, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["seen"] == [3, 4, 5]
    assert seen.inputs[0][-1] == branch_input([3, 4, 5], 0)
    assert seen.inputs[2] == [branch_input([3, 4, 5], 2)]


async def test_a_branch_step_that_changes_nothing_hands_on_its_whole_input(
    make_engine: MakeEngine,
) -> None:
    # A step that changed nothing passes its stored input text on; a branch's is only its
    # bindings, so its successor must still get the whole input.
    graph = Graph("relay")
    for task in ("Split", "Pass", "Read", "Join"):
        graph.add_task(task, task)
    graph.add_transition_for_each("Split", "Pass", "items", "item")
    graph.add_transition("Pass", "Read")
    graph.add_transition("Read", "Join")
    graph.add_transition("Join", END)
    graph.set_fan_in("Join")
    graph.set_reducer("seen", Reducer.APPEND)
    proxy = TestProxy()
    proxy.handle_graph("relay", graph)
    read: list[dict[str, Any]] = []

    @proxy.task("Split")
    async def split(flow: Flow) -> None:
        flow.set("items", [4, 5])

    @proxy.task("Pass")
    async def pass_on(flow: Flow) -> None:
        del flow

    @proxy.task("Read")
    async def read_all(flow: Flow) -> None:
        read.append(flow.snapshot())
        flow.set("seen", [flow.get_int("item")])

    @proxy.task("Join")
    async def join(flow: Flow) -> None:
        del flow

    async with make_engine(proxy) as engine:
        outcome = await engine.run("relay", {"n": 1}, timeout=30)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["seen"] == [4, 5]
    assert sorted(read, key=lambda state: state["itemIndex"]) == [
        branch_input([4, 5], 0),
        branch_input([4, 5], 1),
    ]


async def test_a_branchs_later_steps_store_only_their_overlay_and_see_the_whole_input(
    make_engine: MakeEngine,
) -> None:
    # Every step of a branch names the spawn as its base: the array is stored once per fan-out,
    # not once per branch step, and each step still sees the spawn's output, the bindings, and
    # what the branch's earlier steps wrote or deleted.
    graph = Graph("chain")
    for task in ("Split", "First", "Second", "Third", "Join"):
        graph.add_task(task, task)
    graph.add_transition_for_each("Split", "First", "items", "item")
    graph.add_transition_chain("First", "Second", "Third", "Join")
    graph.add_transition("Join", END)
    graph.set_fan_in("Join")
    graph.set_reducer("seen", Reducer.APPEND)
    proxy = TestProxy()
    proxy.handle_graph("chain", graph)
    items = [f"element-{index}-" + "x" * 200 for index in range(4)]
    read: dict[str, list[dict[str, Any]]] = {"Second": [], "Third": []}

    @proxy.task("Split")
    async def split(flow: Flow) -> None:
        flow.set("items", items)
        flow.set("doomed", "the spawn's")

    @proxy.task("First")
    async def first(flow: Flow) -> None:
        flow.set("doubled", flow.get_int("itemIndex") * 2)
        flow.delete("doomed")

    @proxy.task("Second")
    async def second(flow: Flow) -> None:
        read["Second"].append(flow.snapshot())
        flow.set("tripled", flow.get_int("itemIndex") * 3)

    @proxy.task("Third")
    async def third(flow: Flow) -> None:
        read["Third"].append(flow.snapshot())
        flow.set("seen", [flow.get_int("doubled") + flow.get_int("tripled")])

    @proxy.task("Join")
    async def join(flow: Flow) -> None:
        del flow

    async with make_engine(proxy) as engine:
        outcome = await engine.run("chain", {"n": 1}, timeout=30)
        rt = engine._rt
        assert rt is not None
        shard = rt.shards[0]
        steps = await engine.history(outcome.flow_key)
        stored: dict[int, tuple[str, str, int]] = {}
        for step in steps:
            row = await shard.read(partial(step_row, step_id=step.step_id))
            assert row is not None
            stored[step.step_id] = (step.task_name, row.state, row.state_base)

    assert outcome.status is Status.COMPLETED
    assert outcome.state["seen"] == [0, 5, 10, 15]
    for task in ("Second", "Third"):
        by_index = sorted(read[task], key=lambda state: state["itemIndex"])
        for index, state in enumerate(by_index):
            expected = branch_input(items, index, doubled=index * 2)
            if task == "Third":
                expected["tripled"] = index * 3
            assert state == expected  # "doomed" deleted by First stays deleted
    branch_rows = [row for row in stored.values() if row[0] in ("First", "Second", "Third")]
    assert len(branch_rows) == 12
    # Each row holds its own element (a binding), never the array.
    assert all(base and sum(item in state for item in items) == 1 for _, state, base in branch_rows)
