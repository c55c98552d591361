"""Graph.validate(): every rule refuses its graph with a message naming the task or field, and the
shapes the engine supports (including the later-upstream fan-out/goto shapes) validate."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from dwarf.errors import BadRequestError
from dwarf.workflow._graph import Graph
from dwarf.workflow._graph_elements import END


def rejected(g: Graph) -> str:
    """The message validate() raises for ``g`` (failing the test if it does not raise)."""
    with pytest.raises(BadRequestError) as info:
        g.validate()
    assert info.value.status_code == 400
    return str(info.value)


def from_doc(**doc: Any) -> Graph:
    doc.setdefault("name", "g")
    return Graph.from_json(json.dumps(doc))


def linear(*names: str) -> Graph:
    g = Graph("g")
    g.add_transition_chain(*names, END)
    return g


def fan(*, then: str = END) -> Graph:
    """s fans out to a and b, which converge on fan-in j, which goes on to ``then``."""
    g = Graph("g")
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition("a", "j")
    g.add_transition("b", "j")
    g.set_fan_in("j")
    g.add_transition("j", then)
    return g


# --- shapes that validate -------------------------------------------------------------------


def build_linear(g: Graph) -> None:
    g.add_transition_chain("a", "b", "c", END)


def build_goto_loop(g: Graph) -> None:
    g.add_transition_goto("a", "a")
    g.add_transition("a", END)


def build_reached_only_by_goto(g: Graph) -> None:
    g.add_transition_chain("a", "b", END)
    g.add_transition_goto("a", "c")
    g.add_transition("c", END)


def build_switch_with_default(g: Graph) -> None:
    g.add_transition_switch("route", "high", "score >= 50")
    g.add_transition_switch("route", "low", "true")
    g.add_transition_goto("route", "manual")
    g.add_transition_on_error("route", "manual")
    for name in ("high", "low", "manual"):
        g.add_transition(name, END)


def build_conditional_fan_out(g: Graph) -> None:
    g.add_transition_when("s", "a", "x > 0")
    g.add_transition_when("s", "b", "x <= 0")
    g.add_transition_chain("a", "j", END)
    g.add_transition("b", "j")
    g.set_fan_in("j")


def build_duplicate_when_edges_to_one_target(g: Graph) -> None:
    g.add_transition_when("split", "work", "gate == 1")
    g.add_transition_when("split", "work", "gate > 0")
    g.add_transition_chain("work", "join", END)
    g.set_fan_in("join")


def build_trunk_source_straight_into_fan_in(g: Graph) -> None:
    g.add_transition_when("work", "join", "gate == 1")
    g.add_transition_when("work", "join", "gate > 0")
    g.add_transition_chain("join", END)
    g.set_fan_in("join")


def build_for_each(g: Graph) -> None:
    g.add_transition_for_each("s", "w", "items", "item")
    g.add_transition_chain("w", "j", END)
    g.set_fan_in("j")


def build_branch_with_conditional_dead_end(g: Graph) -> None:
    g.add_transition_for_each("spawn", "work", "items", "item")
    g.add_transition_when("work", "join", "ok == true")
    g.add_transition("join", END)
    g.set_fan_in("join")


def build_nested_fan_outs(g: Graph) -> None:
    g.add_transition_fan_out("s", "outer1", "outer2")
    g.add_transition_fan_out("outer1", "inner1", "inner2")
    g.add_transition("inner1", "inner_join")
    g.add_transition("inner2", "inner_join")
    g.add_transition("inner_join", "outer_join")
    g.add_transition("outer2", "outer_join")
    g.add_transition("outer_join", END)
    g.set_fan_in("inner_join")
    g.set_fan_in("outer_join")


def build_alias_tasks_in_two_scopes(g: Graph) -> None:
    g.add_task("s", "host/s")
    g.add_task("inner", "host/work")
    g.add_task("outer", "host/work")
    g.add_task("join", "host/join")
    g.add_transition_for_each("s", "inner", "items", "item")
    g.add_transition_chain("inner", "join", "outer", END)
    g.set_fan_in("join")


def build_goto_loop_inside_a_branch(g: Graph) -> None:
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition("a", "j")
    g.add_transition("b", "j")
    g.add_transition_goto("a", "a")
    g.add_transition("j", END)
    g.set_fan_in("j")


def build_branch_goto_into_fan_in(g: Graph) -> None:
    g.add_transition_fan_out("s", "b", "c")
    g.add_transition("b", "j")
    g.add_transition("c", "j")
    g.add_transition_goto("b", "j")
    g.add_transition("j", END)
    g.set_fan_in("j")


def build_on_error_handler_joining_the_fan_in(g: Graph) -> None:
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition_on_error("a", "handler")
    g.add_transition("a", "join")
    g.add_transition("b", "join")
    g.add_transition("handler", "join")
    g.add_transition("join", END)
    g.set_fan_in("join")


def build_fan_out_source_goto_end(g: Graph) -> None:
    g.add_transition_for_each("decide", "work", "items", "item")
    g.add_transition("work", "join")
    g.add_transition_goto("decide", END)
    g.add_transition("join", "decide")
    g.set_fan_in("join")


def build_fan_out_source_on_error_end(g: Graph) -> None:
    g.add_transition_for_each("decide", "work", "items", "item")
    g.add_transition("work", "join")
    g.add_transition_on_error("decide", END)
    g.add_transition("join", END)
    g.set_fan_in("join")


def build_fan_out_source_goto_own_fan_in(g: Graph) -> None:
    g.add_transition_for_each("split", "work", "items", "item")
    g.add_transition_goto("split", "join")
    g.add_transition_chain("work", "join", END)
    g.set_fan_in("join")


def build_nested_source_goto_own_fan_in(g: Graph) -> None:
    g.add_transition_for_each("seed", "cell", "cells", "cell")
    g.add_transition_for_each("cell", "chunk", "chunks", "chunk")
    g.add_transition_goto("cell", "join_chunk")
    g.add_transition("chunk", "join_chunk")
    g.add_transition_chain("join_chunk", "join_cell", END)
    g.set_fan_in("join_chunk")
    g.set_fan_in("join_cell")


def build_fan_in_marked_before_its_task_by_url(g: Graph) -> None:
    g.set_fan_in("svc/join")
    g.add_task("s", "svc/s")
    g.add_task("join", "svc/join")
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition("a", "join")
    g.add_transition("b", "join")
    g.add_transition("join", END)


@pytest.mark.parametrize(
    "build",
    [
        build_linear,
        build_goto_loop,
        build_reached_only_by_goto,
        build_switch_with_default,
        build_conditional_fan_out,
        build_duplicate_when_edges_to_one_target,
        build_trunk_source_straight_into_fan_in,
        build_for_each,
        build_branch_with_conditional_dead_end,
        build_nested_fan_outs,
        build_alias_tasks_in_two_scopes,
        build_goto_loop_inside_a_branch,
        build_branch_goto_into_fan_in,
        build_on_error_handler_joining_the_fan_in,
        build_fan_out_source_goto_end,
        build_fan_out_source_on_error_end,
        build_fan_out_source_goto_own_fan_in,
        build_nested_source_goto_own_fan_in,
        build_fan_in_marked_before_its_task_by_url,
    ],
)
def test_supported_shapes_validate(build: Callable[[Graph], None]) -> None:
    g = Graph("g")
    build(g)
    g.validate()


def test_nested_fan_outs_record_their_own_fan_ins() -> None:
    g = Graph("g")
    build_nested_source_goto_own_fan_in(g)
    g.validate()
    assert g.fan_out_to_fan_in == {"seed": "join_cell", "cell": "join_chunk"}


def test_a_hand_written_graph_may_name_tasks_by_url() -> None:
    g = from_doc(
        entryPoint="a",
        tasks=[{"name": "a", "url": "svc/a"}, {"name": "b", "url": "svc/b"}],
        transitions=[{"from": "svc/a", "to": "svc/b"}, {"from": "svc/b", "to": "END"}],
    )
    g.validate()


# --- structure ------------------------------------------------------------------------------


def test_an_unnamed_graph_is_rejected() -> None:
    g = Graph("")
    g.add_transition("a", END)
    assert "graph name must not be empty" in rejected(g)


def test_a_graph_without_tasks_is_rejected() -> None:
    assert "graph 'empty' has no tasks" in rejected(Graph("empty"))


def test_a_duplicate_task_name_is_rejected() -> None:
    g = from_doc(
        entryPoint="a",
        tasks=[{"name": "a"}, {"name": "a", "url": "other"}],
        transitions=[{"from": "a", "to": "END"}],
    )
    assert "duplicate task 'a'" in rejected(g)


def test_a_task_named_end_is_rejected() -> None:
    g = from_doc(entryPoint="a", tasks=[{"name": "a"}, {"name": "END"}], transitions=[])
    assert "'END' is reserved" in rejected(g)


def test_a_task_with_an_empty_name_is_rejected() -> None:
    g = from_doc(entryPoint="a", tasks=[{"name": "a"}, {"name": ""}], transitions=[])
    assert "task #1 has an empty name" in rejected(g)


def test_a_missing_entry_point_is_rejected() -> None:
    g = from_doc(tasks=[{"name": "a"}], transitions=[{"from": "a", "to": "END"}])
    assert "has no entry point" in rejected(g)


def test_an_entry_point_that_is_not_a_task_is_rejected() -> None:
    g = linear("a")
    g.set_entry_point("missing")
    assert "entry point 'missing' is not a task" in rejected(g)


def test_a_fan_in_mark_on_a_missing_task_is_rejected() -> None:
    g = linear("a")
    g.set_fan_in("joni")
    assert "set_fan_in names 'joni', which is not a task" in rejected(g)


def test_a_note_on_a_missing_task_is_rejected() -> None:
    g = linear("a")
    g.annotate("b", "typo")
    assert "annotate names 'b', which is not a task" in rejected(g)


def test_a_transition_out_of_end_is_rejected() -> None:
    g = linear("a")
    g.add_transition(END, "b")
    assert "'END' -> 'b' leaves END, which is terminal" in rejected(g)


def test_a_transition_to_an_unknown_task_is_rejected() -> None:
    g = from_doc(
        entryPoint="a",
        tasks=[{"name": "a"}],
        transitions=[{"from": "a", "to": "ghost"}, {"from": "a", "to": "END"}],
    )
    assert "unknown target 'ghost'" in rejected(g)


def test_a_transition_from_an_unknown_task_is_rejected() -> None:
    g = from_doc(
        entryPoint="a",
        tasks=[{"name": "a"}],
        transitions=[{"from": "ghost", "to": "a"}, {"from": "a", "to": "END"}],
    )
    assert "unknown source 'ghost'" in rejected(g)


def test_an_endpoint_naming_a_shared_url_is_rejected() -> None:
    g = from_doc(
        entryPoint="a",
        tasks=[{"name": "a"}, {"name": "b", "url": "svc/w"}, {"name": "c", "url": "svc/w"}],
        transitions=[{"from": "a", "to": "svc/w"}, {"from": "a", "to": "END"}],
    )
    assert "target 'svc/w' is the URL of several tasks ('b', 'c')" in rejected(g)


def test_an_unreachable_task_is_rejected() -> None:
    g = linear("a", "b")
    g.add_task("island", "svc/island")
    assert "task 'island' is not reachable from the entry point 'a'" in rejected(g)


def test_a_graph_with_no_transition_to_end_is_rejected() -> None:
    g = Graph("loop")
    g.add_transition("a", "b")
    g.add_transition("b", "a")
    assert "graph 'loop' has no transition to END" in rejected(g)


# --- edge flavours --------------------------------------------------------------------------


def test_a_malformed_when_expression_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_when("a", "b", "(((")
    g.add_transition("b", END)
    message = rejected(g)
    assert (
        "transition 'a' -> 'b' has an invalid 'when' expression: invalid when expression '((('"
        in message
    )


def test_a_malformed_switch_expression_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_switch("a", "b", "score >")
    g.add_transition("b", END)
    assert "transition 'a' -> 'b' has an invalid 'when' expression" in rejected(g)


def test_as_without_for_each_is_rejected() -> None:
    g = from_doc(
        entryPoint="a",
        tasks=[{"name": "a"}, {"name": "b"}],
        transitions=[{"from": "a", "to": "b", "as": "x"}, {"from": "b", "to": "END"}],
    )
    assert "transition 'a' -> 'b' has 'as' without 'forEach'" in rejected(g)


def test_switch_without_when_is_rejected() -> None:
    g = from_doc(
        entryPoint="a",
        tasks=[{"name": "a"}, {"name": "b"}],
        transitions=[{"from": "a", "to": "b", "switch": True}, {"from": "b", "to": "END"}],
    )
    assert "transition 'a' -> 'b': a switch transition needs a 'when'" in rejected(g)


def test_switch_mixed_with_a_plain_edge_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_switch("r", "a", "x > 1")
    g.add_transition("r", "b")
    g.add_transition("a", END)
    g.add_transition("b", END)
    assert "task 'r' mixes switch transitions with a non-switch transition to 'b'" in rejected(g)


def test_switch_mixed_with_a_when_edge_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_switch("r", "a", "x > 1")
    g.add_transition_when("r", "b", "x > 2")
    g.add_transition_chain("a", END)
    g.add_transition_chain("b", END)
    assert "task 'r' mixes switch transitions" in rejected(g)


def test_switch_mixed_with_a_for_each_edge_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_switch("r", "a", "true")
    g.add_transition_for_each("r", "w", "items", "item")
    g.add_transition_chain("a", END)
    g.add_transition_chain("w", END)
    assert "task 'r' mixes switch transitions with a non-switch transition to 'w'" in rejected(g)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"onError": True, "forEach": "xs"}, "combines onError with forEach or withGoto"),
        ({"onError": True, "withGoto": True}, "combines onError with forEach or withGoto"),
        ({"forEach": "xs", "withGoto": True}, "combines forEach with withGoto"),
        ({"switch": True, "when": "true", "forEach": "xs"}, "combines switch with forEach"),
        ({"switch": True, "when": "true", "withGoto": True}, "combines switch with forEach"),
        ({"switch": True, "when": "true", "onError": True}, "combines switch with forEach"),
        ({"onError": True, "when": "x > 1"}, "an onError transition cannot have a 'when'"),
    ],
)
def test_incompatible_flags_on_one_edge_are_rejected(flags: dict[str, Any], needle: str) -> None:
    g = from_doc(
        entryPoint="a",
        tasks=[{"name": "a"}, {"name": "b"}],
        transitions=[{"from": "a", "to": "b", **flags}, {"from": "a", "to": "END"}],
    )
    message = rejected(g)
    assert "transition 'a' -> 'b'" in message
    assert needle in message


def test_a_second_on_error_edge_from_one_task_is_rejected() -> None:
    g = linear("a")
    g.add_transition_on_error("a", "h1")
    g.add_transition_on_error("a", "h2")
    g.add_transition("h1", END)
    g.add_transition("h2", END)
    assert "task 'a' has more than one onError transition" in rejected(g)


def test_an_on_error_self_loop_is_rejected() -> None:
    g = linear("a")
    g.add_transition_on_error("a", "a")
    message = rejected(g)
    assert "transition 'a' -> 'a'" in message
    assert "flow.retry" in message


# --- lineage --------------------------------------------------------------------------------


def test_branches_converging_on_different_fan_ins_are_rejected() -> None:
    g = Graph("g")
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition_chain("a", "j", END)
    g.add_transition_chain("b", "k", END)
    g.set_fan_in("j")
    g.set_fan_in("k")
    message = rejected(g)
    assert "fan-out source 's' converge on different fan-ins ('j' and 'k')" in message


def test_a_fan_out_without_a_fan_in_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition("a", "c")
    g.add_transition("b", "c")
    g.add_transition("c", END)
    message = rejected(g)
    assert "transition 'c' -> END leaves fan-out frames ['s'] open" in message


def test_a_fan_out_whose_branches_never_converge_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition_on_error("s", "h")
    g.add_transition("h", END)
    assert "fan-out source 's' has no fan-in downstream" in rejected(g)


def test_a_branch_reaching_end_before_the_fan_in_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition_chain("a", "j", END)
    g.add_transition("b", END)
    g.set_fan_in("j")
    assert "transition 'b' -> END leaves fan-out frames ['s'] open" in rejected(g)


def test_a_fan_in_outside_any_fan_out_is_rejected() -> None:
    g = linear("a", "b")
    g.set_fan_in("b")
    assert "transition 'a' -> fan-in 'b' has no fan-out frame to pop" in rejected(g)


def test_a_goto_from_the_trunk_back_into_a_fan_in_is_rejected() -> None:
    g = fan(then="k")
    g.add_transition("k", END)
    g.add_transition_goto("k", "j")
    assert "transition 'k' -> fan-in 'j' has no fan-out frame to pop" in rejected(g)


def test_an_on_error_from_the_trunk_into_a_fan_in_is_rejected() -> None:
    g = fan(then="k")
    g.add_transition("k", END)
    g.add_transition_on_error("k", "j")
    assert "transition 'k' -> fan-in 'j' has no fan-out frame to pop" in rejected(g)


def test_a_goto_bypassing_the_fan_out_and_rejoining_its_fan_in_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_for_each("decide", "work", "items", "item")
    g.add_transition("work", "join")
    g.add_transition_goto("decide", "skip")
    g.add_transition("skip", "join")
    g.add_transition("join", END)
    g.set_fan_in("join")
    assert "transition 'skip' -> fan-in 'join' has no fan-out frame to pop" in rejected(g)


def test_an_on_error_bypassing_the_fan_out_and_rejoining_its_fan_in_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_for_each("decide", "work", "items", "item")
    g.add_transition("work", "join")
    g.add_transition_on_error("decide", "recover")
    g.add_transition("recover", "join")
    g.add_transition("join", END)
    g.set_fan_in("join")
    assert "transition 'recover' -> fan-in 'join' has no fan-out frame to pop" in rejected(g)


def test_a_goto_from_the_source_into_one_of_its_branches_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_for_each("decide", "work", "items", "item")
    g.add_transition("work", "join")
    g.add_transition_goto("decide", "work")
    g.add_transition("join", END)
    g.set_fan_in("join")
    message = rejected(g)
    assert "task 'work' is reached with two different lineage stacks" in message


def test_a_goto_jumping_out_of_a_branch_past_the_fan_in_is_rejected() -> None:
    g = fan(then="after")
    g.add_transition("after", END)
    g.add_transition_goto("a", "after")
    message = rejected(g)
    assert "task 'after' is reached with two different lineage stacks" in message
    assert "['s']" in message


def test_a_trunk_goto_back_into_a_branch_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition("a", "shared")
    g.add_transition("b", "shared")
    g.add_transition("shared", "join")
    g.add_transition_goto("join", "shared")
    g.add_transition("join", END)
    g.set_fan_in("join")
    assert "task 'shared' is reached with two different lineage stacks" in rejected(g)


def test_a_cohort_mixing_a_plain_member_and_a_fan_out_member_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_fan_out("split", "work_a", "work_b")
    g.add_transition_when("work_a", "join", "gate == 1")
    g.add_transition_when("work_a", "join", "gate > 0")
    g.add_transition("work_b", "join")
    g.add_transition("join", END)
    g.set_fan_in("join")
    assert "task 'join' is reached with two different lineage stacks" in rejected(g)


def test_a_cohort_whose_every_member_fans_out_into_the_fan_in_is_rejected() -> None:
    g = Graph("g")
    g.add_transition_fan_out("split", "work_a", "work_b")
    for member in ("work_a", "work_b"):
        g.add_transition_when(member, "join", "gate == 1")
        g.add_transition_when(member, "join", "gate > 0")
    g.add_transition("join", END)
    g.set_fan_in("join")
    assert "transition 'join' -> END leaves fan-out frames ['split'] open" in rejected(g)


def test_validate_stops_at_the_first_problem_deterministically() -> None:
    def build() -> Graph:
        g = linear("a")
        g.add_task("island", "x")
        g.add_transition_when("a", "b", "(((")
        return g

    assert rejected(build()) == rejected(build())
    assert "invalid 'when'" in rejected(build())


def test_a_failed_validate_leaves_the_fan_in_map_unset() -> None:
    g = fan()
    g.add_transition("b", END)
    rejected(g)
    assert g.fan_out_to_fan_in == {}
