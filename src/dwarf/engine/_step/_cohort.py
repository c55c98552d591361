"""Cohorts: everything about fan-out accounting and the fan-in, in one place.

A fan-out source's successors form a cohort whose counters live on the source ("spawn") step:
``cohort_size``, ``cohort_arrivals`` (branches that reached the fan-in or failed) and
``cohort_failures``. Branches carry ``lineage_id = spawn`` and their ordinal.

- An arrival adds to the spawn's counters, then reads them back in the same transaction: the
  increment and the read hit one row, so exactly one transaction sees ``arrivals == size``, and
  that one merges the members' changes with the graph's reducers in ordinal order (never
  completion order), reading them a page at a time (``_fan_in``), and inserts the fan-in step
  once (docs/internals/fan-in.md).
- A failed branch counts as an arrival with a failure; only when the whole cohort has arrived
  does the failure travel up, to the enclosing cohort or to the flow, so siblings keep running
  until then.
- After a rewind the counters are recomputed from the surviving rows (``count_branches``)
  instead of being patched per swept member: counting members over-subtracts for multi-step
  branches (docs/internals/fan-in.md#f12).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dwarf._storage import Tx
from dwarf.engine._step._context import StepContext
from dwarf.engine._step._fan_in import cohort_deltas, link_exits, survey
from dwarf.engine._step._final_state import for_each_bindings
from dwarf.engine._step._step_input import step_input
from dwarf.engine._step._successors import SuccessorInserter
from dwarf.workflow import Status, merge_state
from dwarf.workflow._json import loads
from dwarf.workflow._reducers import Fold

__all__ = [
    "LIVE_STATUSES",
    "Arrival",
    "CohortError",
    "Node",
    "arrive",
    "children_of",
    "count_branches",
    "count_failure",
]

LIVE_STATUSES = frozenset({Status.CREATED, Status.PENDING, Status.RUNNING, Status.INTERRUPTED})
"""Step statuses of work that has not settled (a branch holding one has not arrived)."""


class CohortError(Exception):
    """The arrival cannot be recorded (no cohort, or the branches cannot be merged)."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """What an arrival at a fan-in did."""

    fired: int = 0
    """The fan-in step this arrival inserted (0: the cohort is still waiting)."""
    failed_lineage: int | None = None
    """Set when this arrival completed a cohort that had failures: the lineage the failure
    travels up to (0 = the flow itself)."""
    failed_spawn: str = ""
    """The task of the failed cohort's spawn step (its forEach bindings leave the state)."""
    error: str = ""
    """The failed cohort's first failed step's error (what the failure carries up)."""


async def arrive(
    ctx: StepContext,
    db: Tx,
    spawn: int,
    fan_ins: list[str],
    inserter: SuccessorInserter,
    *,
    count: int = 0,
) -> Arrival:
    """Count the claimed step's arrival at its cohort's fan-in; fire it if the cohort is done.

    ``count`` is how many arrivals to add (default: one per fan-in route of this step); a batch
    of steps arriving together adds all of theirs at once, the claimed step being the last.
    """
    row, graph = ctx.row, ctx.graph
    if spawn == 0:
        raise CohortError(f"task {row.task_name!r} reached fan-in {fan_ins[0]!r} outside a fan-out")
    await db.add_cohort_arrivals(step_id=spawn, arrivals=count or len(fan_ins), failures=0)
    cohort = await db.get_cohort(step_id=spawn)
    if cohort is None or cohort.cohort_size <= 0 or cohort.cohort_arrivals < cohort.cohort_size:
        return Arrival()
    if cohort.cohort_failures:
        error = await db.first_failed_step_error(flow_id=ctx.flow.flow_id)
        return Arrival(
            failed_lineage=cohort.lineage_id,
            failed_spawn=cohort.task_name,
            error=error or "cohort failed",
        )
    fan_in = fan_ins[0]
    reducers = graph.reducers()
    spawn_row = await db.get_step_input(step_id=spawn)
    if spawn_row is None:
        raise CohortError(f"fan-in {fan_in!r}: its spawn step {spawn} is gone")
    spawn_input = await step_input(db, spawn_row.state, spawn_row.state_base)
    # The cohort is read a page at a time and folded as it is read (docs/internals/fan-in.md#f14).
    feeders = {edge.from_ for edge in graph.transitions() if graph.resolve(edge.to) == fan_in}
    members = await survey(db, spawn, feeders)
    fold = Fold(merge_state(spawn_input, loads(spawn_row.changes), reducers), reducers, owned=True)
    async for deltas in cohort_deltas(db, members.members):
        try:
            fold.add(deltas)
        except (TypeError, ValueError) as exc:
            raise CohortError(f"fan-in {fan_in!r} cannot merge its branches: {exc}") from None
    merged = fold.merged
    for key_name in for_each_bindings(graph, cohort.task_name):
        merged.pop(key_name, None)
    depth = (members.depth or row.step_depth) + 1
    # The fan-in continues the spawn's own branch (if the spawn sat in an outer cohort).
    ordinal = await db.get_step_ordinal(step_id=spawn) or 0
    step_id = await inserter.insert(fan_in, merged, cohort.lineage_id, ordinal, depth=depth)
    await link_exits(db, members.exits, step_id)
    return Arrival(fired=step_id)


async def count_failure(
    db: Tx, flow_id: int, lineage: int, error: str, spawns: list[str]
) -> str | None:
    """Count a failure arriving at cohort ``lineage``, and up through every cohort it completes.

    Returns the error the flow fails with once the failure reaches the flow (lineage 0), or
    None while a cohort is still waiting for siblings. A flow failed through a cohort reports
    its first failed step's error. ``spawns`` collects the tasks of the cohorts that completed
    failed (their forEach bindings leave the final state).
    """
    while lineage != 0:
        await db.add_cohort_arrivals(step_id=lineage, arrivals=1, failures=1)
        cohort = await db.get_cohort(step_id=lineage)
        if cohort is None or cohort.cohort_arrivals < cohort.cohort_size:
            return None
        spawns.append(cohort.task_name)
        lineage = cohort.lineage_id
        error = await db.first_failed_step_error(flow_id=flow_id) or "cohort failed"
    return error


# --- re-counting after a rewind -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """The DAG columns of one step."""

    step_id: int
    predecessor_id: int
    successor_id: int
    lineage_id: int
    status: Status


def children_of(nodes: Iterable[Node]) -> dict[int, list[Node]]:
    """The nodes grouped by their predecessor's id."""
    by_predecessor: dict[int, list[Node]] = defaultdict(list)
    for node in nodes:
        by_predecessor[node.predecessor_id].append(node)
    return by_predecessor


def count_branches(nodes: Mapping[int, Node], spawn: int, rewound: int) -> tuple[int, int]:
    """``(arrivals, failures)`` of ``spawn``'s cohort among ``nodes``, ``rewound`` re-running.

    A branch is the sub-DAG under one direct child of the spawn that stays inside the spawn's
    cohort, where "inside" is decided by walking ``lineage_id`` upward (nested fan-outs
    re-lineage their own children, so comparing lineage ids directly would stop at an inner
    spawn). A branch has arrived unless it holds the rewound step or a step that has not
    settled yet (such a branch has not reached its fan-in); it failed if any of its steps
    failed.
    """
    children = children_of(nodes.values())
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
