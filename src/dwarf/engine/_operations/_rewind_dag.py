"""The execution DAG as rewinds see it: what a rewind sweeps, and how cohorts are re-counted.

Pure functions over a flow's step rows, shared by ``restart_from`` and ``fork``.

Sweep: rewinding to step X discards every step that exists because X ran, i.e. X's descendants
along both DAG edges (a step's ``successor_id`` and every step whose ``predecessor_id`` is it).
Following both edges matters: a fan-in's predecessor is the *last* arriver, so a fan-in fired
after X arrived is only reachable from X through X's ``successor_id``.

Re-count: a fan-out's counters live on its spawn step and count *branches* that have arrived
(``cohort_arrivals``) and those that failed (``cohort_failures``). After a rewind the counters
are recomputed from the surviving rows instead of being patched with deltas per swept member:
counting members over-subtracts for multi-step branches (docs/internals/fan-in.md#f12).
A branch is the sub-DAG under one direct child of the spawn that stays inside the spawn's
cohort, where "inside" is decided by walking ``lineage_id`` upward (nested fan-outs re-lineage
their own children, so comparing lineage ids directly would stop at an inner spawn). A branch
has arrived unless it holds the rewound step or a step that has not settled yet (created,
pending, running or interrupted: such a branch has not reached its fan-in); it failed if any of
its steps failed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dwarf.workflow import Status

__all__ = ["LIVE_STATUSES", "Node", "count_branches", "lineage_chain", "overlay", "sweep"]

LIVE_STATUSES = frozenset({Status.CREATED, Status.PENDING, Status.RUNNING, Status.INTERRUPTED})
"""Step statuses of work that has not settled (a branch holding one has not arrived)."""


@dataclass(frozen=True, slots=True)
class Node:
    """The DAG columns of one step."""

    step_id: int
    predecessor_id: int
    successor_id: int
    lineage_id: int
    status: str


def _children(nodes: Iterable[Node]) -> dict[int, list[Node]]:
    by_predecessor: dict[int, list[Node]] = defaultdict(list)
    for node in nodes:
        by_predecessor[node.predecessor_id].append(node)
    return by_predecessor


def sweep(nodes: Mapping[int, Node], start: int) -> set[int]:
    """Ids of every DAG descendant of ``start`` (``start`` itself excluded)."""
    children = _children(nodes.values())
    swept: set[int] = set()
    frontier = [start]
    while frontier:
        current = frontier.pop()
        following = [child.step_id for child in children.get(current, ())]
        successor = nodes[current].successor_id if current in nodes else 0
        if successor:
            following.append(successor)
        for step_id in following:
            if step_id != start and step_id not in swept and step_id in nodes:
                swept.add(step_id)
                frontier.append(step_id)
    return swept


def lineage_chain(nodes: Mapping[int, Node], step_id: int) -> list[int]:
    """The spawn steps enclosing ``step_id``, innermost first (empty outside any fan-out)."""
    chain: list[int] = []
    lineage = nodes[step_id].lineage_id if step_id in nodes else 0
    while lineage and lineage in nodes and lineage not in chain:
        chain.append(lineage)
        lineage = nodes[lineage].lineage_id
    return chain


def count_branches(nodes: Mapping[int, Node], spawn: int, rewound: int) -> tuple[int, int]:
    """``(arrivals, failures)`` of ``spawn``'s cohort among ``nodes``, ``rewound`` re-running."""
    children = _children(nodes.values())
    member: dict[int, bool] = {}

    def in_cohort(lineage: int) -> bool:
        # Walk the lineage chain upward; memoized, and a malformed cycle reads as "outside".
        path: list[int] = []
        verdict = False
        while lineage:
            if lineage in member:
                verdict = member[lineage]
                break
            if lineage == spawn:
                verdict = True
                break
            if lineage in path or lineage not in nodes:
                break
            path.append(lineage)
            lineage = nodes[lineage].lineage_id
        for seen in path:
            member[seen] = verdict
        return verdict

    arrivals = failures = 0
    for head in children.get(spawn, ()):
        if head.lineage_id != spawn:
            continue
        settled, failed = True, False
        stack, visited = [head], {head.step_id}
        while stack:
            node = stack.pop()
            if node.step_id == rewound or node.status in LIVE_STATUSES:
                settled = False
            failed = failed or node.status == Status.FAILED
            for child in children.get(node.step_id, ()):
                if child.step_id not in visited and in_cohort(child.lineage_id):
                    visited.add(child.step_id)
                    stack.append(child)
        if settled:
            arrivals += 1
            failures += int(failed)
    return arrivals, failures


def overlay(
    state: Mapping[str, Any], overrides: Mapping[str, Any], *, nulls_delete: bool
) -> dict[str, Any]:
    """``state`` with ``overrides`` replacing its keys; a null deletes the key if asked to."""
    merged = dict(state)
    for key, value in overrides.items():
        if value is None and nulls_delete:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
