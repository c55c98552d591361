"""The values the engine hands to a ``Store``'s domain operations, and what they return.

JSON fields travel as text: the engine serializes once, and every dialect stores the text as
it is (each dialect's JSON column type accepts it). Each is a ``NamedTuple``, as the generated
rows are: immutable, and built at C speed (docs/internals/codegen.md, Rows are named tuples).
"""

from __future__ import annotations

from typing import NamedTuple

from dwarf._storage._gen.rows import ClaimedStepRow, FlowRow

__all__ = [
    "BandClaim",
    "ClaimedStep",
    "Completion",
    "FlowIds",
    "Lease",
    "NewFlow",
    "NewStep",
    "StartedFlow",
]


class NewFlow(NamedTuple):
    """A new flow row and its entry step (inserted together, ``created`` or started)."""

    token: str
    entry_token: str
    workflow_name: str
    graph: str
    entry: str
    state: str
    baggage: str
    priority: int
    fairness_key: str
    fairness_weight: float
    time_budget_ms: int
    """The flow's own budget (0: none, each step takes the inserting replica's)."""
    entry_time_budget_ms: int
    """The entry step's budget: the flow's own, else the inserting replica's."""
    delay_ms: int = 0
    delete_on_completion: bool = False
    thread: tuple[int, str] | None = None
    """The thread the flow joins (id, token); None makes it a thread of its own."""
    breakpoints: str = "{}"
    parent_flow_id: int = 0
    caller_step_id: int = 0
    caller_depth: int = 0
    root_flow_id: int = 0
    trace_parent: str = ""
    """The W3C traceparent of the flow's ``workflow`` span ("" when not traced)."""


class FlowIds(NamedTuple):
    """The ids a new flow and its entry step were given."""

    flow_id: int
    entry_step_id: int


class StartedFlow(NamedTuple):
    """A flow just started: its entry step (0: none left to run) and ms until it is due."""

    entry_step_id: int
    delay_ms: int
    workflow_name: str = ""


class NewStep(NamedTuple):
    """A pending step that follows a finished one."""

    flow_id: int
    depth: int
    token: str
    task_name: str
    state: str
    time_budget_ms: int
    lineage_id: int
    ordinal: int
    predecessor_id: int
    priority: int
    fairness_key: str
    fairness_weight: float
    delay_ms: int
    state_base: int = 0
    """The step whose successor snapshot ``state`` overlays (a forEach branch: its spawn);
    0 when ``state`` is the whole input."""


class Completion(NamedTuple):
    """The fenced completion of a claimed step: its delta and the goto it took.

    ``lease_seq`` is the claim's: a completion whose lease was re-granted matches no row.
    """

    step_id: int
    lease_seq: int
    changes: str
    goto_next: str


class ClaimedStep(NamedTuple):
    """A step this replica just claimed, with its flow as the claim read it.

    ``flow`` is None when the flow was deleted while the step was queued.
    """

    row: ClaimedStepRow
    flow: FlowRow | None


class Lease(NamedTuple):
    """Whose claim a step is, and how long past its time budget the claim lasts."""

    owner: str
    """The claiming replica's id (``lease_owner``)."""
    margin_ms: int
    """Added to the step's time budget to give the lease's length."""


class BandClaim(NamedTuple):
    """A step claimed with its whole due band (``Store.claim_due_band``)."""

    step: ClaimedStep
    wait_ms: int
    """How long the step had been due when claimed (its queue wait)."""
