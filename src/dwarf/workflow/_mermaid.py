"""Render a ``Graph`` as Mermaid ``flowchart TD`` text (the graph, not a flow's history).

Constraints:

* Task names are arbitrary text, so they never become Mermaid ids: task *i* (in the order added)
  is ``t<i>``, an endpoint that names no task is ``x<i>``, and the pseudo-nodes are ``_start`` and
  ``_end``. Names appear only inside quoted labels, where the characters Mermaid or its HTML labels
  would interpret (``# " < > & ` ``) are written as Mermaid entity codes and line breaks as spaces.
* Output is a pure function of the graph (declaration order throughout; no sets, no hashes), so a
  diagram can be diffed and snapshot-tested.
* Invalid graphs render too: a diagram is how an author sees why ``validate()`` complains.

Shapes: a task is a rectangle, a fan-in a trapezoid (branches funnel into it), a forEach target a
subroutine box (it runs once per element); a note is a borderless box tied to its task by a dotted
line. Edges: plain ``-->``; forEach ``==>`` (thick); goto and onError dashed ``-.->`` (they are
overrides, not structure); ``when``/switch/forEach/goto/onError edges carry a label, switch labels
numbered in the first-match order.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dwarf.workflow._graph_elements import END

if TYPE_CHECKING:
    from dwarf.workflow._graph import Graph
    from dwarf.workflow._graph_elements import Transition

__all__ = ["render_graph"]


_ENTITIES = (
    ("#", "#35;"),  # first: every other replacement introduces a '#'
    ('"', "#quot;"),
    ("&", "#amp;"),
    ("<", "#lt;"),
    (">", "#gt;"),
    ("`", "#96;"),  # a label opening with a backtick would be read as Markdown
)

_CLASS_DEFS = (
    "classDef fanIn fill:#fff3d6,stroke:#b7791f",
    "classDef forEach fill:#e6f4ea,stroke:#2f855a",
    "classDef note fill:none,stroke:none,color:#2c7a7b,font-style:italic",
    "classDef unknown fill:#fde8e8,stroke:#c53030,stroke-dasharray:4 3",
    "classDef terminal fill:#4a5568,stroke:#4a5568,color:#ffffff",
)


def render_graph(graph: Graph) -> str:
    """Mermaid ``flowchart TD`` text of ``graph``: tasks, ``END``, and every transition."""
    ids: dict[str, str] = {}
    lines: list[str] = []
    for index, node in enumerate(graph.nodes()):
        ids.setdefault(node.name, f"t{index}")

    edges = graph.transitions()
    resolved = [(_ref(graph, edge.from_), _ref(graph, edge.to), edge) for edge in edges]
    unknown: list[str] = []
    for src, dst, _edge in resolved:
        for ref in (src, dst):
            if ref != END and ref not in ids:
                ids[ref] = f"x{len(unknown)}"
                unknown.append(ref)
    for_each_targets = {dst for _src, dst, edge in resolved if edge.for_each}

    drawn: set[str] = set()
    for node in graph.nodes():
        if node.name in drawn:  # a duplicate name (invalid) is drawn once, as its first task
            continue
        drawn.add(node.name)
        node_id = ids[node.name]
        label = _text(node.name)
        if node.url != node.name:
            label += f"<br/><i>{_text(node.url)}</i>"
        if node.fan_in:
            lines.append(f'{node_id}[/"{label}"\\]:::fanIn')
        elif node.name in for_each_targets:
            lines.append(f'{node_id}[["{label}"]]:::forEach')
        else:
            lines.append(f'{node_id}["{label}"]')
        if node.note:
            lines.append(f'{node_id}_note["{_text(node.note)}"]:::note')
            lines.append(f"{node_id} -.- {node_id}_note")
    for ref in unknown:
        lines.append(f'{ids[ref]}["{_text(ref)}"]:::unknown')

    if any(dst == END for _src, dst, _edge in resolved):
        lines.append('_end(["END"]):::terminal')
    entry = ids.get(graph.entry_point)
    if entry is not None:
        lines.append('_start((" ")):::terminal')
        lines.append(f"_start --> {entry}")

    switch_rank: dict[str, int] = {}
    for src, dst, edge in resolved:
        if edge.switch:
            switch_rank[src] = switch_rank.get(src, 0) + 1
        label = _edge_label(edge, switch_rank.get(src, 0))
        arrow = _arrow(edge)
        target = "_end" if dst == END else ids[dst]
        source = "_end" if src == END else ids[src]
        if label:
            lines.append(f'{source} {arrow}|"{_text(label)}"| {target}')
        else:
            lines.append(f"{source} {arrow} {target}")

    header = ["---", f"title: {json.dumps(graph.name, ensure_ascii=False)}", "---"]
    body = ["flowchart TD", *(f"    {line}" for line in (*_CLASS_DEFS, *lines))]
    return "\n".join(header + body) + "\n"


def _ref(graph: Graph, ref: str) -> str:
    return graph.resolve(ref) or ref


def _arrow(edge: Transition) -> str:
    if edge.with_goto or edge.on_error:
        return "-.->"
    if edge.for_each:
        return "==>"
    return "-->"


def _edge_label(edge: Transition, switch_rank: int) -> str:
    parts: list[str] = []
    if edge.on_error:
        parts.append("onError")
    if edge.with_goto:
        parts.append("goto")
    if edge.for_each:
        parts.append(f"for each {edge.as_ or 'item'} in {edge.for_each}")
    if edge.switch:
        parts.append(f"switch {switch_rank}: {edge.when}")
    elif edge.when:
        parts.append(f"when {edge.when}")
    return "; ".join(parts)


def _text(value: str) -> str:
    for raw, code in _ENTITIES:
        value = value.replace(raw, code)
    return " ".join(value.splitlines())
