"""Read-only operations: fingerprint, history, step, list_flows, history_mermaid, shard_info.

ENGINE.md §8 and §8.1. Nothing here writes, so every operation runs through ``shard.read``
(autocommit, no BEGIN): on SQLite a write transaction would take the one writer lock just to
look around.

Constraints behind the shapes below:

* A subgraph tree lives on one shard (children are created on their parent's shard), so a tree
  is walked with one query per level (``ListSubgraphLinks`` over the whole frontier) and its steps
  are read in one query (``ListStepsOfFlows``), never one query per flow or per step.
* ``list_flows`` pages per shard, not globally: each shard returns up to ``ceil(limit / N)`` rows
  by its own ``flow_id DESC`` and the cursor records, per shard, the smallest id returned
  (``"1=57,2=12"``). Results are grouped by shard, ascending. A shard that returned less than a
  full page is exhausted and is recorded as ``1`` (``flow_id < 1`` matches nothing), so later
  pages skip it; the cursor is empty as soon as every shard is exhausted, which also means a walk
  never ends on an empty page it could have predicted (upstream returns one more, empty, page).
* Search terms are matched literally: ``%``, ``_`` and ``\\`` are escaped before the term is
  wrapped in ``%...%`` (upstream later fixed the seed's live wildcards). Search also matches the
  rendered flow key, which needs the shard, so it uses ``SearchFlows``.
* ``shard_info`` is a health check: a shard's failure (or a shard that does not answer within
  ``SHARD_PROBE_TIMEOUT``) is reported in its row, never raised, and the shards are probed
  concurrently so one slow shard does not hide the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from dwarf._storage._gen.rows import (
    FlowsProgressRow,
    GetFlowRow,
    GetStepRow,
    ListFlowsRow,
    ListFlowStepsRow,
    ListStepDAGRow,
    ListSubgraphLinksRow,
)
from dwarf._storage._store import Shard
from dwarf.engine._operations._flows import get_flow
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._types import ShardSummary
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import FlowStep, FlowSummary, Query, Status, render_history_mermaid
from dwarf.workflow._json import loads

__all__ = [
    "DEFAULT_LIST_LIMIT",
    "MAX_LIST_LIMIT",
    "SHARD_PROBE_TIMEOUT",
    "fingerprint",
    "history",
    "history_mermaid",
    "list_flows",
    "shard_info",
    "step",
]

DEFAULT_LIST_LIMIT = 100
"""Page size of ``list_flows`` when the query sets none."""

MAX_LIST_LIMIT = 10_000
"""Largest page ``list_flows`` accepts: a bigger page is a 400, not a silently shorter page."""

SHARD_PROBE_TIMEOUT = 10.0
"""Seconds ``shard_info`` waits for one shard before reporting it as not answering."""

_MAX_TREE_DEPTH = 256
"""Bound on subgraph nesting walked by navigation: corrupt links must not loop forever."""

_MAX_ID = 2**63 - 1
"""Largest row id a cursor may carry (BIGINT): a bigger one cannot have come from a page."""

T = TypeVar("T")


# --- fingerprint ---------------------------------------------------------------------------


async def fingerprint(rt: Runtime, flow_key: str) -> tuple[str, Status]:
    """A digest of the flow's progress and its status.

    The digest is the sha256 of ``"status|step count|newest step update"`` over the steps of the
    flow and every subgraph flow below it: it stays put while nothing happens and changes when
    a step is added or written, or the flow's status changes.
    """
    shard, key = rt.parse(flow_key, "flow")

    async def read(conn: Any) -> tuple[str, FlowsProgressRow | None]:
        flow = await get_flow(shard, key, conn)
        tree = await _subgraph_links(shard, conn, flow.flow_id)
        ids = [flow.flow_id, *(link.flow_id for link in tree)]
        progress: FlowsProgressRow | None = await shard.q.flows_progress(conn, flow_ids=ids)
        return flow.status, progress

    status, progress = await shard.read(read)
    count = progress.step_count if progress is not None else 0
    newest = progress.max_updated_at if progress is not None else ""
    digest = hashlib.sha256(f"{status}|{count}|{newest}".encode()).hexdigest()
    return digest, Status(status)


# --- history -------------------------------------------------------------------------------


async def history(rt: Runtime, flow_key: str) -> list[FlowStep]:
    """The flow's steps ordered by ``(step_depth, step_id)``, without state or changes.

    A step that launched a subgraph has ``subgraph`` set, the child's workflow name, and the
    child's own history (recursively) in ``sub_history``; when a caller launched several children
    (a retried caller), the newest is shown.
    """
    shard, key = rt.parse(flow_key, "flow")

    async def read(conn: Any) -> list[FlowStep]:
        flow = await get_flow(shard, key, conn)
        return await _tree_history(shard, conn, flow.flow_id)

    return await shard.read(read)


async def history_mermaid(rt: Runtime, flow_key: str) -> str:
    """The flow's history as Mermaid flowchart text (see ``render_history_mermaid``)."""
    return render_history_mermaid(await history(rt, flow_key))


async def _subgraph_links(shard: Shard, conn: Any, flow_id: int) -> list[ListSubgraphLinksRow]:
    """Every subgraph flow below ``flow_id``, one query per level of nesting."""
    found: list[ListSubgraphLinksRow] = []
    seen = {flow_id}
    frontier = [flow_id]
    while frontier:
        links: list[ListSubgraphLinksRow] = await shard.q.list_subgraph_links(
            conn, surgraph_flow_ids=frontier
        )
        fresh = [link for link in links if link.flow_id not in seen]
        seen.update(link.flow_id for link in fresh)
        found.extend(fresh)
        frontier = [link.flow_id for link in fresh]
    return found


async def _tree_history(shard: Shard, conn: Any, flow_id: int) -> list[FlowStep]:
    """The history of ``flow_id`` with every subgraph's history nested under its caller."""
    links = await _subgraph_links(shard, conn, flow_id)
    # Links arrive oldest first, so the newest child of a caller is the one left standing.
    child_of_caller = {link.surgraph_step_id: link for link in links}
    rows: list[ListFlowStepsRow] = await shard.q.list_steps_of_flows(
        conn, flow_ids=[flow_id, *(link.flow_id for link in links)]
    )
    steps_of_flow: dict[int, list[ListFlowStepsRow]] = {}
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


def _history_step(shard_index: int, row: ListFlowStepsRow) -> FlowStep:
    return FlowStep(
        step_key=format_key(shard_index, row.step_id, row.step_token),
        step_id=row.step_id,
        step_depth=row.step_depth,
        task_name=row.task_name,
        attempt=row.attempt,
        predecessor_id=row.predecessor_id,
        successor_id=row.successor_id,
        status=Status(row.status),
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        updated_at=row.updated_at,
    )


# --- step ----------------------------------------------------------------------------------


async def step(rt: Runtime, step_key: str) -> FlowStep:
    """One step with its input state, changes and interrupt payload, and navigation keys.

    ``prev_key``/``next_key`` follow the execution DAG (``predecessor_id``/``successor_id``; a
    fan-out's next is its first branch, a fan-in's previous its last arrival) and cross subgraph
    boundaries the way ENGINE.md §8 describes: a caller's next is its child's entry step; a
    child's entry and exit stitch to the caller's neighbours; a neighbour that is a caller is
    passed through into its child (its entry going forward, its last completed tail going
    backward). A caller step also carries its child's workflow name and history.
    """
    shard, key = rt.parse(step_key, "step")

    async def read(conn: Any) -> FlowStep:
        row: GetStepRow | None = await shard.q.get_step(conn, step_id=key.id, step_token=key.token)
        if row is None:
            raise NotFoundError("step not found")
        item = FlowStep(
            step_key=format_key(shard.index, row.step_id, row.step_token),
            step_id=row.step_id,
            step_depth=row.step_depth,
            task_name=row.task_name,
            attempt=row.attempt,
            predecessor_id=row.predecessor_id,
            successor_id=row.successor_id,
            state=_json_object(row.state),
            changes=_json_object(row.changes),
            interrupt_payload=_json_object(row.interrupt_payload),
            status=Status(row.status),
            error=row.error,
            created_at=row.created_at,
            started_at=row.started_at,
            updated_at=row.updated_at,
        )
        nav = _Navigator(shard, conn)
        child: GetFlowRow | None = await shard.q.get_child_flow_of_step(
            conn, surgraph_step_id=row.step_id
        )
        if child is not None:
            item.subgraph = True
            item.sub_workflow_name = child.workflow_name
            item.sub_history = await _tree_history(shard, conn, child.flow_id)
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

    shard: Shard
    conn: Any

    async def neighbours(self, row: GetStepRow, child: GetFlowRow | None) -> tuple[int, int]:
        """(previous, next) step ids of ``row``; 0 where there is none."""
        q = self.shard.q
        prev_id, next_id = row.predecessor_id, row.successor_id
        if prev_id == 0 or next_id == 0:
            # An entry or exit of a subgraph flow stitches to its caller's neighbours.
            flow: GetFlowRow | None = await q.get_flow_by_id(self.conn, flow_id=row.flow_id)
            if flow is not None and flow.surgraph_step_id > 0:
                caller: GetStepRow | None = await q.get_step_by_id(
                    self.conn, step_id=flow.surgraph_step_id
                )
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
        row: GetStepRow | None = await self.shard.q.get_step_by_id(self.conn, step_id=step_id)
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
        child: GetFlowRow | None = await self.shard.q.get_child_flow_of_step(
            self.conn, surgraph_step_id=step_id
        )
        return child.flow_id if child is not None else 0

    async def _dag(self, flow_id: int) -> list[ListStepDAGRow]:
        rows: list[ListStepDAGRow] = await self.shard.q.list_step_dag(self.conn, flow_id=flow_id)
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


# --- list_flows ----------------------------------------------------------------------------


async def list_flows(rt: Runtime, query: Query) -> tuple[list[FlowSummary], str]:
    """Root flows matching ``query``, newest first per shard, and the next page's cursor.

    Results are grouped by shard (ascending), each shard contributing up to
    ``ceil(limit / shards searched)`` flows. The cursor is "" when there is nothing more.
    """
    query = _as_query(query)
    limit = query.limit or DEFAULT_LIST_LIMIT
    if limit > MAX_LIST_LIMIT:
        raise BadRequestError(f"limit must be at most {MAX_LIST_LIMIT}, got {limit}")
    if query.shard > rt.num_shards:
        raise BadRequestError(f"shard {query.shard} is out of range (1..{rt.num_shards})")
    cursor = _parse_cursor(query.cursor, rt.num_shards)
    targets = list(rt.shards) if query.shard == 0 else [rt.shard(query.shard)]
    thread_id = 0
    if query.thread_key:
        thread_shard, thread_id = await _resolve_thread(rt, query.thread_key)
        # The thread's flows all live on the thread's shard.
        targets = [shard for shard in targets if shard is thread_shard]
    if not targets:
        return [], ""
    per_shard = math.ceil(limit / len(targets))
    filters = _Filters(
        status=query.status,
        workflow_name=query.workflow_name,
        thread_id=thread_id,
        task_name=query.task_name,
        fairness_key=query.fairness_key,
        priority=query.priority,
        older_than_ms=_age_ms(query.older_than),
        newer_than_ms=_age_ms(query.newer_than),
        search=_like_pattern(query.search),
        row_limit=per_shard,
    )

    async def page_of(shard: Shard) -> list[ListFlowsRow]:
        before = cursor.get(shard.index, 0)
        if before == 1:
            return []  # exhausted on an earlier page
        return await shard.read(lambda conn: filters.page(shard, conn, before))

    pages = await _on_each(targets, page_of)
    summaries: list[FlowSummary] = []
    next_cursor: dict[int, int] = {}
    for shard, rows in sorted(zip(targets, pages, strict=True), key=lambda pair: pair[0].index):
        summaries.extend(_summary(shard.index, row) for row in rows)
        next_cursor[shard.index] = rows[-1].flow_id if len(rows) >= per_shard else 1
    if all(value == 1 for value in next_cursor.values()):
        return summaries, ""
    return summaries, ",".join(f"{index}={value}" for index, value in next_cursor.items())


@dataclass(frozen=True, slots=True)
class _Filters:
    """One ``list_flows`` call's bound filters (zero = off), the same on every shard."""

    status: str
    workflow_name: str
    thread_id: int
    task_name: str
    fairness_key: str
    priority: int
    older_than_ms: int
    newer_than_ms: int
    search: str
    row_limit: int

    async def page(self, shard: Shard, conn: Any, before_flow_id: int) -> list[ListFlowsRow]:
        """One shard's page: flows below ``before_flow_id`` (0 = from the newest)."""
        if self.search:
            # Only SearchFlows also matches the rendered key, which needs the shard's index.
            return await shard.q.search_flows(
                conn,
                status=self.status,
                workflow_name=self.workflow_name,
                thread_id=self.thread_id,
                task_name=self.task_name,
                fairness_key=self.fairness_key,
                priority=self.priority,
                older_than_ms=self.older_than_ms,
                newer_than_ms=self.newer_than_ms,
                before_flow_id=before_flow_id,
                search=self.search,
                key_prefix=f"{shard.index}-",
                row_limit=self.row_limit,
            )
        return await shard.q.list_flows(
            conn,
            status=self.status,
            workflow_name=self.workflow_name,
            thread_id=self.thread_id,
            task_name=self.task_name,
            fairness_key=self.fairness_key,
            priority=self.priority,
            older_than_ms=self.older_than_ms,
            newer_than_ms=self.newer_than_ms,
            before_flow_id=before_flow_id,
            search="",
            row_limit=self.row_limit,
        )


def _as_query(query: Any) -> Query:
    """The caller's query as a ``Query``; a mapping is validated, anything bad is a 400."""
    if isinstance(query, Query):
        return query
    try:
        return Query.model_validate(query)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'query'}: {error['msg']}"
            for error in exc.errors()
        )
        raise BadRequestError(f"invalid query: {problems}") from None


def _parse_cursor(text: str, num_shards: int) -> dict[int, int]:
    """``"shard=flow_id,..."`` as a map; anything else is a 400."""
    if not text:
        return {}
    cursor: dict[int, int] = {}
    for part in text.split(","):
        shard_text, sep, id_text = part.partition("=")
        if not (sep and _is_number(shard_text) and _is_number(id_text)):
            raise BadRequestError(f"malformed cursor {text[:64]!r}")
        index, flow_id = int(shard_text), int(id_text)
        if not 1 <= index <= num_shards or not 1 <= flow_id <= _MAX_ID or index in cursor:
            raise BadRequestError(f"malformed cursor {text[:64]!r}")
        cursor[index] = flow_id
    return cursor


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= len(str(_MAX_ID))


async def _resolve_thread(rt: Runtime, thread_key: str) -> tuple[Shard, int]:
    """The shard and thread id of the thread ``thread_key`` names (any flow key in it works)."""
    shard, key = rt.parse(thread_key, "thread")

    async def read(conn: Any) -> GetFlowRow | None:
        flow: GetFlowRow | None = await shard.q.get_flow(conn, flow_id=key.id, flow_token=key.token)
        return flow

    flow = await shard.read(read)
    if flow is None:
        raise NotFoundError("thread not found")
    return shard, flow.thread_id


def _age_ms(age: timedelta | None) -> int:
    """A query age in whole milliseconds; 0 (filter off) only when no age is set."""
    if age is None or age <= timedelta(0):
        return 0
    return max(math.ceil(age / timedelta(milliseconds=1)), 1)


def _like_pattern(term: str) -> str:
    """``%term%`` with LIKE's wildcards and escape character in ``term`` matched literally."""
    if not term:
        return ""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _summary(shard_index: int, row: ListFlowsRow) -> FlowSummary:
    return FlowSummary(
        flow_key=format_key(shard_index, row.flow_id, row.flow_token),
        thread_key=format_key(shard_index, row.thread_id, row.thread_token),
        workflow_name=row.workflow_name,
        status=Status(row.status),
        task_name=row.task_name,
        error=row.error,
        cancel_reason=row.cancel_reason,
        created_at=row.created_at,
        started_at=row.started_at,
        updated_at=row.updated_at,
        priority=row.priority,
        fairness_key=row.fairness_key,
    )


async def _on_each(shards: Sequence[Shard], fn: Callable[[Shard], Awaitable[T]]) -> list[T]:
    """``fn`` on every shard concurrently; the first failure (in shard order) is raised.

    Every call is awaited to the end before raising, so no failure is left unobserved.
    """
    results = await asyncio.gather(*(fn(shard) for shard in shards), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if not isinstance(result, BaseException)]


# --- shard_info ----------------------------------------------------------------------------


async def shard_info(rt: Runtime) -> list[ShardSummary]:
    """Every shard's ping latency, step and flow counts, or its error, in shard order."""
    return list(await asyncio.gather(*(_probe(shard) for shard in rt.shards)))


async def _probe(shard: Shard) -> ShardSummary:
    latency_ms = 0.0

    async def read(conn: Any) -> tuple[int, int]:
        nonlocal latency_ms
        started = time.perf_counter()
        await shard.q.ping(conn)
        latency_ms = (time.perf_counter() - started) * 1000.0
        steps: int | None = await shard.q.count_steps(conn)
        flows: int | None = await shard.q.count_flows(conn)
        return steps or 0, flows or 0

    try:
        steps, flows = await asyncio.wait_for(shard.read(read), SHARD_PROBE_TIMEOUT)
    except TimeoutError:
        error = f"shard {shard.index} did not answer within {SHARD_PROBE_TIMEOUT:g}s"
        return ShardSummary(shard.index, error, latency_ms, 0, 0)
    except Exception as exc:
        # Driver errors arrive as StorageError with the DSN's secrets scrubbed.
        error = str(exc) or type(exc).__name__
        return ShardSummary(shard.index, error, latency_ms, 0, 0)
    return ShardSummary(shard.index, "", latency_ms, steps, flows)
