"""Render a flow's execution history (what actually ran) as a Mermaid flowchart.

This is the picture behind ``Engine.history_mermaid``: one node per step, labelled with its task,
its attempt once retried, and how long it ran; one class per status for styling; edges from the
execution DAG (docs/internals/operations.md#o8). A step that launched a subgraph is followed by a
block holding the child flow's steps, drawn the same way, recursively.

Constraints:

* Edges are the union of the predecessor and successor links, each drawn once. Both link sets are
  needed: a fan-in step points back only at the last branch to arrive, while every other branch
  points forward at it.
* An edge that leaves a subgraph caller starts at the child's tails, so the picture reads as
  "call, run the child, carry on" rather than the caller short-circuiting its child.
* Output is deterministic: steps are ordered by ``(step_depth, step_id)`` and edges by their
  endpoints, whatever order the history arrived in. Equal histories give identical text.
* Task names are host data; labels escape everything Mermaid would otherwise parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from dwarf.workflow._values import FlowStep, Status

__all__ = ["render_history_mermaid"]

_INDENT = "    "

# fill, text colour, stroke, extra: running is dashed so work in flight stands out.
_STATUS_STYLES: tuple[tuple[Status, str], ...] = (
    (Status.CREATED, "fill:#e5f4f3,color:#434343,stroke:#434343"),
    (Status.PENDING, "fill:#e5f4f3,color:#434343,stroke:#434343,stroke-dasharray:4 2"),
    (Status.RUNNING, "fill:#32a7c1,color:#f4f2ef,stroke:#32a7c1,stroke-dasharray:4 2"),
    (Status.INTERRUPTED, "fill:#ed2e92,color:#f4f2ef,stroke:#ed2e92"),
    (Status.COMPLETED, "fill:#32a7c1,color:#f4f2ef,stroke:#32a7c1"),
    (Status.FAILED, "fill:#f15922,color:#f4f2ef,stroke:#f15922"),
    (Status.CANCELLED, "fill:#9e9e9e,color:#f4f2ef,stroke:#9e9e9e"),
)

# Mermaid entity codes; '#' goes first so the codes themselves are not escaped again.
_ESCAPES = (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"))


def render_history_mermaid(steps: Sequence[FlowStep]) -> str:
    """Return Mermaid ``flowchart`` text drawing ``steps`` (a flow's ``history``)."""
    lines = ["flowchart TD"]
    lines.extend(f"{_INDENT}classDef {status.value} {style}" for status, style in _STATUS_STYLES)
    _render_level(lines, steps, prefix="", depth=1)
    return "\n".join(lines) + "\n"


@dataclass
class _Node:
    """One step as drawn: its node id, and where edges into and out of it attach."""

    step: FlowStep
    node_id: str
    exits: list[str] = field(default_factory=list)


@dataclass
class _Level:
    """What a rendered list of steps offers its caller: where to enter and where it ends."""

    heads: list[str]
    tails: list[str]


def _render_level(
    lines: list[str], steps: Sequence[FlowStep], *, prefix: str, depth: int
) -> _Level:
    indent = _INDENT * depth
    ordered = sorted(
        enumerate(steps), key=lambda pair: (pair[1].step_depth, pair[1].step_id, pair[0])
    )
    nodes: dict[int, _Node] = {}
    drawn: list[_Node] = []
    for index, step in ordered:
        # A step without an id (never stored) still gets a node, just no edges.
        key = step.step_id if step.step_id > 0 else -(index + 1)
        if key in nodes:
            continue
        suffix = f"s{step.step_id}" if step.step_id > 0 else f"x{index}"
        node = _Node(step=step, node_id=prefix + suffix)
        node.exits = [node.node_id]
        nodes[key] = node
        drawn.append(node)

    call_edges: list[tuple[str, str]] = []
    for node in drawn:
        label = _label(node.step)
        lines.append(f'{indent}{node.node_id}["{label}"]:::{node.step.status.value}')
        if node.step.sub_history:
            block_id = f"{node.node_id}_sub"
            title = node.step.sub_workflow_name or "subgraph"
            lines.append(f'{indent}subgraph {block_id} ["{_escape(title)}"]')
            lines.append(f"{indent}{_INDENT}direction TB")
            child = _render_level(
                lines, node.step.sub_history, prefix=f"{block_id}_", depth=depth + 1
            )
            lines.append(f"{indent}end")
            call_edges.extend((node.node_id, head) for head in child.heads)
            if child.tails:
                node.exits = child.tails

    links: set[tuple[int, int]] = set()
    for key, node in nodes.items():
        if key <= 0:
            continue
        if node.step.predecessor_id in nodes and node.step.predecessor_id != key:
            links.add((node.step.predecessor_id, key))
        if node.step.successor_id in nodes and node.step.successor_id != key:
            links.add((key, node.step.successor_id))

    edges: list[tuple[str, str]] = list(call_edges)
    for source, target in sorted(links):
        edges.extend((exit_id, nodes[target].node_id) for exit_id in nodes[source].exits)
    seen: set[tuple[str, str]] = set()
    for source_id, target_id in edges:
        if (source_id, target_id) not in seen:
            seen.add((source_id, target_id))
            lines.append(f"{indent}{source_id} --> {target_id}")

    has_incoming = {target for _, target in links}
    has_outgoing = {source for source, _ in links}
    heads = [node.node_id for key, node in nodes.items() if key not in has_incoming]
    tails = [
        exit_id for key, node in nodes.items() if key not in has_outgoing for exit_id in node.exits
    ]
    return _Level(heads=heads, tails=tails)


def _label(step: FlowStep) -> str:
    """Escaped node text: task, attempt once retried, run time once dispatched."""
    parts = [_strip_scheme(step.task_name) or "?"]
    if step.attempt > 0:
        parts.append(f"attempt {step.attempt}")
    if step.has_started and step.started_at is not None and step.updated_at is not None:
        parts.append(_format_duration(step.updated_at - step.started_at))
    return "<br/>".join(_escape(part) for part in parts)


def _strip_scheme(name: str) -> str:
    """Show ``host/path`` for a URL-like task name: the scheme is noise in a diagram."""
    _, sep, rest = name.partition("://")
    return rest if sep else name


def _escape(text: str) -> str:
    for raw, code in _ESCAPES:
        text = text.replace(raw, code)
    return text


def _format_duration(elapsed: timedelta) -> str:
    """Compact human duration: 850ms, 1.25s, 2m5s, 3h10m, 2d4h."""
    total_ms = max(0, round(elapsed.total_seconds() * 1000))
    if total_ms < 1000:
        return f"{total_ms}ms"
    if total_ms < 60_000:
        return f"{total_ms / 1000:.3g}s"
    seconds = total_ms // 1000
    if seconds < 3600:
        return _two_units(seconds // 60, "m", seconds % 60, "s")
    if seconds < 86_400:
        return _two_units(seconds // 3600, "h", seconds % 3600 // 60, "m")
    return _two_units(seconds // 86_400, "d", seconds % 86_400 // 3600, "h")


def _two_units(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    return f"{major}{major_unit}{minor}{minor_unit}" if minor else f"{major}{major_unit}"
