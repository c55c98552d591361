"""Reading a whole cohort when its fan-in fires, a page at a time (docs/internals/fan-in.md#f14).

The firing arrival needs, from every member of the cohort: the completed members' deltas in
fold order (ordinal, then step id; a member that spawned an inner cohort followed by that
cohort's, recursively), the exits to point at the fan-in, and the deepest member's depth. A
cohort of 100,000 members read as one result would hold the event loop for the whole statement
and the decoding of its rows, and keep every delta in memory at once. Instead:

1. ``survey`` pages through the members in step id order (keyset on ``step_id``, served by the
   lineage index) and keeps only what is small: each completed member's fold key, the exit ids,
   the maximum depth. The keys are then sorted into fold order in memory.
2. ``cohort_deltas`` reads the deltas of ``PAGE`` members at a time, by id, in fold order, and
   yields them page by page to a ``Fold``; ``link_exits`` updates the exits ``PAGE`` at a time.

Every page runs in the firing transaction, so the pages see one cohort (the members have all
arrived: none changes under it), and the event loop gets a turn between pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any

from dwarf._storage import Tx
from dwarf.workflow import Status
from dwarf.workflow._json import loads

__all__ = ["PAGE", "Survey", "cohort_deltas", "link_exits", "survey"]

PAGE = 1000
"""Members read (or linked) per statement. Tests lower it to drive the paging with a small
cohort. At most 2,000: SQL Server takes 2,100 parameters per statement."""


@dataclass(slots=True)
class Survey:
    """What a fan-in needs to know about its cohort, short of the deltas."""

    members: list[tuple[int, int, int]] = field(default_factory=list)
    """Completed members as ``(ordinal, step_id, inner cohort size)``, in fold order."""
    exits: list[int] = field(default_factory=list)
    """Members whose task feeds the fan-in and that have no successor yet."""
    depth: int = 0
    """The deepest member's depth (0: no member)."""


async def survey(db: Tx, spawn: int, feeders: Collection[str] = ()) -> Survey:
    """Page through ``spawn``'s cohort; ``feeders`` are the tasks whose steps are exits."""
    found = Survey()
    after = 0
    while True:
        page = await db.list_cohort_page(lineage_id=spawn, after_id=after, row_limit=PAGE)
        for row in page:
            if row.status == Status.COMPLETED:
                found.members.append((row.fan_out_ordinal, row.step_id, row.cohort_size))
            if row.successor_id == 0 and row.task_name in feeders:
                found.exits.append(row.step_id)
            found.depth = max(found.depth, row.step_depth)
        if len(page) < PAGE:
            break
        after = page[-1].step_id
        await asyncio.sleep(0)
    # Usually already in order (branches are inserted in ordinal order): a near-linear sort.
    found.members.sort()
    return found


async def cohort_deltas(
    db: Tx, members: list[tuple[int, int, int]]
) -> AsyncIterator[list[dict[str, Any]]]:
    """The deltas of ``members`` (a survey's, in fold order) in pages, nested cohorts inlined.

    A member that spawned an inner cohort is followed by that cohort's deltas (recursively), so
    what an inner branch wrote reaches the outer fan-in even though only the inner fan-in step
    carries it in its input state.
    """
    for start in range(0, len(members), PAGE):
        chunk = members[start : start + PAGE]
        rows = await db.list_step_changes(step_ids=[step_id for _, step_id, _ in chunk])
        changes = {row.step_id: row.changes for row in rows}
        deltas: list[dict[str, Any]] = []
        for _, step_id, inner in chunk:
            deltas.append(loads(changes[step_id]))
            if inner > 0:
                yield deltas
                deltas = []
                nested = await survey(db, step_id)
                async for page in cohort_deltas(db, nested.members):
                    yield page
        yield deltas
        await asyncio.sleep(0)


async def link_exits(db: Tx, exits: list[int], fan_in: int) -> None:
    """Point every exit at the fan-in step ``fan_in``, ``PAGE`` at a time."""
    for start in range(0, len(exits), PAGE):
        await db.set_steps_successor(successor_id=fan_in, step_ids=exits[start : start + PAGE])
        await asyncio.sleep(0)
