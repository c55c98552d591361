"""route() notes the surprises that used to be silent: a node whose transitions exist but none
matched (a dead end), and a ``when`` that compared values of different JSON types."""

from __future__ import annotations

from dwarf.engine._step._routing import route
from dwarf.workflow import END, Graph


def graph_with(*whens: str, switch: bool = False) -> Graph:
    g = Graph("g")
    g.add_task("a", "svc/a")
    for index, when in enumerate(whens):
        target = f"t{index}"
        if switch:
            g.add_transition_switch("a", target, when)
        else:
            g.add_transition_when("a", target, when)
        g.add_transition(target, END)
    return g


def test_no_matching_when_edge_is_a_dead_end_listing_each_condition() -> None:
    routed = route(graph_with("x > 1"), "a", {"x": 0})
    assert routed.dead_end
    assert routed.branches == ()
    assert routed.note == "no transition matched out of 'a' ('x > 1' is false)"


def test_no_matching_switch_arm_is_a_dead_end() -> None:
    routed = route(graph_with("x == 1", "x == 2", switch=True), "a", {"x": 3})
    assert routed.dead_end
    assert routed.note == (
        "no transition matched out of 'a' (switch: 'x == 1' is false, 'x == 2' is false)"
    )


def test_only_goto_edges_and_no_goto_is_a_dead_end() -> None:
    g = Graph("g")
    g.add_task("a", "svc/a")
    g.add_transition_goto("a", "b")
    g.add_transition("b", END)
    routed = route(g, "a", {})
    assert routed.dead_end
    assert "only goto/onError transitions, none requested" in routed.note


def test_a_taken_edge_leaves_no_note() -> None:
    routed = route(graph_with("x > 1"), "a", {"x": 2})
    assert not routed.dead_end
    assert routed.note == ""
    assert [branch.node for branch in routed.branches] == ["t0"]


def test_a_node_without_transitions_is_not_noted() -> None:
    g = Graph("g")
    g.add_task("a", "svc/a")
    routed = route(g, "a", {})
    assert not routed.dead_end
    assert routed.note == ""


def test_a_type_mismatch_is_noted_even_when_another_edge_is_taken() -> None:
    g = Graph("g")
    g.add_task("a", "svc/a")
    g.add_transition_switch("a", "t0", "count > 'abc'")
    g.add_transition_switch("a", END, "true")
    g.add_transition("t0", END)
    routed = route(g, "a", {"count": 5})
    assert not routed.dead_end
    assert routed.ended
    assert routed.note == (
        "\"count > 'abc'\" compared values of different types: count (number 5) > string 'abc'"
    )


def test_a_conditional_fan_out_with_no_branch_is_not_a_dead_end() -> None:
    # Its fan-in fires at once (an empty cohort), which is the designed behaviour.
    g = Graph("g")
    g.add_task("s", "svc/s")
    g.add_transition_when("s", "left", "go")
    g.add_transition_when("s", "right", "go")
    g.add_transition("left", "j")
    g.add_transition("right", "j")
    g.set_fan_in("j")
    g.add_transition("j", END)
    routed = route(g, "s", {})
    assert routed.fan_out
    assert not routed.dead_end
