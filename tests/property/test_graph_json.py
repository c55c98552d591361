"""Properties of graphs: well-formed random graphs (unicode names, nested fan-outs, switches,
gotos, onError handlers, aliases) validate, round-trip exactly through JSON, and render to
Mermaid whose every name sits inside an escaped, quoted label."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from dwarf.workflow._graph import Graph
from dwarf.workflow._graph_elements import END
from dwarf.workflow._reducers import Reducer

NAMES = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=6).filter(
    lambda name: name != END
)

SIMPLE = ("task", "on_error", "switch")
NESTING = ("fan_out", "when_fan_out", "for_each")


@dataclass
class Shape:
    """A well-formed graph under construction: tasks, then edges by task name."""

    data: st.DataObject
    names: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)  # kind, src, dst, arg
    fan_in_of: dict[str, str] = field(default_factory=dict)

    def fresh(self) -> str:
        name = self.data.draw(NAMES.filter(lambda n: n not in self.names))
        self.names.append(name)
        return name

    def edge(self, kind: str, src: str, dst: str, arg: str = "") -> None:
        self.edges.append((kind, src, dst, arg))

    def sequence(self, depth: int) -> tuple[str, list[str]]:
        """A run of segments; returns its entry task and the tasks that leave it."""
        entry, exits = self.segment(depth)
        for _ in range(self.data.draw(st.integers(0, 2))):
            nxt, nxt_exits = self.segment(depth)
            for src in exits:
                self.edge("plain", src, nxt)
            exits = nxt_exits
        return entry, exits

    def segment(self, depth: int) -> tuple[str, list[str]]:
        kinds = SIMPLE + NESTING if depth < 2 else SIMPLE
        kind = self.data.draw(st.sampled_from(kinds))
        first = self.fresh()
        if kind == "task":
            if self.data.draw(st.booleans()):
                self.edge("goto", first, first)
            return first, [first]
        if kind == "on_error":
            handler = self.fresh()
            self.edge("on_error", first, handler)
            return first, [first, handler]
        if kind == "switch":
            high, low = self.fresh(), self.fresh()
            self.edge("switch", first, high, "score >= 50")
            self.edge("switch", first, low, "true")
            return first, [high, low]
        widths = {"fan_out": (2, 3), "when_fan_out": (2, 3), "for_each": (1, 1)}[kind]
        branch_exits: list[str] = []
        for index in range(self.data.draw(st.integers(*widths))):
            branch, exits = self.sequence(depth + 1)
            if kind == "for_each":
                self.edge("for_each", first, branch, "items")
            elif kind == "when_fan_out":
                self.edge("when", first, branch, f"gate > {index}")
            else:
                self.edge("plain", first, branch)
            branch_exits += exits
        join = self.fresh()
        for src in branch_exits:
            self.edge("plain", src, join)
        if kind == "for_each" and self.data.draw(st.booleans()):
            self.edge("goto", first, join)  # the "nothing to fan out on" escape hatch
        self.fan_in_of[first] = join
        return first, [join]

    def build(self, name: str) -> Graph:
        entry, exits = self.sequence(0)
        for src in exits:
            self.edge("plain", src, END)
        urls = st.one_of(st.just(""), st.sampled_from(["svc/shared", "svc/other"]), NAMES)
        g = Graph(name)
        for task in self.names:
            g.add_task(task, self.data.draw(urls))
        g.set_entry_point(entry)
        for kind, src, dst, arg in self.edges:
            if kind == "plain":
                g.add_transition(src, dst)
            elif kind == "goto":
                g.add_transition_goto(src, dst)
            elif kind == "on_error":
                g.add_transition_on_error(src, dst)
            elif kind == "switch":
                g.add_transition_switch(src, dst, arg)
            elif kind == "when":
                g.add_transition_when(src, dst, arg)
            else:
                g.add_transition_for_each(src, dst, arg, self.data.draw(NAMES))
        for join in self.fan_in_of.values():
            g.set_fan_in(join)
        for task in self.data.draw(st.lists(st.sampled_from(self.names), max_size=3)):
            g.annotate(task, self.data.draw(NAMES))
        fields = st.dictionaries(NAMES, st.sampled_from(list(Reducer)), max_size=3)
        for field_name, reducer in self.data.draw(fields).items():
            g.set_reducer(field_name, reducer)
        return g


@settings(max_examples=150, deadline=None)
@given(data=st.data(), name=NAMES)
def test_well_formed_graphs_validate_and_round_trip_exactly(data: st.DataObject, name: str) -> None:
    shape = Shape(data)
    g = shape.build(name)
    g.validate()
    assert g.fan_out_to_fan_in == shape.fan_in_of
    text = g.to_json()
    back = Graph.from_json(text)
    assert back == g
    assert back.to_json() == text
    for source, join in shape.fan_in_of.items():
        assert back.fan_in_of(source) == join


EDGE_KINDS = st.sampled_from(["plain", "when", "switch", "goto", "for_each", "on_error"])


@settings(max_examples=150, deadline=None)
@given(
    name=st.text(max_size=6),
    edges=st.lists(st.tuples(EDGE_KINDS, NAMES, st.one_of(NAMES, st.just(END))), max_size=8),
    fan_ins=st.lists(NAMES, max_size=3),
)
def test_any_built_graph_round_trips_exactly(
    name: str, edges: list[tuple[str, str, str]], fan_ins: list[str]
) -> None:
    g = Graph(name)
    for kind, src, dst in edges:
        if kind == "plain":
            g.add_transition(src, dst)
        elif kind == "when":
            g.add_transition_when(src, dst, "x == 1")
        elif kind == "switch":
            g.add_transition_switch(src, dst, "true")
        elif kind == "goto":
            g.add_transition_goto(src, dst)
        elif kind == "for_each":
            g.add_transition_for_each(src, dst, "items", "item")
        else:
            g.add_transition_on_error(src, dst)
    for join in fan_ins:
        g.set_fan_in(join)
    text = g.to_json()
    back = Graph.from_json(text)
    assert back.to_json() == text
    assert back.nodes() == g.nodes()
    assert back.transitions() == g.transitions()


QUOTED = re.compile(r'"[^"]*"')
STATEMENT = re.compile(r"^[\w\s\-.>=|\[\]()/\\:~]*$", re.ASCII)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), name=NAMES)
def test_mermaid_keeps_every_name_inside_an_escaped_label(data: st.DataObject, name: str) -> None:
    g = Shape(data).build(name)
    text = g.mermaid()
    assert text == g.mermaid()
    _front, diagram = text.split("\n---\n", 1)
    for line in diagram.splitlines()[1:]:
        if line.strip().startswith("classDef "):
            continue
        outside = QUOTED.sub("", line.strip())
        assert STATEMENT.match(outside), line
        for label in QUOTED.findall(line):
            # The renderer's own markup (a task's URL in italics on a second line) is the only
            # HTML a label may hold.
            text = label[1:-1].replace("<br/><i>", "", 1).removesuffix("</i>")
            assert not set(text) & set('"<>&`\n')
