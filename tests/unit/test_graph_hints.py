"""validate() errors that point at the fix: ``when`` edges used as if/else are told about
``add_transition_switch``, and a comparison of two literals of different types is refused; the
``when`` language reports comparisons that met values of different types."""

from __future__ import annotations

import pytest

from dwarf.errors import BadRequestError
from dwarf.workflow import END, Graph, compile_when


def rejected(g: Graph) -> str:
    with pytest.raises(BadRequestError) as info:
        g.validate()
    return str(info.value)


def if_else_with_when_edges() -> Graph:
    """``approve`` means if/else with two ``when`` edges; ``ship`` is also reached outside."""
    g = Graph("checkout")
    g.add_task("check", "svc/check")
    g.add_task("approve", "svc/approve")
    g.add_task("ship", "svc/ship")
    g.add_task("reject", "svc/reject")
    g.add_transition_switch("check", "approve", "amount > 100")
    g.add_transition_switch("check", "ship", "true")
    g.add_transition_when("approve", "ship", "approved")
    g.add_transition_when("approve", "reject", "!approved")
    g.add_transition("reject", END)
    g.add_transition("ship", END)
    return g


def test_when_edges_used_as_if_else_suggest_add_transition_switch() -> None:
    message = rejected(if_else_with_when_edges())
    assert "two different lineage stacks ([] and ['approve'])" in message
    assert "add_transition_switch" in message


def test_the_same_graph_with_switch_edges_validates() -> None:
    g = Graph("checkout")
    g.add_task("check", "svc/check")
    g.add_task("approve", "svc/approve")
    g.add_task("ship", "svc/ship")
    g.add_task("reject", "svc/reject")
    g.add_transition_switch("check", "approve", "amount > 100")
    g.add_transition_switch("check", "ship", "true")
    g.add_transition_switch("approve", "ship", "approved")
    g.add_transition_switch("approve", "reject", "true")
    g.add_transition("reject", END)
    g.add_transition("ship", END)
    g.validate()


def test_an_unconditional_fan_out_gets_no_switch_hint() -> None:
    g = Graph("g")
    g.add_task("s", "svc/s")
    g.add_transition_fan_out("s", "left", "right")
    g.add_transition("left", END)
    g.add_transition("right", END)
    message = rejected(g)
    assert "open" in message
    assert "add_transition_switch" not in message


@pytest.mark.parametrize("when", ["5 == '5'", "'abc' < 3", "true != 1", "count > 1 && 2 > 'x'"])
def test_validate_refuses_a_comparison_of_literals_of_different_types(when: str) -> None:
    g = Graph("g")
    g.add_task("a", "svc/a")
    g.add_transition_when("a", END, when)
    message = rejected(g)
    assert "different types" in message
    assert "'a' -> 'END'" in message


@pytest.mark.parametrize("when", ["5 == 5", "'a' < 'b'", "x == null", "null != 3", "x > 'a'"])
def test_comparisons_of_one_type_or_of_a_field_validate(when: str) -> None:
    g = Graph("g")
    g.add_task("a", "svc/a")
    g.add_transition_switch("a", END, when)
    g.add_transition_switch("a", "b", "true")
    g.add_transition("b", END)
    g.validate()


def test_kind_mismatches_name_the_field_and_both_types() -> None:
    expression = compile_when("count > 'abc' || status == 'paid'")
    assert expression.kind_mismatches({"count": 5, "status": "paid"}) == [
        "count (number 5) > string 'abc'"
    ]
    assert expression.kind_mismatches({"count": "7", "status": "paid"}) == []


def test_a_presence_test_against_null_is_not_a_mismatch() -> None:
    assert compile_when("missing == null && other != null").kind_mismatches({}) == []


def test_strict_routing_is_persisted_in_the_graph_json() -> None:
    g = Graph("g")
    g.add_transition_chain("a", END)
    assert "strictRouting" not in g.to_json()
    g.set_strict_routing(True)
    text = g.to_json()
    assert text.endswith(',"strictRouting":true}')
    again = Graph.from_json(text)
    assert again.strict_routing
    assert again.to_json() == text
