"""A forEach route's branches are built when read, and read the same as a built list
(docs/internals/routing.md#r4)."""

from __future__ import annotations

import pytest

from dwarf.engine._step._routing import Branch, route
from dwarf.workflow import END, Graph


def fan_out_graph() -> Graph:
    graph = Graph("lazy")
    for task in ("Split", "Static", "Work", "Join"):
        graph.add_task(task, task)
    graph.add_transition("Split", "Static")
    graph.add_transition_for_each("Split", "Work", "items", "it")
    graph.add_transition_for_each("Split", END, "others", "other")
    graph.add_transition("Static", "Join")
    graph.add_transition("Work", "Join")
    graph.add_transition("Join", END)
    graph.set_fan_in("Join")
    return graph


def test_for_each_branches_read_in_declaration_then_array_order() -> None:
    routed = route(fan_out_graph(), "Split", {"items": ["a", "b", "c"]})
    expected = [
        Branch("Static"),
        Branch("Work", {"it": "a", "itIndex": 0, "itCount": 3}),
        Branch("Work", {"it": "b", "itIndex": 1, "itCount": 3}),
        Branch("Work", {"it": "c", "itIndex": 2, "itCount": 3}),
    ]
    assert routed.fan_out
    assert not routed.ended
    assert list(routed.branches) == expected
    assert routed.branches == expected
    assert len(routed.branches) == 4
    assert [routed.branches[i] for i in range(4)] == expected
    assert routed.branches[-1] == expected[-1]
    assert list(routed.branches[1:3]) == expected[1:3]
    with pytest.raises(IndexError):
        routed.branches[4]


def test_a_for_each_into_end_ends_the_path_only_when_it_has_elements() -> None:
    graph = fan_out_graph()
    assert route(graph, "Split", {"items": [1], "others": [7, 8]}).ended
    assert not route(graph, "Split", {"items": [1], "others": []}).ended
    # The END branches are dropped: what is left is the static edge and the one Work branch.
    routed = route(graph, "Split", {"items": [1], "others": [7, 8]})
    assert [branch.node for branch in routed.branches] == ["Static", "Work"]


def test_a_wide_for_each_routes_without_building_its_branches() -> None:
    items = list(range(100_000))
    routed = route(fan_out_graph(), "Split", {"items": items})
    assert len(routed.branches) == 100_001
    assert routed.branches[50_001] == Branch(
        "Work", {"it": 50_000, "itIndex": 50_000, "itCount": 100_000}
    )
