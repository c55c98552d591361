"""Pure workflow types: graphs, the flow carrier, reducers, value types and Mermaid renderers.

Everything here depends only on the standard library and pydantic, so code that merely defines
graphs and tasks never loads a database driver or OpenTelemetry.
"""

from dwarf.workflow._baggage import current_baggage
from dwarf.workflow._flow import Flow
from dwarf.workflow._graph import Graph
from dwarf.workflow._graph_elements import END, Node, Transition, TransitionKind
from dwarf.workflow._history_mermaid import render_history_mermaid
from dwarf.workflow._reducers import Reducer, fold_changes, merge_state, strip_tombstones
from dwarf.workflow._signals import (
    BackpressureError,
    BreakerTripError,
    SubgraphFailedError,
    Yield,
    err_backpressure,
    err_breaker_trip,
    is_backpressure,
    is_breaker_trip,
)
from dwarf.workflow._values import (
    TERMINAL_STATUSES,
    FlowOptions,
    FlowOutcome,
    FlowStep,
    FlowSummary,
    Query,
    Status,
)
from dwarf.workflow._when import WhenExpression, compile_when, evaluate_when

__all__ = [
    "END",
    "TERMINAL_STATUSES",
    "BackpressureError",
    "BreakerTripError",
    "Flow",
    "FlowOptions",
    "FlowOutcome",
    "FlowStep",
    "FlowSummary",
    "Graph",
    "Node",
    "Query",
    "Reducer",
    "Status",
    "SubgraphFailedError",
    "Transition",
    "TransitionKind",
    "WhenExpression",
    "Yield",
    "compile_when",
    "current_baggage",
    "err_backpressure",
    "err_breaker_trip",
    "evaluate_when",
    "fold_changes",
    "is_backpressure",
    "is_breaker_trip",
    "merge_state",
    "render_history_mermaid",
    "strip_tombstones",
]
