"""The execution DAG as rewinds see it: what a rewind sweeps, and the overrides it applies.

Pure functions over a flow's step rows, shared by ``restart_from`` and ``fork``. Re-counting a
cohort after a rewind is cohort accounting and lives with the rest of it in
``dwarf.engine._step._cohort`` (``count_branches``).

Sweep: rewinding to step X discards every step that exists because X ran, i.e. X's descendants
along both DAG edges (a step's ``successor_id`` and every step whose ``predecessor_id`` is it).
Following both edges matters: a fan-in's predecessor is the *last* arriver, so a fan-in fired
after X arrived is only reachable from X through X's ``successor_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dwarf.engine._step._cohort import Node, children_of

__all__ = ["lineage_chain", "overlay", "sweep"]


def sweep(nodes: Mapping[int, Node], start: int) -> set[int]:
    """Ids of every DAG descendant of ``start`` (``start`` itself excluded)."""
    children = children_of(nodes.values())
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
