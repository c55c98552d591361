"""Subgraphs: a caller step launches a child flow, parks, and is revived by the child's end.

The caller is parked (``parked = 1``: no lease, invisible to claims and lease recovery) in the
same transaction that creates and starts the child, so a child that finishes at once still finds
its caller parked (the later-upstream fix). The child runs on the caller's shard with the parent's
baggage, breakpoints, priority and fairness, and only ``input`` as its state. When the child
completes or fails, the transaction that ends it also revives the caller with the child's final
state (or its error); the caller's task runs again and its ``subgraph()`` call returns.

Interrupts and breakpoints deep in a child travel up the chain of callers, so the root flow
reports ``interrupted``; ``resume`` on the root walks back down to the leaf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dwarf._storage import FlowRow, InterruptedStepRow, NewFlow, Store, Tx
from dwarf.engine._runtime._keys import new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._step._successors import step_budget_ms
from dwarf.errors import BadRequestError, ConflictError
from dwarf.workflow import Graph, Status
from dwarf.workflow._baggage import baggage_scope
from dwarf.workflow._json import dumps_state, loads

__all__ = [
    "NothingInterrupted",
    "SpawnedChild",
    "find_interrupted_leaf",
    "load_child_graph",
    "propagate_pause",
    "release_chain",
    "revive_caller",
    "spawn_child",
]


class NothingInterrupted(ConflictError):
    """The flow has no interrupted step to release."""


@dataclass(frozen=True, slots=True)
class SpawnedChild:
    """A child flow just created and started: its id, token and entry step."""

    flow_id: int
    token: str
    entry_step_id: int


async def load_child_graph(rt: Runtime, flow: FlowRow, workflow_name: str) -> Graph:
    """Load and validate the child's graph with the parent's baggage in scope."""
    loader = rt.config.graph_loader
    assert loader is not None
    with baggage_scope(loads(flow.baggage)):
        graph = await loader(workflow_name)
    if not isinstance(graph, Graph):
        raise BadRequestError(f"the graph loader returned no graph for {workflow_name!r}")
    return rt.validated(graph)[0]


async def spawn_child(
    rt: Runtime,
    shard: Store,
    db: Tx,
    flow: FlowRow,
    caller_step_id: int,
    caller_depth: int,
    workflow_name: str,
    graph: Graph,
    input_state: dict[str, Any],
    trace_parent: str = "",
) -> SpawnedChild:
    """Create and start the child flow (inside the caller's parking transaction).

    Returns the child, whose entry step is rung in after commit. ``trace_parent`` is the
    child's ``workflow`` span, minted under the caller step's span.
    """
    token = new_token()
    new = NewFlow(
        token=token,
        entry_token=new_token(),
        workflow_name=workflow_name,
        graph=graph.to_json(),
        entry=graph.entry_point,
        state=dumps_state(input_state, "subgraph input"),
        baggage=flow.baggage,
        priority=flow.priority,
        fairness_key=flow.fairness_key,
        fairness_weight=flow.fairness_weight,
        time_budget_ms=flow.time_budget_ms,
        entry_time_budget_ms=step_budget_ms(rt, flow.time_budget_ms),
        breakpoints=flow.breakpoints,
        parent_flow_id=flow.flow_id,
        caller_step_id=caller_step_id,
        caller_depth=caller_depth,
        root_flow_id=flow.root_flow_id or flow.flow_id,
        trace_parent=trace_parent,
    )
    ids = await shard.insert_flow(db, new, start=True)
    return SpawnedChild(ids.flow_id, token, ids.entry_step_id)


async def revive_caller(db: Tx, child: FlowRow, final_state: dict[str, Any], error: str) -> int:
    """Deliver a finished child's outcome to its parked caller; return the caller id (0: none)."""
    if not child.surgraph_step_id:
        return 0
    revived = await db.revive_caller_step(
        step_id=child.surgraph_step_id,
        subgraph_result=dumps_state(final_state, "subgraph result"),
        subgraph_error=error,
    )
    return child.surgraph_step_id if revived else 0


async def propagate_pause(db: Tx, flow: FlowRow, payload: dict[str, Any] | None) -> list[FlowRow]:
    """Mark every caller step and ancestor flow above ``flow`` interrupted.

    ``payload`` is the interrupt payload (first writer wins on each caller); None for a
    breakpoint, whose callers keep their parking. Returns the ancestors, nearest first.
    """
    ancestors: list[FlowRow] = []
    current = flow
    while current.surgraph_flow_id:
        if payload is None:
            await db.breakpoint_caller_step(step_id=current.surgraph_step_id)
        else:
            await db.interrupt_caller_step(
                step_id=current.surgraph_step_id,
                interrupt_payload=dumps_state(payload, "interrupt payload"),
            )
        parent = await db.get_flow_by_id(flow_id=current.surgraph_flow_id)
        if parent is None:
            break
        await db.interrupt_flow(flow_id=parent.flow_id)
        ancestors.append(parent)
        current = parent
    return ancestors


async def find_interrupted_leaf(
    db: Tx, flow: FlowRow
) -> tuple[list[tuple[FlowRow, InterruptedStepRow]], FlowRow, InterruptedStepRow]:
    """Walk from ``flow``'s root down the interrupted callers to the step a resume releases.

    Returns the (flow, caller step) pairs passed on the way, the leaf's flow and the leaf step.
    Raises ``NothingInterrupted`` when no step is interrupted.
    """
    current = flow
    while current.surgraph_flow_id:
        parent = await db.get_flow_by_id(flow_id=current.surgraph_flow_id)
        if parent is None:
            break
        current = parent
    chain: list[tuple[FlowRow, InterruptedStepRow]] = []
    while True:
        interrupted = await db.get_interrupted_steps(flow_id=current.flow_id)
        if not interrupted:
            raise NothingInterrupted("the flow has no interrupted step")
        top = interrupted[0]
        if not top.interrupt_done and not top.breakpoint_hit:
            child = await db.get_child_flow_of_step(surgraph_step_id=top.step_id)
            if child is not None and child.status == Status.INTERRUPTED:
                chain.append((current, top))
                current = child
                continue
        return chain, current, top


async def release_chain(
    db: Tx,
    leaf_flow: FlowRow,
    chain: list[tuple[FlowRow, InterruptedStepRow]],
) -> None:
    """After the leaf was released: flip its flow to running, then each caller and flow above.

    A flow with another interrupted step (a second paused branch) stays interrupted, and so
    does everything above it: its caller is still waiting on a paused child.
    """
    paused = leaf_flow
    if await db.resume_flow(flow_id=leaf_flow.flow_id):
        for caller_flow, caller in reversed(chain):
            await db.resume_caller_step(step_id=caller.step_id)
            if not await db.resume_flow(flow_id=caller_flow.flow_id):
                paused = caller_flow
                break
        else:
            return
    # ``paused`` keeps another interrupted step: the callers above it now wait on THAT one, so
    # they show its payload (clear, then re-pause: the payload is first-writer-wins).
    remaining = await db.get_interrupted_steps(flow_id=paused.flow_id)
    if not remaining:
        return
    payload = remaining[0].interrupt_payload
    # ``chain`` runs root-first: the callers above ``paused`` sit in the flows before it.
    depth = next(
        (i for i, (caller_flow, _) in enumerate(chain) if caller_flow.flow_id == paused.flow_id),
        len(chain),
    )
    for _, caller in reversed(chain[:depth]):
        await db.resume_caller_step(step_id=caller.step_id)
        await db.interrupt_caller_step(step_id=caller.step_id, interrupt_payload=payload)
