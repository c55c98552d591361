"""``list_flows``: root flows matching a query, paged per shard, and ``purge``'s shared helpers.

Nothing here writes, so every read runs through ``Store.read`` (autocommit, no BEGIN).

* ``list_flows`` pages per shard, not globally: each shard returns up to ``ceil(limit / N)`` rows
  by its own ``flow_id DESC`` and the cursor records, per shard, the smallest id returned
  (``"1=57,2=12"``). Results are grouped by shard, ascending. A shard that returned less than a
  full page is exhausted and is recorded as ``1`` (``flow_id < 1`` matches nothing), so later
  pages skip it; the cursor is empty as soon as every shard is exhausted, which also means a walk
  never ends on an empty page it could have predicted (upstream returns one more, empty, page).
* Search terms are matched literally: ``%``, ``_`` and ``\\`` are escaped before the term is
  wrapped in ``%...%`` (upstream later fixed the seed's live wildcards). Search also matches the
  rendered flow key, which needs the shard, so it uses ``SearchFlows``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from dwarf._storage import FlowSummaryRow, Store, Tx
from dwarf.engine._operations._inputs import get_flow
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.errors import BadRequestError
from dwarf.workflow import FlowSummary, Query

__all__ = ["DEFAULT_LIST_LIMIT", "MAX_LIST_LIMIT", "list_flows", "on_each"]

DEFAULT_LIST_LIMIT = 100
"""Page size of ``list_flows`` when the query sets none."""

MAX_LIST_LIMIT = 10_000
"""Largest page ``list_flows`` accepts: a bigger page is a 400, not a silently shorter page."""

_MAX_ID = 2**63 - 1
"""Largest row id a cursor may carry (BIGINT): a bigger one cannot have come from a page."""

T = TypeVar("T")


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

    async def page_of(shard: Store) -> list[FlowSummaryRow]:
        before = cursor.get(shard.index, 0)
        if before == 1:
            return []  # exhausted on an earlier page
        return await shard.read(lambda db: filters.page(shard, db, before))

    pages = await on_each(targets, page_of)
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

    async def page(self, shard: Store, db: Tx, before_flow_id: int) -> list[FlowSummaryRow]:
        """One shard's page: flows below ``before_flow_id`` (0 = from the newest)."""
        if self.search:
            # Only SearchFlows also matches the rendered key, which needs the shard's index.
            return await db.search_flows(
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
        return await db.list_flows(
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
    """The caller's query as a ``Query``; a mapping is validated (a bad field is a 400 naming
    it, raised by ``Query`` itself)."""
    if isinstance(query, Query):
        return query
    return Query.model_validate(query)


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


async def _resolve_thread(rt: Runtime, thread_key: str) -> tuple[Store, int]:
    """The shard and thread id of the thread ``thread_key`` names (any flow key in it works)."""
    shard, key = rt.parse(thread_key, "thread")

    flow = await get_flow(shard, key)
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


def _summary(shard_index: int, row: FlowSummaryRow) -> FlowSummary:
    return FlowSummary(
        flow_key=format_key(shard_index, row.flow_id, row.flow_token),
        thread_key=format_key(shard_index, row.thread_id, row.thread_token),
        workflow_name=row.workflow_name,
        status=row.status,
        task_name=row.task_name,
        error=row.error,
        cancel_reason=row.cancel_reason,
        created_at=row.created_at,
        started_at=row.started_at,
        updated_at=row.updated_at,
        priority=row.priority,
        fairness_key=row.fairness_key,
    )


async def on_each(shards: Sequence[Store], fn: Callable[[Store], Awaitable[T]]) -> list[T]:
    """``fn`` on every shard concurrently; the first failure (in shard order) is raised.

    Every call is awaited to the end before raising, so no failure is left unobserved.
    """
    results = await asyncio.gather(*(fn(shard) for shard in shards), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if not isinstance(result, BaseException)]
