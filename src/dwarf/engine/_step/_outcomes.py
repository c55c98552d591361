"""What a flow looks like from outside: ``FlowOutcome`` built from the stored rows.

A terminal flow reports its stored final state; an interrupted one reports the interrupted step
the next ``resume`` releases (earliest ``updated_at``) with that step's merged state and payload;
a created or running flow reports an empty state (there is no consistent view mid-fan-out).
"""

from __future__ import annotations

from dwarf._storage import FlowRow, Store, Tx
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._step._final_state import merge_replace
from dwarf.engine._step._step_input import step_input
from dwarf.errors import NotFoundError
from dwarf.workflow import FlowOutcome, Status
from dwarf.workflow._json import loads

__all__ = ["outcome_in_tx", "stop_outcome"]


async def outcome_in_tx(shard: Store, db: Tx, flow: FlowRow) -> FlowOutcome:
    """The outcome of ``flow`` as of this transaction."""
    key = format_key(shard.index, flow.flow_id, flow.flow_token)
    status = flow.status
    if status.is_terminal:
        return FlowOutcome(
            flow_key=key,
            status=status,
            state=loads(flow.final_state) or {},
            error=flow.error if status is Status.FAILED else "",
            error_type=flow.error_type if status is Status.FAILED else "",
            cancel_reason=flow.cancel_reason if status is Status.CANCELLED else "",
        )
    if status is Status.INTERRUPTED:
        # The flow's own earliest interrupted step: the one the next resume releases (for a
        # paused subgraph, the caller step, which carries the leaf's payload).
        interrupted = await db.get_interrupted_steps(flow_id=flow.flow_id)
        if interrupted:
            leaf = interrupted[0]
            payload = loads(leaf.interrupt_payload)
            return FlowOutcome(
                flow_key=key,
                status=status,
                state=merge_replace(
                    await step_input(db, leaf.state, leaf.state_base), loads(leaf.changes)
                ),
                interrupt_payload=payload if isinstance(payload, dict) else {},
            )
    return FlowOutcome(flow_key=key, status=status, state={})


async def stop_outcome(shard: Store, flow_id: int) -> FlowOutcome:
    """Read the current outcome of flow ``flow_id`` (for stop callbacks)."""

    async def read(db: Tx) -> FlowOutcome:
        flow = await db.get_flow_by_id(flow_id=flow_id)
        if flow is None:
            raise NotFoundError("flow not found")
        return await outcome_in_tx(shard, db, flow)

    return await shard.read(read)
