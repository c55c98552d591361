"""The engine: lifecycle, operations and the dependency types a host injects."""

from dwarf._scheduling import TaskControl
from dwarf.engine._engine import Engine
from dwarf.engine._proxy import Handler, Registry, TestProxy
from dwarf.engine._types import (
    FlowStoppedCallback,
    GraphLoader,
    PeerNotifier,
    ShardSummary,
    TaskExecutor,
)

__all__ = [
    "Engine",
    "FlowStoppedCallback",
    "GraphLoader",
    "Handler",
    "PeerNotifier",
    "Registry",
    "ShardSummary",
    "TaskControl",
    "TaskExecutor",
    "TestProxy",
]
