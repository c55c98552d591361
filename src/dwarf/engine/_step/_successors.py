"""A finished step's successors: the row fields every transition path agrees on.

A successor inherits the flow's scheduling fields (priority, fairness), the flow's time budget
(or, when it has none, the inserting replica's), the finished step as its predecessor, and its
input as a materialized snapshot (tombstones dropped). A forEach branch's row instead holds only
its bindings, over its spawn's snapshot (``base``, docs/internals/state.md#c2). The transition
transaction inserts through ``SuccessorInserter``; the one-successor short transition hands the
same ``NewStep`` to ``Store.advance_to_successor``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from dwarf._storage import NewStep, Tx
from dwarf.engine._runtime._keys import new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._context import StepContext
from dwarf.workflow._json import dumps_state

__all__ = ["YIELD_EVERY", "SuccessorInserter", "millis", "new_successor", "step_budget_ms"]

YIELD_EVERY = 64
"""Rows a long loop of a transition (a wide fan-out's inserts) handles
between yields to the event loop: a store may run its statements inline, without awaiting
I/O, and a fan-out of 100,000 elements would then hold the loop, and every other flow's timers,
for seconds."""


def millis(delay: timedelta | None) -> int:
    """A sleep as whole milliseconds (0: none)."""
    if delay is None or delay <= timedelta(0):
        return 0
    return int(delay.total_seconds() * 1000)


def step_budget_ms(rt: Runtime, flow_budget_ms: int) -> int:
    """A new step's time budget: the flow's own (``flow_budget_ms``, 0: none), else this
    replica's, read now (docs/internals/transitions.md#t11)."""
    return flow_budget_ms or int(rt.config.time_budget.total_seconds() * 1000)


def new_successor(
    ctx: StepContext,
    node: str,
    state: Mapping[str, Any],
    lineage: int,
    ordinal: int,
    *,
    delay_ms: int,
    depth: int | None = None,
    state_text: str | None = None,
    base: int = 0,
) -> NewStep:
    """The pending step of ``node`` on ``state`` that follows the claimed step.

    ``state_text``: ``state`` already serialized, without top-level tombstones (the claimed
    step's own input, passed on unchanged), stored as is instead of encoded again. With
    ``base``, ``state`` is an overlay on that step's successor snapshot, stored as is: a null in
    it must still hide a field of the snapshot when the input is built.
    """
    flow, row = ctx.flow, ctx.row
    if state_text is None:
        # Serialized at once, so no copy is needed: only the top-level tombstones are dropped.
        own = state if base else {key: value for key, value in state.items() if value is not None}
        state_text = dumps_state(own, f"the input state of {node!r}")
    return NewStep(
        flow_id=flow.flow_id,
        depth=depth if depth is not None else row.step_depth + 1,
        token=new_token(),
        task_name=node,
        state=state_text,
        state_base=base,
        time_budget_ms=step_budget_ms(ctx.rt, flow.time_budget_ms),
        lineage_id=lineage,
        ordinal=ordinal,
        predecessor_id=row.step_id,
        priority=flow.priority,
        fairness_key=flow.fairness_key,
        fairness_weight=flow.fairness_weight,
        delay_ms=delay_ms,
    )


class SuccessorInserter:
    """Inserts successor steps of the claimed step inside one transition transaction."""

    def __init__(self, ctx: StepContext, db: Tx, delay_ms: int) -> None:
        self._ctx, self._db, self._delay_ms = ctx, db, delay_ms
        self._inserted = 0

    async def insert(
        self,
        node: str,
        state: Mapping[str, Any],
        lineage: int,
        ordinal: int,
        *,
        depth: int | None = None,
        base: int = 0,
    ) -> int:
        """Insert a pending step of ``node`` on ``state`` (an overlay on ``base``'s snapshot
        when ``base`` is set); return its id."""
        step = new_successor(
            self._ctx,
            node,
            state,
            lineage,
            ordinal,
            delay_ms=self._delay_ms,
            depth=depth,
            base=base,
        )
        self._inserted += 1
        if self._inserted % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        return await self._ctx.store.insert_step(self._db, step)
