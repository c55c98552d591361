"""An engine on scratch databases whose tasks a test can stub, and running a flow to its end.

``started_engine`` wires the engine to a task executor that looks at the stubs of the
``run_to_end`` call in progress before the host's ``Registry``: stubs are keyed by task URL (the
second argument of ``Graph.add_task``) and hold for the whole engine while that call runs, so a
subgraph's tasks are stubbed too. Two stubbed runs at once on one engine would see each other's
stubs, so the second is refused rather than silently mixed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dwarf.engine import Engine, Registry
from dwarf.errors import BadRequestError, ConflictError
from dwarf.workflow import Flow, FlowOptions, FlowOutcome, FlowStep

__all__ = ["FlowRun", "Stub", "run_to_end", "started_engine"]

Stub = (
    Callable[[Flow], Awaitable[None]] | Callable[[Flow], None] | Mapping[str, Any] | BaseException
)
"""What a stubbed task does: a handler runs instead of the real one, a mapping is written to the
state as the task's changes, an exception instance is raised (to test failures and retries)."""


@dataclass(frozen=True)
class FlowRun:
    """A flow ``run_to_end`` drove: its outcome and its steps with their changes, in order.

    Iterating a ``FlowRun`` iterates ``history``, so it can be handed to the assertions directly.
    """

    outcome: FlowOutcome
    """Where the flow stopped (completed, failed, interrupted or cancelled)."""
    history: list[FlowStep] = field(default_factory=list)
    """The flow's steps in execution order, each with ``state`` and ``changes`` filled in."""

    def __iter__(self) -> Iterator[FlowStep]:
        """The steps of ``history``."""
        return iter(self.history)


class _StubbingExecutor:
    """The kit engine's task executor: the active stubs first, then the registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.stubs: dict[str, Stub] | None = None

    async def execute_task(self, url: str, flow: Flow) -> None:
        stub = self.stubs.get(url) if self.stubs is not None else None
        if stub is None:
            await self.registry.execute_task(url, flow)
        elif isinstance(stub, BaseException):
            raise stub
        elif isinstance(stub, Mapping):
            for key, value in stub.items():
                flow.set(key, value)
        else:
            stub_registry = Registry()
            stub_registry.handle_task(url, stub)
            await stub_registry.execute_task(url, flow)


# The executor of each engine the kit started, so run_to_end can find where its stubs go.
_executors: dict[int, _StubbingExecutor] = {}


@contextlib.asynccontextmanager
async def started_engine(
    registry: Registry, *, engine: Engine | None = None, name: str | None = None
) -> AsyncIterator[Engine]:
    """A started engine serving ``registry`` on fresh databases, dropped on exit.

    The databases are SQLite in memory, or scratch databases on the server ``DWARF_TEST_DSN``
    names (``Engine.run_in_test``). Pass ``engine`` to configure it first (shards, workers,
    limits); its graph loader and task executor are replaced. ``name`` shares databases between
    engines entered with the same name (replicas).
    """
    eng = engine if engine is not None else Engine()
    executor = _StubbingExecutor(registry)
    eng.with_graph_loader(registry.load_graph).with_task_executor(executor.execute_task)
    _executors[id(eng)] = executor
    try:
        async with eng.run_in_test(name):
            yield eng
    finally:
        del _executors[id(eng)]


async def run_to_end(
    engine: Engine,
    workflow: str,
    state: Mapping[str, Any] | None = None,
    *,
    stubs: Mapping[str, Stub] | None = None,
    options: FlowOptions | None = None,
    timeout: timedelta | float = 60.0,
) -> FlowRun:
    """Run ``workflow`` from ``state`` until it stops; return its outcome and detailed history.

    ``stubs`` replaces tasks by URL for this run (see ``Stub``); it needs an engine from
    ``started_engine`` or the ``dwarf_engine`` fixture. A flow still running after ``timeout``
    raises ``TimeoutError`` (a test should not hang on a flow waiting for a sleep or a resume).
    """
    executor = _executors.get(id(engine))
    if stubs is not None:
        if executor is None:
            raise BadRequestError(
                "stubs: the engine was not started by dwarf.testing (use started_engine or the "
                "dwarf_engine fixture)"
            )
        _check_stubs(stubs)
        if executor.stubs is not None:
            raise ConflictError("stubs: another stubbed run_to_end is running on this engine")
        executor.stubs = dict(stubs)
    try:
        outcome = await engine.run(workflow, state, options, timeout=timeout)
    finally:
        if stubs is not None and executor is not None:
            executor.stubs = None
    steps = await engine.history(outcome.flow_key)
    detailed = [await _detailed(engine, step) for step in steps]
    return FlowRun(outcome=outcome, history=detailed)


async def _detailed(engine: Engine, step: FlowStep) -> FlowStep:
    """The step with its state and changes (``history`` leaves them empty), sub-steps too."""
    full = await engine.step(step.step_key)
    subs = [await _detailed(engine, sub) for sub in step.sub_history]
    return full.model_copy(update={"sub_history": subs})


def _check_stubs(stubs: Mapping[str, Stub]) -> None:
    for url, stub in stubs.items():
        if not isinstance(url, str):
            raise BadRequestError(f"stubs: task URL {url!r} is not a string")
        if not (callable(stub) or isinstance(stub, Mapping | BaseException)):
            raise BadRequestError(
                f"stubs[{url!r}]: {type(stub).__name__} is neither a handler, a mapping of "
                "changes nor an exception"
            )
