"""The portable hot-path writes, inside a caller's transaction: a step to its one successor, and
a flow's last step with the flow.

Each either writes everything or raises ``NothingWritten`` for its caller to roll back (the
transaction when alone, the item's savepoint in a batch): the lease was lost, or the flow is no
longer live. A dialect's fast path writes the same rows in fewer statements (``Store``
subclasses); these are what SQLite runs, and what every dialect's batch falls back on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from dwarf._storage._gen.tx import Tx
from dwarf._storage._records import Completion, FlowIds, NewFlow, NewStep
from dwarf.workflow import Status

if TYPE_CHECKING:
    from dwarf._storage._store import Store

__all__ = [
    "BATCH_DOCUMENT_LIMIT",
    "heavy_advance",
    "heavy_finish",
    "Advance",
    "Finish",
    "NothingWritten",
    "advance",
    "each_in_savepoint",
    "finish",
    "insert_flow",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741

Advance = tuple[Completion, NewStep]
"""A claimed step's completion and the one successor it links to."""
Finish = tuple[Completion, int, str]
"""A flow's last step's completion, the flow's id and its final state (JSON)."""


BATCH_DOCUMENT_LIMIT = 16_384
"""Characters of JSON above which an advance or a finish is written alone, beside its batch.

A document that large costs more in a batch than the statements the batch saves: PostgreSQL's
batch statements take documents in text arrays, which cost the client far more per byte than a
lone statement's parameter (a 1 MB state per step: three times the CPU per flow), and a
savepoint makes SQLite journal the pages an item changes (about a fifth more CPU per flow at
1 MB); measured with ``benches/profile_throughput.py --payload-bytes``."""


def heavy_advance(item: Advance) -> bool:
    """Whether ``item`` carries more JSON than a batch should (``BATCH_DOCUMENT_LIMIT``)."""
    done, successor = item
    return len(successor.state) + len(done.changes) > BATCH_DOCUMENT_LIMIT


def heavy_finish(item: Finish) -> bool:
    """Whether ``item`` carries more JSON than a batch should (``BATCH_DOCUMENT_LIMIT``)."""
    done, _, final_state = item
    return len(final_state) + len(done.changes) > BATCH_DOCUMENT_LIMIT


class NothingWritten(Exception):
    """The fenced write matched nothing: roll this item back."""


async def advance(store: Store, db: Tx, item: Advance) -> int:
    """Insert the successor, complete the step linked to it and touch the flow; its id."""
    done, successor = item
    successor_id = await store.insert_step(db, successor)
    completed = await db.complete_step_linked(
        step_id=done.step_id,
        lease_seq=done.lease_seq,
        changes=done.changes,
        goto_next=done.goto_next,
        successor_id=successor_id,
    )
    if not completed or not await db.touch_flow(flow_id=successor.flow_id, step_id=successor_id):
        raise NothingWritten
    return successor_id


async def finish(db: Tx, item: Finish) -> bool:
    """Complete the step, then the flow with its final state."""
    done, flow_id, final_state = item
    completed = await db.complete_step(
        step_id=done.step_id,
        lease_seq=done.lease_seq,
        changes=done.changes,
        goto_next=done.goto_next,
    )
    if not completed or not await db.complete_flow(flow_id=flow_id, final_state=final_state):
        raise NothingWritten
    return True


async def each_in_savepoint(
    store: Store,
    items: Sequence[I],
    body: Callable[[Any, I], Awaitable[T]],
    nothing: T,
    origin: Callable[..., object],
) -> list[T]:
    """Run ``body(connection, item)`` for each item in one transaction, each behind a savepoint.

    An item that raises ``NothingWritten`` is rolled back to its savepoint and answers
    ``nothing``; the others still commit, together. ``origin`` is the store operation they
    are, for the transaction-time histogram.
    """
    set_sql, undo_sql, release_sql = store._savepoint_sql

    async def tx(conn: Any) -> list[T]:
        results: list[T] = []
        for item in items:
            await store._execute_sql(conn, set_sql)
            try:
                results.append(await body(conn, item))
            except NothingWritten:
                await store._execute_sql(conn, undo_sql)
                results.append(nothing)
            if release_sql:
                await store._execute_sql(conn, release_sql)
        return results

    return await store._transact_on_connection(tx, origin)


async def insert_flow(db: Tx, new: NewFlow, *, start: bool) -> FlowIds:
    """Insert a new flow, its entry step, and make the flow its own thread and root."""
    flow_id = await db.insert_flow(
        flow_token=new.token,
        workflow_name=new.workflow_name,
        graph=new.graph,
        baggage=new.baggage,
        status=Status.RUNNING if start else Status.CREATED,
        surgraph_flow_id=new.parent_flow_id,
        surgraph_step_depth=new.caller_depth,
        surgraph_step_id=new.caller_step_id,
        root_flow_id=new.root_flow_id,
        thread_id=new.thread[0] if new.thread else 0,
        thread_token=new.thread[1] if new.thread else "",
        forked_from_step=0,
        trace_parent=new.trace_parent,
        breakpoints=new.breakpoints,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        time_budget_ms=new.time_budget_ms,
        delete_on_completion=new.delete_on_completion,
    )
    step_id = await db.insert_step(
        flow_id=flow_id,
        step_depth=new.caller_depth + 1,
        step_token=new.entry_token,
        task_name=new.entry,
        state=new.state,
        state_base=0,
        changes="{}",
        status=Status.PENDING if start else Status.CREATED,
        time_budget_ms=new.entry_time_budget_ms,
        lineage_id=0,
        fan_out_ordinal=0,
        predecessor_id=0,
        priority=new.priority,
        fairness_key=new.fairness_key,
        fairness_weight=new.fairness_weight,
        parked=0,
        delay_ms=new.delay_ms,
    )
    await db.adopt_flow_identity(flow_id=flow_id, step_id=step_id)
    return FlowIds(flow_id, step_id)
