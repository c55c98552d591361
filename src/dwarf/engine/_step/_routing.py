"""Which nodes follow a step (docs/internals/routing.md#r4), from graph, node and state alone.

Kept free of I/O so the routing rules can be tested exhaustively; the engine turns a ``Route``
into rows inside the transition transaction. Order of precedence: an explicit goto, then the
error route, then a switch (first true ``when`` wins), then every plain/``when``/forEach edge
(several taken at once, or any forEach, is a fan-out). Targets named ``END`` are dropped, but
remembered: an explicit route to END from a fan-out source ends the path rather than reading as
an empty cohort (a later-upstream fix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dwarf.workflow import END, Graph, compile_when

__all__ = ["Branch", "Route", "RoutingError", "route"]


class RoutingError(Exception):
    """The step's outgoing edges cannot be evaluated (the step fails with this message)."""


@dataclass(frozen=True, slots=True)
class Branch:
    """One successor: its node and, for a forEach branch, the per-element bindings."""

    node: str
    bindings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    """The outcome of routing: successors in declaration order, and how they relate."""

    branches: tuple[Branch, ...]
    fan_out: bool
    """True when the step is a fan-out source routed normally: its successors form a cohort."""
    ended: bool
    """True when some taken edge led to END."""


def _for_each_branches(
    state: Mapping[str, Any], target: str, field_name: str, as_name: str
) -> list[Branch]:
    if field_name not in state:
        return []
    items = state[field_name]
    if items is None:
        return []
    if not isinstance(items, list):
        raise RoutingError(f"forEach field {field_name!r} is not an array")
    count = len(items)
    return [
        Branch(target, {as_name: item, f"{as_name}Index": index, f"{as_name}Count": count})
        for index, item in enumerate(items)
    ]


def route(
    graph: Graph,
    node: str,
    state: Mapping[str, Any],
    *,
    goto: str | None = None,
    error_routed: bool = False,
) -> Route:
    """Evaluate the edges leaving ``node`` against ``state`` (the state after the task ran).

    ``goto`` is the target the task asked for; ``error_routed`` means the task failed and its
    onError edges apply. Raises ``RoutingError`` when routing itself fails (no matching goto
    edge, a forEach field that is not an array, a ``when`` that cannot be evaluated).
    """
    edges = graph.outgoing(node)
    if goto is not None:
        target = graph.resolve(goto) or goto
        for edge in edges:
            if edge.with_goto and (edge.to == target or edge.to == goto):
                return _finish([Branch(edge.to)], fan_out=False)
        raise RoutingError(
            f"requested goto {goto!r} but no goto transition from {node!r} leads there"
        )
    if error_routed:
        # Later upstream: onError is unconditional; the first onError edge wins.
        for edge in edges:
            if edge.on_error:
                return _finish([Branch(edge.to)], fan_out=False)
        return Route((), fan_out=False, ended=False)
    switch_edges = [edge for edge in edges if edge.switch]
    if switch_edges:
        for edge in switch_edges:
            if edge.when and compile_when(edge.when).evaluate(state):
                return _finish([Branch(edge.to)], fan_out=False)
        return Route((), fan_out=False, ended=False)
    taken: list[Branch] = []
    for edge in edges:
        if edge.with_goto or edge.on_error:
            continue
        if edge.for_each:
            if edge.when and not compile_when(edge.when).evaluate(state):
                continue
            taken.extend(_for_each_branches(state, edge.to, edge.for_each, edge.as_ or "item"))
        elif not edge.when or compile_when(edge.when).evaluate(state):
            taken.append(Branch(edge.to))
    return _finish(taken, fan_out=graph.is_fan_out_source(node))


def _finish(taken: list[Branch], *, fan_out: bool) -> Route:
    real = tuple(branch for branch in taken if branch.node != END)
    return Route(real, fan_out=fan_out, ended=len(real) != len(taken))
