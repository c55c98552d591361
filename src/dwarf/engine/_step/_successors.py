"""Inserting a finished step's successors: the row fields every transition path agrees on.

A successor inherits the flow's scheduling fields (priority, fairness), the flow's time budget
(or the engine's), the finished step as its predecessor, and its input as a materialized
snapshot (tombstones dropped). The portable transaction and the MySQL fast path insert through
``SuccessorInserter``; PostgreSQL's single statement takes the same values as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from dwarf._storage._gen.rows import GetFlowRow, SelectClaimedStepsRow
from dwarf._storage._store import Shard
from dwarf.engine._runtime._keys import new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.workflow import strip_tombstones
from dwarf.workflow._json import dumps

__all__ = ["SuccessorInserter", "millis", "step_budget_ms"]


def millis(delay: timedelta | None) -> int:
    """A sleep as whole milliseconds (0: none)."""
    if delay is None or delay <= timedelta(0):
        return 0
    return int(delay.total_seconds() * 1000)


def step_budget_ms(rt: Runtime, flow: GetFlowRow) -> int:
    """A new step's time budget: the flow's own, else the engine's."""
    return flow.time_budget_ms or int(rt.config.time_budget.total_seconds() * 1000)


class SuccessorInserter:
    """Inserts successor steps of the claimed ``row`` carrying the flow's scheduling fields."""

    def __init__(
        self,
        rt: Runtime,
        shard: Shard,
        conn: Any,
        flow: GetFlowRow,
        row: SelectClaimedStepsRow,
        delay_ms: int,
    ) -> None:
        self._rt, self._shard, self._conn = rt, shard, conn
        self._flow, self._row, self._delay_ms = flow, row, delay_ms

    async def insert(
        self,
        node: str,
        state: Mapping[str, Any],
        lineage: int,
        ordinal: int,
        *,
        depth: int | None = None,
    ) -> int:
        """Insert a pending step of ``node`` on ``state``; return its id."""
        flow = self._flow
        step_id: int = await self._shard.q.insert_step(
            self._conn,
            flow_id=flow.flow_id,
            step_depth=depth if depth is not None else self._row.step_depth + 1,
            step_token=new_token(),
            task_name=node,
            state=dumps(strip_tombstones(state)),
            changes="{}",
            status="pending",
            time_budget_ms=step_budget_ms(self._rt, flow),
            lineage_id=lineage,
            fan_out_ordinal=ordinal,
            predecessor_id=self._row.step_id,
            priority=flow.priority,
            fairness_key=flow.fairness_key,
            fairness_weight=flow.fairness_weight,
            parked=0,
            delay_ms=self._delay_ms,
        )
        return step_id
