"""``StepContext``: one claimed step on its way through the engine.

Everything a step's handlers need travels together (the replica's runtime, the step's store,
its flow as the claim read it, the flow's frozen graph and the claimed row), so no handler
re-spreads five arguments and no two handlers can be handed mismatched parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dwarf._storage import ClaimedStep, ClaimedStepRow, FlowRow, Store
from dwarf.engine._runtime._keys import format_key
from dwarf.engine._runtime._runtime import Runtime
from dwarf.workflow import Graph

__all__ = ["StepContext"]


@dataclass(slots=True)
class StepContext:
    """A claimed step with its runtime, store, flow and graph."""

    rt: Runtime
    store: Store
    flow: FlowRow
    graph: Graph
    row: ClaimedStepRow
    input_state: dict[str, Any] = field(default_factory=dict)
    """The step's input state (its row's snapshot)."""
    prior_changes: dict[str, Any] = field(default_factory=dict)
    """What earlier attempts of this step accumulated (a retry keeps them)."""
    successor: ClaimedStep | None = None
    """The successor this step's advance claimed for its worker to run next (dispatch D13)."""

    @property
    def flow_key(self) -> str:
        """The key of the step's flow."""
        return format_key(self.store.index, self.flow.flow_id, self.flow.flow_token)

    @property
    def step_key(self) -> str:
        """The key of the step."""
        return format_key(self.store.index, self.row.step_id, self.row.step_token)
