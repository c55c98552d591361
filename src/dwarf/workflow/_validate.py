"""Whole-graph checks for ``Graph.validate()`` and the lineage walk behind ``Graph.fan_in_of``.

Rationale: the engine never re-checks a graph while running it, so every shape it would
mis-execute must be refused here, at create, naming the task or edge (docs/internals/routing.md#r2).
Checks run in a fixed order and stop at the first problem, so a given graph always reports the same
message. The order follows upstream's ``Graph.Validate`` with the later-upstream fixes adopted:

* onError is unconditional: an onError edge may not carry ``when`` and a task has at most one.
* The lineage walk tests "edge into a fan-in" before "goto/onError/switch edge", because the engine
  counts *any* edge into a fan-in as a cohort arrival; testing the override kinds first let an
  override reach a fan-in from outside every cohort, which hot-loops at runtime.
* An override (goto/onError/switch) out of a fan-out source pushes no frame: the engine spawns no
  cohort for it. So ``goto END`` from a fan-out source is legal, and an override that wanders back
  into the fan-in, or into one of the branches, is refused (no frame to pop / two stacks).

The lineage walk is a breadth-first walk from the entry carrying, per task, the stack of fan-out
sources whose cohorts are open there. An edge out of a fan-out source pushes the source; an edge
into a fan-in pops one frame (or, straight from the source itself, records source -> fan-in without
pushing); ``END`` needs an empty stack; a task reached with two different stacks is ambiguous (its
step would not know which cohort it belongs to) and must be split into alias tasks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dwarf.errors import BadRequestError
from dwarf.workflow._graph_elements import END
from dwarf.workflow._typos import nearest
from dwarf.workflow._when import compile_when

if TYPE_CHECKING:
    from dwarf.workflow._graph import Graph
    from dwarf.workflow._graph_elements import Node, Transition

__all__ = ["validate_graph", "walk_lineage"]


def validate_graph(graph: Graph, *, implicit: frozenset[str] = frozenset()) -> dict[str, str]:
    """Check ``graph``; raise ``BadRequestError`` naming the first problem.

    ``implicit`` names the tasks only a transition endpoint created (checked for typos of the
    added tasks). Returns each fan-out source's fan-in (the ``fanOutToFanIn`` map)."""
    label = f"graph {graph.name!r}"
    if not graph.name:
        raise BadRequestError("graph name must not be empty")
    nodes = graph.nodes()
    if not nodes:
        raise BadRequestError(f"{label} has no tasks")
    _check_tasks(label, nodes)
    names = {node.name for node in nodes}
    if not graph.entry_point:
        raise BadRequestError(f"{label} has no entry point")
    if graph.entry_point not in names:
        raise BadRequestError(f"{label}: entry point {graph.entry_point!r} is not a task")

    raw = graph.transitions()
    for index, edge in enumerate(raw):
        _check_endpoints(label, graph, index, edge)
    resolved = [_resolved(graph, edge) for edge in raw]
    _check_typos(label, graph.entry_point, names, implicit, resolved)
    _check_edges(label, resolved)
    _check_switch_mixing(label, resolved)
    _check_reachable(label, graph.entry_point, nodes, resolved)
    if not any(edge.to == END for edge in resolved):
        raise BadRequestError(f"{label} has no transition to END")

    mapping, problem = walk_lineage(graph)
    if problem is not None:
        raise BadRequestError(f"{label}: {problem}")
    return mapping


def walk_lineage(graph: Graph) -> tuple[dict[str, str], str | None]:
    """Walk the graph's fan-out frames from the entry point.

    Returns the fan-out-source -> fan-in map found, and the first lineage problem (``None`` if
    there is none). The map is usable even when there is a problem: it holds what the walk had
    established before stopping, which is what ``fan_in_of`` reports for an invalid graph."""
    fan_in_of: dict[str, str] = {}
    stacks: dict[str, tuple[str, ...]] = {graph.entry_point: ()}
    queue: deque[str] = deque([graph.entry_point])
    while queue:
        src = queue.popleft()
        here = stacks[src]
        src_fans_out = graph.is_fan_out_source(src)
        for edge in graph.outgoing(src):
            dst = edge.to
            # Fan-in first (see the module docstring): any edge into a fan-in is an arrival.
            if graph.is_fan_in(dst):
                if src_fans_out:
                    after, spawn = here, src
                elif here:
                    after, spawn = here[:-1], here[-1]
                else:
                    return fan_in_of, (
                        f"transition {src!r} -> fan-in {dst!r} has no fan-out frame to pop: "
                        f"{src!r} is not inside a fan-out whose branches converge there"
                    )
                prior = fan_in_of.get(spawn)
                if prior is not None and prior != dst:
                    return fan_in_of, (
                        f"the branches of fan-out source {spawn!r} converge on different "
                        f"fan-ins ({prior!r} and {dst!r}); they must all converge on one"
                    )
                fan_in_of[spawn] = dst
            elif edge.with_goto or edge.on_error or edge.switch or not src_fans_out:
                after = here
            else:
                after = (*here, src)

            if dst == END:
                if after:
                    return fan_in_of, (
                        f"transition {src!r} -> END leaves fan-out frames {_show(after)} open; "
                        "every branch must pass through its fan-in before END"
                        + _switch_hint(graph, after)
                    )
                continue
            seen = stacks.get(dst)
            if seen is None:
                stacks[dst] = after
                queue.append(dst)
            elif seen != after:
                return fan_in_of, (
                    f"task {dst!r} is reached with two different lineage stacks "
                    f"({_show(seen)} and {_show(after)}); register an alias task (same URL, "
                    "another name) for the second position" + _switch_hint(graph, seen, after)
                )

    for node in graph.nodes():
        if graph.is_fan_out_source(node.name) and node.name not in fan_in_of:
            return fan_in_of, (
                f"fan-out source {node.name!r} has no fan-in downstream; mark the task where "
                "its branches converge with set_fan_in" + _switch_hint(graph, (node.name,))
            )
    return fan_in_of, None


def _check_tasks(label: str, nodes: Sequence[Node]) -> None:
    seen: set[str] = set()
    for index, node in enumerate(nodes):
        if not node.name:
            raise BadRequestError(f"{label}: task #{index} has an empty name")
        if node.name == END:
            raise BadRequestError(f"{label}: {END!r} is reserved and cannot name a task")
        if node.name in seen:
            raise BadRequestError(f"{label}: duplicate task {node.name!r}")
        seen.add(node.name)


def _check_endpoints(label: str, graph: Graph, index: int, edge: Transition) -> None:
    where = f"{label}: transition #{index} {edge.from_!r} -> {edge.to!r}"
    if edge.from_ == END:
        raise BadRequestError(f"{where} leaves END, which is terminal")
    for role, ref in (("source", edge.from_), ("target", edge.to)):
        if not ref:
            raise BadRequestError(f"{where} has an empty {role}")
        if graph.resolve(ref) is not None:
            continue
        sharing = graph.names_for_url(ref)
        if sharing:
            shown = ", ".join(repr(name) for name in sharing)
            raise BadRequestError(
                f"{where}: {role} {ref!r} is the URL of several tasks ({shown}); name the task"
            )
        raise BadRequestError(f"{where}: unknown {role} {ref!r} (not a task name or URL)")


def _check_edges(label: str, edges: Sequence[Transition]) -> None:
    on_error_from: set[str] = set()
    for edge in edges:
        where = f"{label}: transition {edge.from_!r} -> {edge.to!r}"
        if edge.for_each and edge.with_goto:
            raise BadRequestError(f"{where} combines forEach with withGoto")
        if edge.as_ and not edge.for_each:
            raise BadRequestError(f"{where} has 'as' without 'forEach'")
        if edge.on_error and (edge.for_each or edge.with_goto):
            raise BadRequestError(f"{where} combines onError with forEach or withGoto")
        if edge.switch and (edge.for_each or edge.with_goto or edge.on_error):
            raise BadRequestError(f"{where} combines switch with forEach, withGoto or onError")
        if edge.switch and not edge.when:
            raise BadRequestError(
                f"{where}: a switch transition needs a 'when' expression (use \"true\" for the "
                "default branch)"
            )
        if edge.on_error and edge.when:
            raise BadRequestError(
                f"{where}: an onError transition cannot have a 'when' expression (onError is "
                "unconditional: it fires whenever the task fails)"
            )
        if edge.on_error and edge.from_ == edge.to:
            raise BadRequestError(
                f"{where}: an onError transition back to the same task would loop without "
                "bound; use flow.retry(...) in the task for bounded retries"
            )
        if edge.on_error:
            if edge.from_ in on_error_from:
                raise BadRequestError(
                    f"{label}: task {edge.from_!r} has more than one onError transition; "
                    "only one is allowed"
                )
            on_error_from.add(edge.from_)
        if edge.when:
            try:
                compiled = compile_when(edge.when)
            except BadRequestError as exc:
                raise BadRequestError(f"{where} has an invalid 'when' expression: {exc}") from None
            mismatch = compiled.literal_kind_mismatch()
            if mismatch is not None:
                raise BadRequestError(
                    f"{where}: 'when' compares values of different types ({mismatch}), which "
                    "never depends on the state; compare values of one type"
                )


def _check_typos(
    label: str,
    entry: str,
    names: set[str],
    implicit: frozenset[str],
    edges: Sequence[Transition],
) -> None:
    # A typo'd endpoint leaves a loose end: the graph only enters the task it created (a
    # misspelt target) or only leaves it (a misspelt source). An implicit task used on purpose
    # is both entered and left, or is the entry point, so it is never flagged.
    added = sorted(names - implicit)
    entered = {edge.to for edge in edges}
    left = {edge.from_ for edge in edges}
    for name in sorted(implicit & names):
        if name == entry or (name in entered and name in left):
            continue
        near = nearest(name, added)
        if near:
            role = "target" if name in entered else "source"
            raise BadRequestError(
                f"{label}: task {name!r} exists only because a transition names it as a {role} "
                f"(add_task never added it); did you mean {near[0]!r}?"
            )


def _check_switch_mixing(label: str, edges: Sequence[Transition]) -> None:
    switching = {edge.from_ for edge in edges if edge.switch}
    for edge in edges:
        if edge.from_ in switching and not (edge.switch or edge.on_error or edge.with_goto):
            raise BadRequestError(
                f"{label}: task {edge.from_!r} mixes switch transitions with a non-switch "
                f"transition to {edge.to!r}; make every success-path edge a switch (use "
                'when="true" for the default) or use a goto for explicit overrides'
            )


def _check_reachable(
    label: str, entry: str, nodes: Sequence[Node], edges: Sequence[Transition]
) -> None:
    # Every kind of edge counts: a task reached only by goto or onError is still reachable.
    successors: dict[str, list[str]] = {}
    for edge in edges:
        successors.setdefault(edge.from_, []).append(edge.to)
    reached = {entry}
    queue: deque[str] = deque([entry])
    while queue:
        for dst in successors.get(queue.popleft(), []):
            if dst != END and dst not in reached:
                reached.add(dst)
                queue.append(dst)
    for node in nodes:
        if node.name not in reached:
            raise BadRequestError(
                f"{label}: task {node.name!r} is not reachable from the entry point {entry!r}"
            )


def _resolved(graph: Graph, edge: Transition) -> Transition:
    src = graph.resolve(edge.from_) or edge.from_
    dst = graph.resolve(edge.to) or edge.to
    if src == edge.from_ and dst == edge.to:
        return edge
    return edge.model_copy(update={"from_": src, "to": dst})


def _switch_hint(graph: Graph, *stacks: tuple[str, ...]) -> str:
    """Point at ``add_transition_switch`` when a frame in ``stacks`` was opened by ``when`` edges
    only: two ``when`` edges meant as if/else are a conditional fan-out, the usual cause."""
    for source in dict.fromkeys(name for stack in stacks for name in stack):
        plain = [
            edge
            for edge in graph.outgoing(source)
            if not (edge.with_goto or edge.on_error or edge.switch)
        ]
        if len(plain) > 1 and all(edge.when and not edge.for_each for edge in plain):
            return (
                f". Note: {source!r} has {len(plain)} 'when' transitions, which all run when "
                "they hold (a conditional fan-out); if they are meant as if/else, add them with "
                "add_transition_switch (first match wins, no fan-in needed)"
            )
    return ""


def _show(stack: tuple[str, ...]) -> str:
    return "[" + ", ".join(repr(name) for name in stack) + "]"
