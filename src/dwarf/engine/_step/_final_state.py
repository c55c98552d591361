"""Ending a flow: its final state, and the guarded terminal writes (inside a transaction).

Final state (docs/internals/state.md#c6) merges the execution DAG's tail steps: completed steps
with no successor, by step id, the first one's input state as the base and every tail's changes
folded with the graph's reducers. With no completed tail, every tail counts; with no steps, it
is ``{}``. Tombstones (JSON null from ``delete``) are dropped: a deleted key is absent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from dwarf._storage import Tx
from dwarf.engine._step._step_input import step_input, without_tombstones
from dwarf.workflow import Graph, Reducer, Status, strip_tombstones
from dwarf.workflow._json import dumps_state, loads
from dwarf.workflow._reducers import Fold

__all__ = [
    "compute_final_state",
    "fail_flow_in_tx",
    "final_state_of_tail",
    "for_each_bindings",
    "merge_replace",
]


def merge_replace(state: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A step's view of its state: input overlaid by its accumulated changes (replace)."""
    merged = dict(state)
    merged.update(changes)
    return merged


async def compute_final_state(
    db: Tx, flow_id: int, reducers: Mapping[str, Reducer]
) -> dict[str, Any]:
    """The flow's final state from its tail steps (call inside the terminal transaction).

    It yields to the event loop between its phases: after a wide fan-out, finding the tails
    scans every step of the flow and the state they carry is large, and on SQLite, driven
    inline, the scan, the decoding and the fold would otherwise run as one turn of the loop
    (about 100 ms at 100,000 elements, docs/internals/fan-in.md#f14).
    """
    tails = await db.select_tail_steps(flow_id=flow_id)
    if not tails:
        return {}
    await asyncio.sleep(0)
    chosen = [tail for tail in tails if tail.status == Status.COMPLETED] or list(tails)
    first, last = chosen[0], chosen[-1]
    base = await step_input(db, first.state, first.state_base)
    deltas = [loads(tail.changes) for tail in chosen]
    await asyncio.sleep(0)
    final = _fold_tails(base, deltas, reducers, owned=True)
    if final is None:
        # Decoded only now: the last tail is usually the first, whose state the fold consumed.
        final = _last_view(await step_input(db, last.state, last.state_base), loads(last.changes))
    await asyncio.sleep(0)
    return final


def final_state_of_tail(
    state: Mapping[str, Any], changes: Mapping[str, Any], reducers: Mapping[str, Reducer]
) -> dict[str, Any]:
    """The final state when one known step is the only tail (a flow without fan-outs)."""
    final = _fold_tails(state, [changes], reducers)
    return _last_view(state, changes) if final is None else final


def _fold_tails(
    base: Mapping[str, Any],
    deltas: list[Any],
    reducers: Mapping[str, Reducer],
    *,
    owned: bool = False,
) -> dict[str, Any] | None:
    """The tails' deltas folded into ``base``; None when a reducer cannot combine them.

    ``owned``: ``base`` was decoded for this call alone, so it is folded into in place and not
    copied again (a fan-in's state of 100,000 elements would cost two deep copies).
    """
    try:
        fold = Fold(base, reducers, owned=owned)
        fold.add(deltas)
    except (TypeError, ValueError):
        return None
    return without_tombstones(fold.merged) if owned else strip_tombstones(fold.merged)


def _last_view(state: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The last tail's own view, kept when a reducer cannot combine the tails rather than
    losing the outcome (the flow's status already tells what happened)."""
    return strip_tombstones(merge_replace(state, changes))


async def fail_flow_in_tx(
    db: Tx,
    flow_id: int,
    error: str,
    reducers: Mapping[str, Reducer],
    strip: Iterable[str] = (),
    error_type: str = "",
) -> tuple[bool, dict[str, Any]]:
    """Fail the flow (first failure wins). Returns whether this call changed it, and its state.

    ``strip`` names fields to drop from the final state: the per-branch forEach bindings of
    the failed cohorts, which are bookkeeping, not results.
    """
    final = await compute_final_state(db, flow_id, reducers)
    for name in strip:
        final.pop(name, None)
    changed = await db.fail_flow(
        flow_id=flow_id,
        error=error,
        error_type=error_type,
        final_state=dumps_state(final, "final state"),
    )
    return changed > 0, final


def for_each_bindings(graph: Graph, task: str) -> list[str]:
    """The ``<as>``, ``<as>Index``, ``<as>Count`` fields the forEach edges out of ``task`` bind."""
    names: list[str] = []
    for edge in graph.outgoing(task):
        if edge.for_each:
            name = edge.as_ or "item"
            names += [name, f"{name}Index", f"{name}Count"]
    return names
