"""Graph.mermaid(): the flowchart text of a graph (key lines, not whole-text goldens)."""

from __future__ import annotations

import re

from dwarf.workflow._graph import Graph
from dwarf.workflow._graph_elements import END


def body(text: str) -> list[str]:
    """The diagram's statements, without indentation, front matter or style classes."""
    lines = text.split("\n---\n", 1)[1].splitlines()
    return [line.strip() for line in lines if line.startswith("    ") and "classDef" not in line]


def test_linear_graph_draws_start_tasks_end_and_plain_edges() -> None:
    g = Graph("greet")
    g.add_transition_chain("hello", "bye", END)
    text = g.mermaid()
    assert text.startswith('---\ntitle: "greet"\n---\nflowchart TD\n')
    assert body(text) == [
        't0["hello"]',
        't1["bye"]',
        '_end(["END"]):::terminal',
        '_start((" ")):::terminal',
        "_start --> t0",
        "t0 --> t1",
        "t1 --> _end",
    ]


def test_a_task_whose_url_differs_shows_the_url_under_its_name() -> None:
    g = Graph("g")
    g.add_task("charge", "billing/charge")
    g.add_transition("charge", END)
    assert 't0["charge<br/><i>billing/charge</i>"]' in body(g.mermaid())


def test_fan_in_and_for_each_targets_have_distinct_shapes() -> None:
    g = Graph("g")
    g.add_transition_for_each("split", "work", "items", "doc")
    g.add_transition_chain("work", "join", END)
    g.set_fan_in("join")
    lines = body(g.mermaid())
    assert 't0["split"]' in lines
    assert 't1[["work"]]:::forEach' in lines
    assert 't2[/"join"\\]:::fanIn' in lines
    assert 't0 ==>|"for each doc in items"| t1' in lines
    assert "t1 --> t2" in lines


def test_edge_labels_name_their_kind_and_expression() -> None:
    g = Graph("g")
    g.add_transition_switch("route", "high", "score >= 50")
    g.add_transition_switch("route", "low", "true")
    g.add_transition_goto("route", "manual")
    g.add_transition_on_error("route", "manual")
    g.add_transition_when("high", "audit", "amount > 10")
    g.add_transition("high", END)
    g.add_transition("low", END)
    g.add_transition("manual", END)
    g.add_transition("audit", END)
    lines = body(g.mermaid())
    assert 't0 -->|"switch 1: score #gt;= 50"| t1' in lines
    assert 't0 -->|"switch 2: true"| t2' in lines
    assert 't0 -.->|"goto"| t3' in lines
    assert 't0 -.->|"onError"| t3' in lines
    assert 't1 -->|"when amount #gt; 10"| t4' in lines
    assert "t1 --> _end" in lines


def test_a_note_renders_beside_its_task() -> None:
    g = Graph("g")
    g.add_transition("a", END)
    g.annotate("a", "charges the card")
    lines = body(g.mermaid())
    assert 't0_note["charges the card"]:::note' in lines
    assert "t0 -.- t0_note" in lines


def test_names_never_become_ids_and_special_characters_are_escaped() -> None:
    g = Graph('say "hi" #1')
    g.add_transition_chain('a "quoted" <b>', "end", "x`y & z", "line\nbreak", END)
    text = g.mermaid()
    ids = re.findall(r"^\s+(\w+)[\[(]", text, flags=re.MULTILINE)
    assert ids == ["t0", "t1", "t2", "t3", "_end", "_start"]
    lines = body(text)
    assert 't0["a #quot;quoted#quot; #lt;b#gt;"]' in lines
    assert 't1["end"]' in lines
    assert 't2["x#96;y #amp; z"]' in lines
    assert 't3["line break"]' in lines
    assert 'title: "say \\"hi\\" #1"' in text


def test_an_unknown_endpoint_is_drawn_as_such() -> None:
    g = Graph.from_json(
        '{"name":"g","entryPoint":"a","tasks":[{"name":"a"}],'
        '"transitions":[{"from":"a","to":"ghost"}]}'
    )
    lines = body(g.mermaid())
    assert 'x0["ghost"]:::unknown' in lines
    assert "t0 --> x0" in lines


def test_url_endpoints_are_drawn_to_their_task() -> None:
    g = Graph.from_json(
        '{"name":"g","entryPoint":"a","tasks":[{"name":"a","url":"svc/a"},'
        '{"name":"b","url":"svc/b"}],"transitions":[{"from":"svc/a","to":"svc/b"}]}'
    )
    assert "t0 --> t1" in body(g.mermaid())


def test_an_empty_graph_renders_without_start_or_end() -> None:
    lines = body(Graph("empty").mermaid())
    assert lines == []


def test_rendering_is_deterministic() -> None:
    def build() -> Graph:
        g = Graph("g")
        g.add_transition_fan_out("s", "a", "b", "c")
        for name in ("a", "b", "c"):
            g.add_transition(name, "j")
        g.set_fan_in("j")
        g.add_transition("j", END)
        return g

    assert build().mermaid() == build().mermaid()
