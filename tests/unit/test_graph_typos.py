"""validate() catches a misspelt transition endpoint (it would silently become a new task) and
suggests the task that was meant; graphs that use implicit tasks on purpose still validate."""

from __future__ import annotations

import pytest

from dwarf.errors import BadRequestError
from dwarf.workflow import END, Graph
from dwarf.workflow._typos import edit_distance, is_near_miss, nearest


def checkout(*, typo: str) -> Graph:
    g = Graph("checkout")
    g.add_task("a", "svc/a")
    g.add_task("b", "svc/b")
    g.add_transition("a", typo)
    g.add_transition("b", END)
    return g


def rejected(g: Graph) -> str:
    with pytest.raises(BadRequestError) as info:
        g.validate()
    return str(info.value)


def test_a_misspelt_transition_target_suggests_the_added_task() -> None:
    message = rejected(checkout(typo="bx"))
    assert "'bx'" in message
    assert "did you mean 'b'?" in message


def test_a_target_differing_only_in_case_is_a_typo() -> None:
    g = Graph("g")
    g.add_task("start", "svc/start")
    g.add_task("Ship", "svc/ship")
    g.add_transition("start", "ship")
    g.add_transition("Ship", END)
    assert "did you mean 'Ship'?" in rejected(g)


def test_a_misspelt_switch_target_is_caught_at_validate() -> None:
    g = Graph("g")
    g.add_task("route", "svc/route")
    g.add_task("approve", "svc/approve")
    g.add_transition_switch("route", "aprove", "amount > 10")
    g.add_transition_switch("route", END, "true")
    g.add_transition("approve", END)
    g.add_transition_goto("route", "approve")
    assert "did you mean 'approve'?" in rejected(g)


def test_a_misspelt_goto_target_is_caught_at_validate() -> None:
    g = Graph("g")
    g.add_task("loop", "svc/loop")
    g.add_task("done", "svc/done")
    g.add_transition("loop", "done")
    g.add_transition_goto("loop", "lopp")
    g.add_transition("done", END)
    assert "did you mean 'loop'?" in rejected(g)


def test_a_misspelt_transition_source_is_named_as_a_source() -> None:
    g = Graph("g")
    g.add_task("a", "svc/a")
    g.add_task("ship", "svc/ship")
    g.add_transition("a", "ship")
    g.add_transition("shipp", END)
    message = rejected(g)
    assert "as a source" in message
    assert "did you mean 'ship'?" in message


def test_graphs_built_only_from_transitions_still_validate() -> None:
    g = Graph("g")
    g.add_transition_chain("step1", "step2", "step3", END)
    g.validate()


def test_an_implicit_task_entered_and_left_is_not_a_typo() -> None:
    g = Graph("g")
    g.add_task("step1", "svc/step1")
    g.add_transition("step1", "step2")
    g.add_transition("step2", END)
    g.validate()


def test_adding_the_task_explicitly_after_the_transition_clears_the_suspicion() -> None:
    g = checkout(typo="bx")
    g.add_task("bx", "svc/bx")
    g.add_transition("bx", "b")
    g.validate()


def test_a_graph_read_from_json_keeps_validating_as_before() -> None:
    # JSON does not record which tasks were implicit: a stored graph validates as it always did.
    g = checkout(typo="b")
    g.validate()
    Graph.from_json(g.to_json()).validate()


def test_edit_distance_counts_single_edits() -> None:
    assert edit_distance("b", "bx") == 1
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3


def test_single_letter_names_are_not_typos_of_each_other() -> None:
    assert not is_near_miss("a", "b")
    assert is_near_miss("b", "bx")
    assert is_near_miss("Ship", "ship")


def test_nearest_lists_closest_first() -> None:
    assert nearest("svc/shp", ["svc/ship", "svc/shop2", "other"]) == ["svc/ship", "svc/shop2"]
    assert nearest("zzz", ["a", "bb"], only_typos=False) == ["a", "bb"]
