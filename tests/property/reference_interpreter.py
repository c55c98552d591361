"""A sequential reference interpreter of the engine's state semantics, for model-based tests.

It runs a validated :class:`~dwarf.workflow.Graph` one step at a time, with no database, no
concurrency and no bookkeeping rows, and returns the final state the rules say the flow ends
with. A test runs the same graph and the same tasks on the real engine and compares the two.
Tasks are modelled as a pure function ``task(name, input_state) -> delta`` (the step's changes),
so what a task writes depends only on where the interpreter says it runs and with what input.

How each rule is encoded (rules cited by page and number, pages in docs/internals/):

* **State along an edge** (state.md C2): a successor starts from its predecessor's input state
  overlaid by the predecessor's changes, key by key (replace; no reducers). Every step's input is a
  materialized snapshot: a JSON-null tombstone (a delete) travels in the changes only, and the key
  is absent from the next step's input (tombstones are removed at materialization, as upstream
  enacts deletes when changes fold onto a state). This matters for the reducers, which store a delta
  value as-is on a key absent from the base (state.md C4) but reduce it onto a cleared one. Reducers
  apply only at a fan-in and at the end.
* **Routing** (routing.md R4): a switch node takes its first switch edge whose ``when`` holds (none:
  no successor); otherwise every edge that is not goto/onError is taken when it has no ``when`` or
  its ``when`` holds; a forEach edge contributes one branch per element of its (array) field, none
  when the field is absent or null. Conditions are evaluated on the successor state (input ⊕
  changes). Targets named ``END`` are dropped.
* **Fan-out** (fan-in.md F1): a fan-out source's taken edges, in declaration order with forEach
  edges expanded in array order, are the cohort's branches; branch ``i`` is its ordinal. Each
  branch runs on a copy of the successor state plus, for a forEach branch, ``<as>`` (element),
  ``<as>Index`` and ``<as>Count``; the source array itself is kept (the later-upstream rule the
  port adopts). A branch runs until a transition leads into a fan-in node (its arrival); an edge
  from the source straight into the fan-in is a branch with no step.
* **Fan-in merge** (fan-in.md F5): the fan-in's state is ``merge_state(source input, source
  changes)`` with the graph's reducers, then ``fold_changes`` of every branch step's changes in
  ordinal order, and within a branch in execution order. A branch step that is itself a fan-out
  source contributes its changes followed by its own cohort's (nested cohorts inlined in order), so
  an inner branch's writes reach the outer fan-in. Then ``<as>``, ``<as>Index`` and ``<as>Count`` of
  every forEach edge leaving the source are removed.
* **Empty cohort** (fan-in.md F8, later-upstream behaviour): a fan-out source with no
  real successor fires its fan-in at once with ``merge_state(input, changes)`` (reducers applied
  to the source's own delta) and strips nothing.
* **Completion and final state** (routing.md R5, state.md C6): a step with no real successor (and
  not a fan-out source) ends the flow; the execution DAG then has that step as its only tail, so the
  final state is ``merge_state(input, changes)`` with the reducers and the tombstones removed
  (``strip_tombstones``).

Out of scope (the interpreter raises :class:`OutOfModelError` rather than guess): goto, onError,
retries, interrupts, subgraphs, failures, a cohort member with no successor, routes to ``END``
from inside a cohort, and graphs that loop. The reducers themselves are
:func:`~dwarf.workflow.merge_state` / :func:`~dwarf.workflow.fold_changes` /
:func:`~dwarf.workflow.strip_tombstones`, which have their own tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dwarf.workflow import END, Graph, evaluate_when, fold_changes, merge_state, strip_tombstones

__all__ = ["OutOfModelError", "ReferenceInterpreter", "Task", "TraceEntry"]

Task = Callable[[str, Mapping[str, Any]], dict[str, Any]]
"""A modelled task: ``(node name, input state) -> changes``. It must not mutate its input."""

MAX_STEPS = 10_000
"""A graph that runs more steps than this is looping: the interpreter models DAGs only."""


class OutOfModelError(Exception):
    """The graph leaves the part of the rules the interpreter models."""


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One step the interpreter ran: the node and the input state it ran with."""

    node: str
    state: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Branch:
    node: str
    bindings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Arrived:
    """A branch reached a fan-in: the changes it contributes, in execution order."""

    fan_in: str
    deltas: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Ended:
    """The flow completed: its final state."""

    final: dict[str, Any]


class ReferenceInterpreter:
    """Runs ``graph`` with ``task`` sequentially; see the module docstring for the rules."""

    def __init__(self, graph: Graph, task: Task) -> None:
        self._graph = graph
        self._task = task
        self._reducers = graph.reducers()
        self._steps = 0
        self.trace: list[TraceEntry] = []
        """Every step run so far, in the interpreter's (sequential) order."""

    def run(self, initial_state: Mapping[str, Any]) -> dict[str, Any]:
        """The final state of a flow started with ``initial_state``."""
        outcome = self._walk(self._graph.entry_point, dict(initial_state), in_cohort=False)
        if not isinstance(outcome, _Ended):
            raise OutOfModelError(f"the trunk reached fan-in {outcome.fan_in!r} outside a cohort")
        return outcome.final

    def _walk(self, node: str, state: dict[str, Any], *, in_cohort: bool) -> _Arrived | _Ended:
        """Run from ``node`` until the path arrives at a fan-in (in a cohort) or the flow ends."""
        deltas: list[dict[str, Any]] = []
        while True:
            state = strip_tombstones(state)
            self._steps += 1
            if self._steps > MAX_STEPS:
                raise OutOfModelError(f"more than {MAX_STEPS} steps: the graph loops")
            self.trace.append(TraceEntry(node, dict(state)))
            delta = self._task(node, dict(state))
            deltas.append(delta)
            after = {**state, **delta}
            taken = self._route(node, after)
            if self._graph.is_fan_out_source(node):
                node, state, cohort = self._fan_out(node, state, delta, after, taken)
                deltas.extend(cohort)
                continue
            real = [branch for branch in taken if branch.node != END]
            if not real:
                if in_cohort:
                    raise OutOfModelError(f"cohort member {node!r} has no successor")
                return _Ended(strip_tombstones(merge_state(state, delta, self._reducers)))
            if len(real) > 1:
                raise OutOfModelError(f"{node!r} took {len(real)} edges but is no fan-out source")
            target = real[0].node
            if self._graph.is_fan_in(target):
                if not in_cohort:
                    raise OutOfModelError(f"{node!r} reaches fan-in {target!r} outside a cohort")
                return _Arrived(target, deltas)
            node, state = target, after

    def _fan_out(
        self,
        source: str,
        state: dict[str, Any],
        delta: dict[str, Any],
        after: dict[str, Any],
        taken: list[_Branch],
    ) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        """Run ``source``'s cohort; return the fan-in, its input state and the cohort's deltas."""
        fan_in = self._graph.fan_in_of(source)
        if fan_in is None:
            raise OutOfModelError(f"fan-out source {source!r} has no fan-in")
        base = merge_state(state, delta, self._reducers)
        if any(branch.node == END for branch in taken):
            raise OutOfModelError(f"fan-out source {source!r} routes to END")
        if not taken:
            return fan_in, base, []
        cohort: list[dict[str, Any]] = []
        for branch in taken:
            if self._graph.is_fan_in(branch.node):
                arrived = branch.node  # straight from the source: an arrival with no step
            else:
                outcome = self._walk(branch.node, {**after, **branch.bindings}, in_cohort=True)
                if not isinstance(outcome, _Arrived):
                    raise OutOfModelError(f"a branch of {source!r} ended the flow")
                arrived = outcome.fan_in
                cohort.extend(outcome.deltas)
            if arrived != fan_in:
                raise OutOfModelError(
                    f"a branch of {source!r} arrived at {arrived!r}, not its fan-in {fan_in!r}"
                )
        merged = fold_changes(base, cohort, self._reducers)
        for edge in self._graph.outgoing(source):
            if edge.for_each:
                name = edge.as_ or "item"
                for key in (name, f"{name}Index", f"{name}Count"):
                    merged.pop(key, None)
        return fan_in, merged, cohort

    def _route(self, node: str, state: Mapping[str, Any]) -> list[_Branch]:
        """The branches ``node`` takes given ``state`` (goto and onError are not modelled)."""
        edges = self._graph.outgoing(node)
        switch = [edge for edge in edges if edge.switch]
        if switch:
            for edge in switch:
                if edge.when and evaluate_when(edge.when, state):
                    return [_Branch(edge.to)]
            return []
        taken: list[_Branch] = []
        for edge in edges:
            if edge.with_goto or edge.on_error:
                continue
            if edge.when and not evaluate_when(edge.when, state):
                continue
            if not edge.for_each:
                taken.append(_Branch(edge.to))
                continue
            items = state.get(edge.for_each)
            if items is None:
                continue
            if not isinstance(items, list):
                raise OutOfModelError(f"forEach field {edge.for_each!r} is not an array")
            name = edge.as_ or "item"
            count = len(items)
            taken.extend(
                _Branch(edge.to, {name: item, f"{name}Index": index, f"{name}Count": count})
                for index, item in enumerate(items)
            )
        return taken
