"""The lookup tables derived from a graph's contents, which the engine reads on its hot path.

``Graph`` memoises one ``GraphTables`` and keeps it while the entry point and the very same task
and edge objects are in place (``describes``); since every builder replaces a ``Node`` or
``Transition`` rather than mutating it, no mutation path can leave the tables stale. Edge
endpoints are resolved here the way ``Graph.resolve`` documents: a task name as is, else the single
task whose URL it is.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from dwarf.workflow._graph_elements import END, Node, Transition

__all__ = ["GraphTables", "derive_tables", "resolve_in"]


@dataclass(frozen=True)
class GraphTables:
    """Tables computed from the graph's contents; valid while ``key_*`` are the same objects."""

    key_entry: str
    key_tasks: tuple[Node, ...]
    key_edges: tuple[Transition, ...]
    by_name: dict[str, Node]
    by_url: dict[str, list[str]]
    outgoing: dict[str, tuple[Transition, ...]]  # endpoints resolved to task names
    fan_out_sources: frozenset[str]

    def describes(self, entry_point: str, tasks: list[Node], edges: list[Transition]) -> bool:
        """Whether these tables were derived from exactly these contents (the same objects)."""
        return (
            self.key_entry == entry_point
            and _same_objects(self.key_tasks, tasks)
            and _same_objects(self.key_edges, edges)
        )


def derive_tables(entry_point: str, tasks: list[Node], edges: list[Transition]) -> GraphTables:
    """Build the lookup tables of a graph with these contents."""
    by_name: dict[str, Node] = {}
    by_url: dict[str, list[str]] = {}
    for node in tasks:
        # A duplicate name is invalid (validate says so); the first one wins meanwhile.
        if node.name in by_name:
            continue
        by_name[node.name] = node
        by_url.setdefault(node.url, []).append(node.name)
    resolved: list[Transition] = []
    outgoing: dict[str, list[Transition]] = {}
    for edge in edges:
        src = resolve_in(edge.from_, by_name, by_url) or edge.from_
        dst = resolve_in(edge.to, by_name, by_url) or edge.to
        if src != edge.from_ or dst != edge.to:
            edge = edge.model_copy(update={"from_": src, "to": dst})
        resolved.append(edge)
        outgoing.setdefault(src, []).append(edge)
    return GraphTables(
        key_entry=entry_point,
        key_tasks=tuple(tasks),
        key_edges=tuple(edges),
        by_name=by_name,
        by_url=by_url,
        outgoing={name: tuple(out) for name, out in outgoing.items()},
        fan_out_sources=_fan_out_sources(resolved),
    )


def _fan_out_sources(edges: list[Transition]) -> frozenset[str]:
    # docs/internals/routing.md#r3: >= 2 edges that are not goto/onError/switch, or any forEach
    # edge. The engine's routing and the lineage validator must agree on this, so it exists
    # once, here.
    counts: dict[str, int] = {}
    sources: set[str] = set()
    for edge in edges:
        if edge.with_goto or edge.on_error or edge.switch:
            continue
        if edge.for_each:
            sources.add(edge.from_)
        counts[edge.from_] = counts.get(edge.from_, 0) + 1
        if counts[edge.from_] >= 2:
            sources.add(edge.from_)
    return frozenset(sources)


def resolve_in(
    name_or_url: str, by_name: dict[str, Node], by_url: dict[str, list[str]]
) -> str | None:
    """The task ``name_or_url`` denotes in these tables (see ``Graph.resolve``), or ``None``."""
    if name_or_url == END or name_or_url in by_name:
        return name_or_url
    named = by_url.get(name_or_url, [])
    return named[0] if len(named) == 1 else None


def _same_objects(a: tuple[Any, ...], b: list[Any]) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))
