"""MySQL/MariaDB's hot-path writes, alone and as a batch: one stored procedure's CALL each.

Alone, a create, a step-to-successor transition and a flow's last step are ``dwarf_create``,
``dwarf_advance`` and ``dwarf_finish`` (docs/internals/storage.md, S12c): the CALL and the read
of the answer it leaves in user variables, sent as one script. As a batch (S12d),
``dwarf_create_many``, ``dwarf_advance_many`` and ``dwarf_finish_many`` take the items as one
JSON array (an array of the single procedure's values per item, in its order), write them all
in one transaction, each item fenced as alone, and leave one answer per item in
``@dwarf_answers``.

The items travel as JSON because a procedure takes no arrays, and JSON_TABLE reads them on the
server in one pass. The answers come back as JSON too, read here by hand: sqlc cannot parse a
SELECT over JSON_TABLE, so there is no generated accessor to type them. MariaDB's JSON_ARRAY
gives a BIGINT procedure variable as a string, so every number is read with ``int``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dwarf._storage._batch_items import AdvanceItem, CreateItem, Finish
from dwarf._storage._claims import Advanced, Created
from dwarf._storage._gen import mysql as my
from dwarf._storage._mysql_script import Script, replay
from dwarf._storage._sql import utc_from_naive
from dwarf.workflow import Status

__all__ = [
    "advance_many",
    "advance_one",
    "create_many",
    "create_one",
    "finish_many",
    "finish_one",
]


async def create_one(conn: Any, item: CreateItem) -> Created:
    """Create one flow: dwarf_create's CALL and the read of what it left, in one query."""
    script = Script(conn)
    await my.create_by_procedure(script, **_create_values(item))
    await my.created_flow(script)
    _, read = await script.run()
    created = await my.created_flow(replay(read))
    if created is None:  # a SELECT of variables always answers one row
        raise RuntimeError("dwarf_create left no answer")
    return Created(created.flow_id, created.step_id, created.created_at)


async def create_many(conn: Any, items: Sequence[CreateItem]) -> list[Created]:
    """Create a batch of flows in one CALL and one transaction; per item, in order."""
    script = Script(conn)
    await my.create_many_by_procedure(
        script, items=_array([list(_create_values(item).values()) for item in items])
    )
    answers, created_at = await _answers(script, len(items))
    return [Created(int(flow_id), int(step_id), created_at) for flow_id, step_id in answers]


async def advance_one(conn: Any, item: AdvanceItem) -> Advanced | None:
    """Write one advance; None when nothing was written (lease lost, or the flow ended)."""
    script = Script(conn)
    await my.advance_by_procedure(script, **_advance_values(item))
    await my.claimed_successor(script)
    _, read = await script.run()
    left = await my.claimed_successor(replay(read))
    if left is None or not left.successor_id:
        return None
    return Advanced(
        left.successor_id,
        left.created_at,
        left.base_lease_seq,
        left.flow_status,
        left.flow_breakpoints,
        left.flow_updated_at,
    )


async def advance_many(conn: Any, items: Sequence[AdvanceItem]) -> list[Advanced | None]:
    """Write a batch of advances in one CALL and one transaction; per item, as ``advance_one``."""
    script = Script(conn)
    await my.advance_many_by_procedure(
        script, items=_array([list(_advance_values(item).values()) for item in items])
    )
    answers, created_at = await _answers(script, len(items))
    return [
        Advanced(
            int(successor_id),
            created_at,
            int(base_lease_seq),
            Status(flow_status),
            flow_breakpoints,
            utc_from_naive(datetime.fromisoformat(flow_updated_at)),
        )
        if int(successor_id)
        else None
        for successor_id, base_lease_seq, flow_status, flow_breakpoints, flow_updated_at in answers
    ]


async def finish_one(conn: Any, item: Finish) -> bool:
    """Complete one flow's last step and the flow; False when nothing was written."""
    script = Script(conn)
    await my.finish_by_procedure(script, **_finish_values(item))
    await my.finished(script)
    _, read = await script.run()
    return await my.finished(replay(read)) == 1


async def finish_many(conn: Any, items: Sequence[Finish]) -> list[bool]:
    """Write a batch of last steps in one CALL and one transaction; per item, as ``finish_one``."""
    script = Script(conn)
    await my.finish_many_by_procedure(
        script, items=_array([list(_finish_values(item).values()) for item in items])
    )
    answers, _ = await _answers(script, len(items))
    return [int(finished) == 1 for finished in answers]


def _array(rows: list[list[object]]) -> str:
    # ensure_ascii=False: text goes as UTF-8, as a lone CALL's parameter does; NaN is refused
    # here (a ValueError writes the batch's items alone) rather than sent as invalid JSON.
    return json.dumps(rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


async def _answers(script: Script, count: int) -> tuple[list[Any], datetime]:
    """Run a batch's CALL with the read of what it left: one answer per item, and its instant."""
    await my.batch_answers(script)
    _, read = await script.run()
    left = await my.batch_answers(replay(read))
    answers: list[Any] = json.loads(left.answers) if left is not None else []
    if left is None or len(answers) != count:
        raise RuntimeError(f"a batch of {count} items left {len(answers)} answers")
    return answers, left.created_at


def _create_values(item: CreateItem) -> dict[str, Any]:
    """dwarf_create's arguments, by name, in its order."""
    new, start, lease = item
    thread_id, thread_token = new.thread or (0, "")
    return {
        "flow_token": new.token,
        "workflow_name": new.workflow_name,
        "graph": new.graph,
        "baggage": new.baggage,
        "flow_status": Status.RUNNING if start else Status.CREATED,
        "surgraph_flow_id": new.parent_flow_id,
        "surgraph_step_depth": new.caller_depth,
        "surgraph_step_id": new.caller_step_id,
        "root_flow_id": new.root_flow_id,
        "thread_id": thread_id,
        "thread_token": thread_token,
        "trace_parent": new.trace_parent,
        "breakpoints": new.breakpoints,
        "priority": new.priority,
        "fairness_key": new.fairness_key,
        "fairness_weight": new.fairness_weight,
        "time_budget_ms": new.time_budget_ms,
        "delete_on_completion": int(new.delete_on_completion),
        "step_depth": new.caller_depth + 1,
        "step_token": new.entry_token,
        "task_name": new.entry,
        "state": new.state,
        "step_status": Status.PENDING if start else Status.CREATED,
        "step_time_budget_ms": new.entry_time_budget_ms,
        "delay_ms": new.delay_ms,
        "lease_owner": lease.owner if lease else "",
        "lease_margin_ms": lease.margin_ms if lease else 0,
    }


def _advance_values(item: AdvanceItem) -> dict[str, Any]:
    """dwarf_advance's arguments, by name, in its order: the successor pending, or claimed."""
    done, successor, lease = item
    return {
        "step_id": done.step_id,
        "lease_seq": done.lease_seq,
        "changes": done.changes,
        "goto_next": done.goto_next,
        "flow_id": successor.flow_id,
        "step_depth": successor.depth,
        "step_token": successor.token,
        "task_name": successor.task_name,
        "state": successor.state,
        "state_base": successor.state_base,
        "time_budget_ms": successor.time_budget_ms,
        "lineage_id": successor.lineage_id,
        "fan_out_ordinal": successor.ordinal,
        "predecessor_id": successor.predecessor_id,
        "priority": successor.priority,
        "fairness_key": successor.fairness_key,
        "fairness_weight": successor.fairness_weight,
        "delay_ms": successor.delay_ms,
        "lease_owner": lease.owner if lease else "",
        "lease_margin_ms": lease.margin_ms if lease else 0,
    }


def _finish_values(item: Finish) -> dict[str, Any]:
    """dwarf_finish's arguments, by name, in its order."""
    done, flow_id, final_state = item
    return {
        "step_id": done.step_id,
        "lease_seq": done.lease_seq,
        "changes": done.changes,
        "goto_next": done.goto_next,
        "flow_id": flow_id,
        "final_state": final_state,
    }
