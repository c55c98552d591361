"""validate()'s typo check never refuses a well-formed graph, however its tasks came to exist
(added, or created by a transition endpoint) and however alike their names are; and a target
misspelt by one character is always caught with a suggestion."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwarf.errors import BadRequestError
from dwarf.workflow._graph import Graph
from dwarf.workflow._graph_elements import END
from tests.property.test_graph_json import Shape

# A tiny alphabet makes names that are near misses of each other the common case.
ALIKE = st.text(alphabet="abAB", min_size=1, max_size=3)


class AlikeShape(Shape):
    """``Shape``'s well-formed graphs, with names drawn to look alike."""

    def fresh(self) -> str:
        name = self.data.draw(ALIKE.filter(lambda n: n not in self.names))
        self.names.append(name)
        return name


def draw_shape(data: st.DataObject) -> tuple[AlikeShape, str]:
    """A well-formed shape and its entry task."""
    shape = AlikeShape(data)
    entry, exits = shape.sequence(0)
    for src in exits:
        shape.edge("plain", src, END)
    return shape, entry


def build(shape: AlikeShape, entry: str, added: set[str], retarget: int = -1) -> Graph:
    """The shape as builders make it: only ``added`` tasks are added explicitly (first), the
    rest appear through transition endpoints; edge ``retarget`` gets a misspelt target."""
    g = Graph("alike")
    for task in shape.names:
        if task in added:
            g.add_task(task, "svc/" + task)
    g.set_entry_point(entry)
    for index, (kind, src, dst, arg) in enumerate(shape.edges):
        target = dst + "x" if index == retarget else dst
        if kind == "plain":
            g.add_transition(src, target)
        elif kind == "goto":
            g.add_transition_goto(src, target)
        elif kind == "on_error":
            g.add_transition_on_error(src, target)
        elif kind == "switch":
            g.add_transition_switch(src, target, arg)
        elif kind == "when":
            g.add_transition_when(src, target, arg)
        else:
            g.add_transition_for_each(src, target, arg, "item")
    for join in shape.fan_in_of.values():
        g.set_fan_in(join)
    return g


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_well_formed_graphs_validate_whichever_tasks_were_added(data: st.DataObject) -> None:
    shape, entry = draw_shape(data)
    added = data.draw(st.sets(st.sampled_from(shape.names)))
    g = build(shape, entry, added)
    g.validate()
    assert g.fan_out_to_fan_in == shape.fan_in_of


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_target_misspelt_by_one_character_is_caught(data: st.DataObject) -> None:
    shape, entry = draw_shape(data)
    candidates = [
        index
        for index, (kind, _src, dst, _arg) in enumerate(shape.edges)
        if kind in ("plain", "switch", "goto") and dst != END and dst + "x" not in shape.names
    ]
    if not candidates:
        return
    retarget = data.draw(st.sampled_from(candidates))
    g = build(shape, entry, set(shape.names), retarget)
    with pytest.raises(BadRequestError) as info:
        g.validate()
    misspelt = shape.edges[retarget][2] + "x"
    assert f"task {misspelt!r} exists only because a transition names it" in str(info.value)
    assert f"did you mean {shape.edges[retarget][2]!r}?" in str(info.value)
