"""Read-only operations on one flow: fingerprint, history, history_mermaid and step.

Nothing here writes, so every operation runs through ``Store.read`` (autocommit, no BEGIN): on
a single-writer database a write transaction would take the writer lock just to look around.

A subgraph tree lives on one shard (children are created on their parent's shard), so a tree is
walked with one query per level (``ListSubgraphLinks`` over the whole frontier) and its steps
are read in one query (``ListStepsOfFlows``), never one query per flow or per step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dwarf._storage import (
    FlowRow,
    FlowsProgressRow,
    StepNodeRow,
    StepRow,
    StepSummaryRow,
    Store,
    SubgraphLinkRow,
    Tx,
)
from dwarf.engine._operations._inputs import get_flow, not_found
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._step_input import step_input
from dwarf.workflow import FlowStep, Status, render_history_mermaid
from dwarf.workflow._json import loads

__all__ = ["fingerprint", "history", "history_mermaid", "step"]

_MAX_TREE_DEPTH = 256
"""Bound on subgraph nesting walked by navigation: corrupt links must not loop forever."""


# --- fingerprint ---------------------------------------------------------------------------


async def fingerprint(rt: Runtime, flow_key: str) -> tuple[str, Status]:
    """A digest of the flow's progress and its status.

    The digest is the sha256 of ``"status|step count|newest step update"`` over the steps of the
    flow and every subgraph flow below it: it stays put while nothing happens and changes when
    a step is added or written, or the flow's status changes.
    """
    shard, key = rt.parse(flow_key, "flow")

    async def read(db: Tx) -> tuple[Status, FlowsProgressRow | None]:
        flow = await get_flow(shard, key, db)
        tree = await _subgraph_links(db, flow.flow_id)
        ids = [flow.flow_id, *(link.flow_id for link in tree)]
        progress: FlowsProgressRow | None = await db.flows_progress(flow_ids=ids)
        return flow.status, progress

    status, progress = await shard.read(read)
    count = progress.step_count if progress is not None else 0
    newest = progress.max_updated_at if progress is not None else ""
    digest = hashlib.sha256(f"{status}|{count}|{newest}".encode()).hexdigest()
    return digest, status


# --- history -------------------------------------------------------------------------------


async def history(rt: Runtime, flow_key: str) -> list[FlowStep]:
    """The flow's steps ordered by ``(step_depth, step_id)``, without state or changes.

    A step that launched a subgraph has ``subgraph`` set, the child's workflow name, and the
    child's own history (recursively) in ``sub_history``; when a caller launched several children
    (a retried caller), the newest is shown.
    """
    shard, key = rt.parse(flow_key, "flow")

    async def read(db: Tx) -> list[FlowStep]:
        flow = await get_flow(shard, key, db)
        return await _tree_history(shard, db, flow.flow_id)

    return await shard.read(read)


async def history_mermaid(rt: Runtime, flow_key: str) -> str:
    """The flow's history as Mermaid flowchart text (see ``render_history_mermaid``)."""
    return render_history_mermaid(await history(rt, flow_key))


async def _subgraph_links(db: Tx, flow_id: int) -> list[SubgraphLinkRow]:
    """Every subgraph flow below ``flow_id``, one query per level of nesting."""
    found: list[SubgraphLinkRow] = []
    seen = {flow_id}
    frontier = [flow_id]
    while frontier:
        links: list[SubgraphLinkRow] = await db.list_subgraph_links(surgraph_flow_ids=frontier)
        fresh = [link for link in links if link.flow_id not in seen]
        seen.update(link.flow_id for link in fresh)
        found.extend(fresh)
        frontier = [link.flow_id for link in fresh]
    return found


async def _tree_history(shard: Store, db: Tx, flow_id: int) -> list[FlowStep]:
    """The history of ``flow_id`` with every subgraph's history nested under its caller."""
    links = await _subgraph_links(db, flow_id)
    # Links arrive oldest first, so the newest child of a caller is the one left standing.
    child_of_caller = {link.surgraph_step_id: link for link in links}
    rows: list[StepSummaryRow] = await db.list_steps_of_flows(
        flow_ids=[flow_id, *(link.flow_id for link in links)]
    )
    steps_of_flow: dict[int, list[StepSummaryRow]] = {}
    for row in rows:
        steps_of_flow.setdefault(row.flow_id, []).append(row)

    def assemble(owner: int, visited: frozenset[int]) -> list[FlowStep]:
        steps = []
        for row in steps_of_flow.get(owner, []):
            item = _history_step(shard.index, row)
            child = child_of_caller.get(row.step_id)
            if child is not None and child.flow_id not in visited:
                item.subgraph = True
                item.sub_workflow_name = child.workflow_name
                item.sub_history = assemble(child.flow_id, visited | {child.flow_id})
            steps.append(item)
        return steps

    return assemble(flow_id, frozenset({flow_id}))


def _error_or_note(status: str, text: str, error_type: str) -> dict[str, str]:
    # A completed step has no error: its error column holds its routing note, if any
    # (docs/internals/routing.md#r8).
    if status == Status.COMPLETED:
        return {"note": text}
    return {"error": text, "error_type": error_type}


def _history_step(shard_index: int, row: StepSummaryRow) -> FlowStep:
    return FlowStep(
        step_key=format_key(shard_index, row.step_id, row.step_token),
        step_id=row.step_id,
        step_depth=row.step_depth,
        task_name=row.task_name,
        attempt=row.attempt,
        predecessor_id=row.predecessor_id,
        successor_id=row.successor_id,
        status=row.status,
        **_error_or_note(row.status, row.error, row.error_type),
        created_at=row.created_at,
        started_at=row.started_at,
        updated_at=row.updated_at,
    )


# --- step ----------------------------------------------------------------------------------


async def step(rt: Runtime, step_key: str) -> FlowStep:
    """One step with its input state, changes and interrupt payload, and navigation keys.

    ``prev_key``/``next_key`` follow the execution DAG (``predecessor_id``/``successor_id``; a
    fan-out's next is its first branch, a fan-in's previous its last arrival) and cross subgraph
    boundaries (docs/internals/operations.md#o8): a caller's next is its child's entry step; a
    child's entry and exit stitch to the caller's neighbours; a neighbour that is a caller is passed
    through into its child (its entry going forward, its last completed tail going backward). A
    caller step also carries its child's workflow name and history.
    """
    shard, key = rt.parse(step_key, "step")

    async def read(db: Tx) -> FlowStep:
        row: StepRow | None = await db.get_step(step_id=key.id, step_token=key.token)
        if row is None:
            raise await not_found(db, key)
        item = FlowStep(
            step_key=format_key(shard.index, row.step_id, row.step_token),
            step_id=row.step_id,
            step_depth=row.step_depth,
            task_name=row.task_name,
            attempt=row.attempt,
            predecessor_id=row.predecessor_id,
            successor_id=row.successor_id,
            state=await step_input(db, row.state, row.state_base),
            changes=_json_object(row.changes),
            interrupt_payload=_json_object(row.interrupt_payload),
            status=row.status,
            **_error_or_note(row.status, row.error, row.error_type),
            created_at=row.created_at,
            started_at=row.started_at,
            updated_at=row.updated_at,
        )
        nav = _Navigator(shard, db)
        child: FlowRow | None = await db.get_child_flow_of_step(surgraph_step_id=row.step_id)
        if child is not None:
            item.subgraph = True
            item.sub_workflow_name = child.workflow_name
            item.sub_history = await _tree_history(shard, db, child.flow_id)
        prev_id, next_id = await nav.neighbours(row, child)
        item.prev_key = await nav.key_of(prev_id)
        item.next_key = await nav.key_of(next_id)
        return item

    return await shard.read(read)


def _json_object(text: str) -> dict[str, Any]:
    """A stored JSON object column; anything else (empty, null) reads as ``{}``."""
    if not text:
        return {}
    value = loads(text)
    return value if isinstance(value, dict) else {}


@dataclass
class _Navigator:
    """Resolves DAG neighbours of a step, crossing subgraph boundaries, within one shard."""

    shard: Store
    db: Tx

    async def neighbours(self, row: StepRow, child: FlowRow | None) -> tuple[int, int]:
        """(previous, next) step ids of ``row``; 0 where there is none."""
        prev_id, next_id = row.predecessor_id, row.successor_id
        if prev_id == 0 or next_id == 0:
            # An entry or exit of a subgraph flow stitches to its caller's neighbours.
            flow: FlowRow | None = await self.db.get_flow_by_id(flow_id=row.flow_id)
            if flow is not None and flow.surgraph_step_id > 0:
                caller: StepRow | None = await self.db.get_step_by_id(step_id=flow.surgraph_step_id)
                if caller is not None:
                    prev_id = prev_id or caller.predecessor_id
                    next_id = next_id or caller.successor_id
        if child is not None:
            entry = await self._entry_of(child.flow_id)
            if entry:
                next_id = entry
        return await self._through_backward(prev_id), await self._through_forward(next_id)

    async def key_of(self, step_id: int) -> str:
        """The key of step ``step_id`` ("" for 0 or a step that is gone)."""
        if step_id <= 0:
            return ""
        row: StepRow | None = await self.db.get_step_by_id(step_id=step_id)
        return format_key(self.shard.index, row.step_id, row.step_token) if row else ""

    async def _through_forward(self, step_id: int) -> int:
        """Pass through callers into their child's entry step, nested callers included."""
        return await self._through(step_id, self._entry_of)

    async def _through_backward(self, step_id: int) -> int:
        """Pass through callers into their child's last completed tail, nested callers included."""
        return await self._through(step_id, self._exit_of)

    async def _through(self, step_id: int, into: Callable[[int], Awaitable[int]]) -> int:
        for _ in range(_MAX_TREE_DEPTH):
            child = await self._child_of(step_id)
            inner = await into(child) if child else 0
            if not inner:
                return step_id
            step_id = inner
        return step_id

    async def _child_of(self, step_id: int) -> int:
        if step_id <= 0:
            return 0
        child: FlowRow | None = await self.db.get_child_flow_of_step(surgraph_step_id=step_id)
        return child.flow_id if child is not None else 0

    async def _dag(self, flow_id: int) -> list[StepNodeRow]:
        rows: list[StepNodeRow] = await self.db.list_step_dag(flow_id=flow_id)
        return rows

    async def _entry_of(self, flow_id: int) -> int:
        entries = [r.step_id for r in await self._dag(flow_id) if r.predecessor_id == 0]
        return min(entries, default=0)

    async def _exit_of(self, flow_id: int) -> int:
        tails = [
            r.step_id
            for r in await self._dag(flow_id)
            if r.successor_id == 0 and r.status == Status.COMPLETED
        ]
        return max(tails, default=0)
