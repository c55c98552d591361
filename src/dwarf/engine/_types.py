"""The engine's dependency types: what a host injects, and what the engine reports."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dwarf.workflow import Flow, FlowOutcome, Graph

__all__ = [
    "FlowStoppedCallback",
    "GraphLoader",
    "PeerNotifier",
    "ShardSummary",
    "TaskExecutor",
]

GraphLoader = Callable[[str], Awaitable[Graph]]
"""Loads the graph of a workflow by name."""

TaskExecutor = Callable[[str, Flow], Awaitable[None]]
"""Runs the task at a URL against the carrier; raising is a task failure."""

FlowStoppedCallback = Callable[[str, FlowOutcome], Awaitable[None]]
"""Called with (hostname, outcome) when a flow started with ``start_notify`` stops."""


class PeerNotifier(Protocol):
    """Fire-and-forget signals to the OTHER replicas (never echo back to the sender)."""

    async def enqueue(self, shard: int, step_id: int) -> None:
        """A step became pending: peers may want to claim it."""

    async def sync_valve(self, task_name: str, w_cong: int, t_cong: datetime) -> None:
        """The task's rate valve was cut: peers adopt the newer cut."""

    async def trip_breaker(self, task_name: str) -> None:
        """The task's circuit breaker tripped: peers park its steps too."""

    async def notify_status_change(self, flow_key: str, status: str) -> None:
        """A flow stopped: peers wake their waiters on it."""


@dataclass(frozen=True, slots=True)
class ShardSummary:
    """One shard's health and size, as reported by ``Engine.shard_info()``."""

    shard: int
    error: str
    latency_ms: float
    steps: int
    flows: int
