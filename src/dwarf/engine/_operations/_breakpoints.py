"""Breakpoints: pause before a task runs, then let it go on (docs/internals/operations.md#o5).

``break_before`` edits the flow row's ``breakpoints`` map (task name or URL -> ``"b"``); the
dispatcher checks it just before a step runs and, on a match, parks the step ``interrupted``
with ``breakpoint_hit = 1`` and the flow ``interrupted`` (``_execution``). ``resume_break``
releases such a step: its input is overlaid by the overrides (a null override is stored as
null) and it is dispatched again; ``breakpoint_hit`` stays set, so this time the task runs.

A breakpoint pause is not an ``interrupt()``: ``resume`` refuses it (409 "use resume_break")
and ``resume_break`` refuses an interrupt (409 "use resume"). Subgraph flows inherit their
parent's breakpoints when they start; a pause deep in a subgraph is released from any flow of
the chain, like ``resume``: the walk goes down from the root to the paused step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dwarf._storage import Tx
from dwarf.engine._operations._inputs import get_flow, json_object, name, stored
from dwarf.engine._operations._rewind_dag import overlay
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._runtime._telemetry import flow_transition
from dwarf.engine._step._step_input import step_input
from dwarf.engine._step._subgraph import find_interrupted_leaf, release_chain
from dwarf.errors import BadRequestError, ConflictError
from dwarf.workflow import Status
from dwarf.workflow._json import dumps, loads

__all__ = ["break_before", "resume_break"]

BREAK = "b"
"""The breakpoints map's value for "pause before this task"."""


async def break_before(rt: Runtime, flow_key: str, task_name: str, enabled: bool) -> None:
    """Pause the flow before ``task_name`` (a node name or task URL) runs, or stop doing so."""
    shard, key = rt.parse(flow_key, "flow")
    name(task_name, "task_name")
    if not isinstance(enabled, bool):
        raise BadRequestError("enabled must be a bool")

    async def tx(db: Tx) -> None:
        # Write first: two edits of one flow's map must not lose each other's change.
        await db.lock_flow(flow_id=key.id)
        flow = await get_flow(shard, key, db)
        current = loads(flow.breakpoints)
        breakpoints = dict(current) if isinstance(current, dict) else {}
        if enabled:
            breakpoints[task_name] = BREAK
        else:
            breakpoints.pop(task_name, None)
        await db.set_flow_breakpoints(flow_id=flow.flow_id, breakpoints=dumps(breakpoints))

    await shard.transact(tx)


async def resume_break(rt: Runtime, flow_key: str, overrides: Mapping[str, Any] | None) -> None:
    """Run the step the flow is paused at, its input overlaid by ``overrides``."""
    shard, key = rt.parse(flow_key, "flow")
    changes = json_object(overrides, "overrides")

    workflow = ""

    async def tx(db: Tx) -> int:
        nonlocal workflow
        flow = await get_flow(shard, key, db)
        workflow = flow.workflow_name
        if flow.status != Status.INTERRUPTED:
            raise ConflictError(f"flow is {flow.status}, not paused at a breakpoint")
        # Walk from the root down the paused subgraph callers to the step to release.
        chain, leaf_flow, leaf = await find_interrupted_leaf(db, flow)
        if not leaf.breakpoint_hit or leaf.interrupt_done:
            raise ConflictError("the flow is paused by an interrupt, not a breakpoint: use resume")
        state = overlay(
            await step_input(db, leaf.state, leaf.state_base), changes, nulls_delete=False
        )
        text = stored(state, "the paused step's state with overrides")
        if not await db.resume_break_step(state=text, step_id=leaf.step_id):
            raise ConflictError("the paused step was released by another caller")
        await release_chain(db, leaf_flow, chain)
        released: int = leaf.step_id
        return released

    step_id = await shard.transact(tx)
    canonical = format_key(shard.index, key.id, key.token)
    flow_transition(
        rt, shard.index, canonical, workflow, Status.INTERRUPTED, Status.RUNNING, via="resume_break"
    )
    rt.waiters.notify(canonical)
    rt.doorbell(shard, step_id)
