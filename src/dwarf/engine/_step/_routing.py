"""Which nodes follow a step (docs/internals/routing.md#r4), from graph, node and state alone.

Kept free of I/O so the routing rules can be tested exhaustively; the engine turns a ``Route``
into rows inside the transition transaction. Order of precedence: an explicit goto, then the
error route, then a switch (first true ``when`` wins), then every plain/``when``/forEach edge
(several taken at once, or any forEach, is a fan-out). Targets named ``END`` are dropped, but
remembered: an explicit route to END from a fan-out source ends the path rather than reading as
an empty cohort (a later-upstream fix).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from dwarf.workflow import END, Graph, compile_when

__all__ = ["Branch", "Branches", "Route", "RoutingError", "route"]


class RoutingError(Exception):
    """The step's outgoing edges cannot be evaluated (the step fails with this message)."""


@dataclass(frozen=True, slots=True)
class Branch:
    """One successor: its node and, for a forEach branch, the per-element bindings."""

    node: str
    bindings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _ForEach:
    """The branches of one forEach edge, not yet built: one per element of ``items``."""

    node: str
    items: Sequence[Any]
    as_name: str

    def branch(self, index: int) -> Branch:
        name = self.as_name
        bindings = {name: self.items[index], f"{name}Index": index, f"{name}Count": len(self.items)}
        return Branch(self.node, bindings)


class Branches(Sequence[Branch]):
    """A route's successors in declaration order, a forEach edge's built only when read.

    A forEach over 100,000 elements would otherwise build 100,000 branches (and their
    bindings) in one synchronous stretch while routing; the transition reads them one at a
    time, yielding to the event loop as it inserts (docs/internals/routing.md#r4).
    """

    __slots__ = ("_parts", "_starts")

    def __init__(self, parts: Sequence[Branch | _ForEach] = ()) -> None:
        self._parts = tuple(part for part in parts if not isinstance(part, _ForEach) or part.items)
        starts, total = [], 0
        for part in self._parts:
            starts.append(total)
            total += len(part.items) if isinstance(part, _ForEach) else 1
        self._starts = (*starts, total)

    def __len__(self) -> int:
        return self._starts[-1]

    @overload
    def __getitem__(self, index: int) -> Branch: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Branch]: ...

    def __getitem__(self, index: int | slice) -> Branch | Sequence[Branch]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("branch index out of range")
        part_index = bisect_right(self._starts, index) - 1
        part = self._parts[part_index]
        if isinstance(part, _ForEach):
            return part.branch(index - self._starts[part_index])
        return part

    def __iter__(self) -> Iterator[Branch]:
        for part in self._parts:
            if isinstance(part, _ForEach):
                for index in range(len(part.items)):
                    yield part.branch(index)
            else:
                yield part

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Branches({len(self)} branches)"

    def nodes(self) -> list[str]:
        """The distinct target nodes, in order of first appearance (without building any
        forEach branch)."""
        return list(dict.fromkeys(part.node for part in self._parts))


@dataclass(frozen=True, slots=True)
class Route:
    """The outcome of routing: successors in declaration order, and how they relate."""

    branches: Branches
    fan_out: bool
    """True when the step is a fan-out source routed normally: its successors form a cohort."""
    ended: bool
    """True when some taken edge led to END."""
    note: str = ""
    """How routing surprised: no edge matched though the node has some (a dead end), or a
    ``when`` compared values of different JSON types; ``""`` when nothing did
    (docs/internals/routing.md#r8)."""
    dead_end: bool = False
    """True when the node has outgoing edges but none was taken."""


def _for_each_branches(
    state: Mapping[str, Any], target: str, field_name: str, as_name: str
) -> _ForEach:
    items = state.get(field_name)
    if items is None:
        return _ForEach(target, (), as_name)
    if not isinstance(items, list):
        raise RoutingError(f"forEach field {field_name!r} is not an array")
    return _ForEach(target, items, as_name)


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
        return Route(Branches(), fan_out=False, ended=False)
    notes = _Notes(state)
    switch_edges = [edge for edge in edges if edge.switch]
    if switch_edges:
        for edge in switch_edges:
            if edge.when and notes.holds(edge.when):
                return _finish([Branch(edge.to)], fan_out=False, note=notes.text())
        return notes.dead_end(node, "switch: ")
    taken: list[Branch | _ForEach] = []
    matched = False
    for edge in edges:
        if edge.with_goto or edge.on_error:
            continue
        if edge.when and not notes.holds(edge.when):
            continue
        matched = True
        if edge.for_each:
            taken.append(_for_each_branches(state, edge.to, edge.for_each, edge.as_ or "item"))
        else:
            taken.append(Branch(edge.to))
    fan_out = graph.is_fan_out_source(node)
    if not matched and edges and not fan_out:
        # At a fan-out source no branch is an empty cohort whose fan-in fires: not a dead end.
        return notes.dead_end(node, "")
    return _finish(taken, fan_out=fan_out, note=notes.text())


class _Notes:
    """Evaluates ``when`` texts over one state, remembering what a note needs: each condition
    and its result, and the comparisons that met values of different JSON types."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self._state = state
        self._evaluated: list[str] = []
        self._mismatches: list[str] = []

    def holds(self, when: str) -> bool:
        expression = compile_when(when)
        result = expression.evaluate(self._state)
        self._evaluated.append(f"{when!r} is {'true' if result else 'false'}")
        self._mismatches.extend(
            f"{when!r} compared values of different types: {found}"
            for found in expression.kind_mismatches(self._state)
        )
        return result

    def text(self) -> str:
        return "; ".join(self._mismatches)

    def dead_end(self, node: str, kind: str) -> Route:
        evaluated = ", ".join(self._evaluated) or "only goto/onError transitions, none requested"
        note = f"no transition matched out of {node!r} ({kind}{evaluated})"
        mismatches = self.text()
        return Route(
            Branches(),
            fan_out=False,
            ended=False,
            note=f"{note}; {mismatches}" if mismatches else note,
            dead_end=True,
        )


def _finish(taken: Sequence[Branch | _ForEach], *, fan_out: bool, note: str = "") -> Route:
    # A forEach edge into END over a non-empty array is taken (and dropped) like a plain one.
    real = Branches(taken)
    kept = Branches([part for part in taken if part.node != END])
    return Route(kept, fan_out=fan_out, ended=len(kept) != len(real), note=note)
