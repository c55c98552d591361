"""Subgraph trees: finding the flows below a set of flows, and dropping them with their steps.

A subgraph child points at its parent through ``surgraph_flow_id``; a tree is walked one level
per query (children of a whole level at once), so its cost follows the tree's depth, not its
size. Id lists are sent in chunks: SQL Server caps a statement at 2,100 parameters, and no
dialect likes a multi-thousand-element IN list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from dwarf._storage import Tx
from dwarf.workflow import Status

__all__ = ["CHUNK", "Descendant", "chunks", "delete_root_flows", "descendants", "drop_flows"]

CHUNK = 500
"""Ids per IN list."""


@dataclass(frozen=True, slots=True)
class Descendant:
    """A flow below one of the walked roots."""

    flow_id: int
    root_id: int
    """Which of the walked flows it descends from."""
    status: str


def chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    """``ids`` in lists of at most ``CHUNK``."""
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


async def descendants(db: Tx, roots: Iterable[int]) -> list[Descendant]:
    """Every subgraph flow below ``roots`` (any depth, any status), parents before children."""
    root_of = {flow_id: flow_id for flow_id in roots}
    found: list[Descendant] = []
    level = list(root_of)
    while level:
        next_level: list[int] = []
        for ids in chunks(level):
            for child in await db.list_child_flows_of(flow_ids=ids):
                if child.flow_id in root_of:
                    continue  # a malformed link must not loop forever
                root = root_of[child.surgraph_flow_id]
                root_of[child.flow_id] = root
                found.append(Descendant(child.flow_id, root, child.status))
                next_level.append(child.flow_id)
        level = next_level
    return found


async def drop_flows(db: Tx, flow_ids: Sequence[int]) -> None:
    """Delete the flows and all their steps, whatever their status (steps first)."""
    for ids in chunks(flow_ids):
        await db.drop_steps_of_flows(flow_ids=ids)
    for ids in chunks(flow_ids):
        await db.drop_flows(flow_ids=ids)


async def delete_root_flows(db: Tx, roots: Sequence[int]) -> int:
    """Delete stopped root flows with their subgraph trees; how many roots went.

    A root with a running flow in its tree (a bug, a manual edit: a stopped root has no live
    child) keeps its whole tree. The root deletes skip a flow that is running again since it
    was selected (restarted), as purge and the reaper both need.
    """
    tree = await descendants(db, roots)
    blocked = {child.root_id for child in tree if child.status == Status.RUNNING}
    keep = [root for root in roots if root not in blocked]
    await drop_flows(db, [c.flow_id for c in tree if c.root_id not in blocked])
    deleted = 0
    for ids in chunks(keep):
        await db.delete_steps_of_flows(flow_ids=ids)
        deleted += await db.delete_flows(flow_ids=ids)
    return deleted
