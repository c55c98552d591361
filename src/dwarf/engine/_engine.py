"""``Engine``: configuration, lifecycle, and the public operations (delegated to ``_operations``).

Configuration methods return the engine so they chain. ``time_budget`` and ``default_priority``
take effect live (they are read when steps and flows are created); everything else applies at
``startup()``. Every operation on an engine that is not running raises ``UnavailableError``.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from dwarf._scheduling import Protection, TaskControl
from dwarf._storage import test_databases
from dwarf.engine._database_signals import DatabaseSignals
from dwarf.engine._dispatch._dispatcher import Dispatcher
from dwarf.engine._dispatch._liveness import Liveness
from dwarf.engine._operations import _breakpoints as breakpoints
from dwarf.engine._operations import _flows as flows
from dwarf.engine._operations import _inputs as inputs
from dwarf.engine._operations import _inspect as inspect
from dwarf.engine._operations import _listing as listing
from dwarf.engine._operations import _rewind as rewind
from dwarf.engine._operations import _shards as shards
from dwarf.engine._operations import _waiting as waiting
from dwarf.engine._operations._reaper import Reaper
from dwarf.engine._protection import bulk_park, reconstitute
from dwarf.engine._runtime._config import (
    SHARDS_FIXED,
    Config,
    as_concurrency,
    as_count,
    as_flag,
    as_key,
    as_provider,
    as_rate,
    as_replica_timeout,
    as_timedelta,
)
from dwarf.engine._runtime._keys import new_token
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._runtime._shards import open_shards
from dwarf.engine._types import (
    FlowStoppedCallback,
    GraphLoader,
    PeerNotifier,
    ShardSummary,
    TaskExecutor,
)
from dwarf.errors import BadRequestError, ConflictError, UnavailableError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

from dwarf.workflow import (
    FlowOptions,
    FlowOutcome,
    FlowStep,
    FlowSummary,
    Query,
    Status,
)

__all__ = ["Engine"]


class Engine:
    """A dwarf engine replica: configure with ``with_*``, then ``startup()`` (or ``async with``)."""

    def __init__(self) -> None:
        self._config = Config()
        self._rt: Runtime | None = None
        self._dispatcher: Dispatcher | None = None
        self._reaper: Reaper | None = None
        self._protection = Protection()
        self._liveness: Liveness | None = None
        self._signals: DatabaseSignals | None = None

    # --- configuration ------------------------------------------------------------------

    def _before_startup(self, what: str, why: str = "") -> None:
        if self._rt is not None:
            raise ConflictError(f"{what} cannot change after startup{why}")

    def with_dsn(self, dsn: str) -> Engine:
        """The database: ``postgresql://``, ``mysql://``, ``sqlite:///path``; ``%d`` = shard."""
        self._before_startup("the DSN")
        if not isinstance(dsn, str):
            raise BadRequestError("dsn must be a string")
        self._config.dsn = dsn
        return self

    def with_num_shards(self, n: int) -> Engine:
        """How many shard databases (default 1, fixed at startup); more than 1 needs ``%d``."""
        self._before_startup("the number of shards", SHARDS_FIXED)
        self._config.num_shards = as_count(n, "num_shards", 1)
        return self

    def with_workers(self, n: int) -> Engine:
        """How many steps this replica runs at once (default 64; 0 = dispatch nothing)."""
        self._before_startup("the number of workers")
        self._config.workers = as_count(n, "workers", 0)
        return self

    def with_time_budget(self, d: timedelta | float) -> Engine:
        """Default time budget of a task call (default 2 min), for every step this replica
        inserts in a flow without its own ``FlowOptions.time_budget``; applies live."""
        budget = as_timedelta(d, "time_budget")
        if budget <= timedelta(0) or budget > inputs.MAX_TIME_BUDGET:
            raise BadRequestError("time_budget must be positive and at most 24 days")
        self._config.time_budget = budget
        return self

    def with_default_priority(self, p: int) -> Engine:
        """Priority of flows created without one (default 100; lower runs first); live."""
        self._config.default_priority = as_count(p, "default_priority", 1)
        return self

    def with_max_open_conns(self, n: int) -> Engine:
        """Connections per shard (default 8)."""
        self._before_startup("max_open_conns")
        self._config.max_open_conns = as_count(n, "max_open_conns", 1)
        return self

    def with_replica_timeout(self, d: timedelta | float) -> Engine:
        """How long a replica may miss its heartbeat before peers take its steps (default 5 s).

        Each dispatching replica writes a heartbeat to every shard once a second; a step claimed
        by a replica whose heartbeat is older than this is recovered by any live replica without
        waiting for its lease (docs/internals/liveness.md). From 3 s to 1 h; give every replica
        the same value. A process paused longer than this loses its running steps to peers (its
        late writes are fenced) and then carries on.
        """
        self._before_startup("the replica timeout")
        self._config.replica_timeout = as_replica_timeout(d)
        return self

    def with_graph_loader(self, fn: GraphLoader) -> Engine:
        """How workflow names become graphs (required unless ``with_workers(0)``)."""
        self._before_startup("the graph loader")
        self._config.graph_loader = fn
        return self

    def with_task_executor(self, fn: TaskExecutor) -> Engine:
        """How task URLs are called (required unless ``with_workers(0)``)."""
        self._before_startup("the task executor")
        self._config.task_executor = fn
        return self

    def with_flow_stopped_callback(self, fn: FlowStoppedCallback) -> Engine:
        """Called when a flow started with ``start_notify`` stops."""
        self._config.flow_stopped_callback = fn
        return self

    def with_peer_notifier(self, pn: PeerNotifier) -> Engine:
        """How this replica signals its peers (optional)."""
        self._before_startup("the peer notifier")
        self._config.peer_notifier = pn
        return self

    def with_database_signals(self, enabled: bool = True) -> Engine:
        """Signal peers through the shards' own databases (PostgreSQL LISTEN/NOTIFY).

        Replicas then wake each other promptly with no message bus; without it (or while its
        connection is down) they find each other's work by polling. Excludes a peer notifier.
        """
        self._before_startup("database signals")
        self._config.database_signals = bool(enabled)
        return self

    def with_logger(self, logger: logging.Logger) -> Engine:
        """Where the engine logs (default: the ``dwarf`` logger, silent until configured)."""
        self._before_startup("the logger")
        self._config.logger = logger
        return self

    def with_meter_provider(self, mp: MeterProvider) -> Engine:
        """OpenTelemetry ``MeterProvider`` for dwarf's metrics (default: the global one).

        Instruments are created at startup under the scope ``dwarf`` (docs/observability.md).
        """
        self._before_startup("the meter provider")
        self._config.meter_provider = as_provider(mp, "get_meter", "meter_provider")
        return self

    def with_tracer_provider(self, tp: TracerProvider) -> Engine:
        """OpenTelemetry ``TracerProvider`` for dwarf's spans (default: the global one)."""
        self._before_startup("the tracer provider")
        self._config.tracer_provider = as_provider(tp, "get_tracer", "tracer_provider")
        return self

    def with_link_root_traces(self, link: bool) -> Engine:
        """Whether a root flow's ``workflow`` span joins the span current at ``create``.

        Default False: every root flow (``create``, ``create_task``, ``continue_thread``,
        ``fork``) starts a trace of its own, so one long-lived caller span does not collect the
        flows of a whole process. True puts the flow in the caller's trace.
        """
        self._before_startup("trace linking")
        self._config.link_root_traces = as_flag(link, "link")
        return self

    # --- protection (live: takes effect at the next refill) ----------------------------

    def with_rate_limit(self, key: str, per_second: float | None) -> Engine:
        """Cap ``key`` at ``per_second`` steps per second on this replica (``None``: no cap).

        ``key`` is a task name, or a key tasks name on their backpressure or breaker errors.
        The cap applies before the adaptive valve; steps over it wait, un-run, in place.
        """
        self._protection.set_rate_limit(as_key(key), as_rate(per_second))
        return self

    def with_concurrency_limit(self, key: str, n: int | None) -> Engine:
        """Run at most ``n`` steps of ``key`` at once on this replica (``None``: no limit)."""
        self._protection.set_concurrency_limit(as_key(key), as_concurrency(n))
        return self

    def task_controls(self) -> list[TaskControl]:
        """Per protection key: admitted rate, cuts, running steps, breaker state, next probe."""
        return self._protection.controls(datetime.now(UTC))

    # --- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        """Migrate and open every shard, then start dispatching.

        An engine with ``with_workers(0)`` runs no step, so it needs neither a graph loader nor a
        task executor: such an operator engine serves every operation except ``create``,
        ``create_task`` and ``run`` (which load a graph) on the flows' frozen graphs.
        """
        if self._rt is not None:
            raise ConflictError("the engine is already started")
        config = self._config
        dispatches = config.workers > 0
        if dispatches and config.graph_loader is None:
            raise BadRequestError("no graph loader: call with_graph_loader() before startup")
        if dispatches and config.task_executor is None:
            raise BadRequestError("no task executor: call with_task_executor() before startup")
        if not config.dsn:
            raise BadRequestError("no DSN: call with_dsn() (or use run_in_test()) before startup")
        shards = await open_shards(config)
        rt = Runtime(config, shards, owner=new_token(), protection=self._protection)
        liveness = Liveness(rt, config.replica_timeout) if dispatches else None
        try:
            await reconstitute(rt)
            if liveness is not None:
                await liveness.register()
            if config.database_signals:
                self._signals = DatabaseSignals.attach(rt, self)
        except BaseException:
            for shard in shards:
                await shard.close()
            raise
        if liveness is not None:
            liveness.start()
            self._liveness = liveness
        self._rt = rt
        self._dispatcher = Dispatcher(rt, config.workers)
        self._dispatcher.start()
        self._reaper = Reaper.started(rt) if dispatches else None
        rt.start_gauges()

    async def shutdown(self) -> None:
        """Stop dispatching (running steps get a bounded grace period), wake waiters, close."""
        rt, dispatcher, liveness = self._rt, self._dispatcher, self._liveness
        if rt is None:
            return
        if self._signals is not None:
            await self._signals.stop()
            self._signals = None
        self._rt = None
        self._dispatcher = None
        self._liveness = None
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            await reaper.stop()
        await rt.stop_gauges()
        if dispatcher is not None:
            await dispatcher.stop()
        if liveness is not None:
            # After the dispatcher: peers may take whatever it left running the moment the
            # rows are gone.
            await liveness.stop()
        rt.waiters.close()
        await rt.drain_background()
        for shard in rt.shards:
            await shard.close()

    async def __aenter__(self) -> Engine:
        await self.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    @contextlib.asynccontextmanager
    async def run_in_test(self, name: str | None = None) -> AsyncIterator[Engine]:
        """Run on fresh databases (one per shard), dropped on exit: in memory, or on the server
        ``DWARF_TEST_DSN`` names. Engines entering with the same ``name`` share them (replicas).
        """
        label = name if name else uuid.uuid4().hex
        async with test_databases(label, self._config.num_shards) as dsn:
            self.with_dsn(dsn)
            await self.startup()
            try:
                yield self
            finally:
                await self.shutdown()

    def _running(self) -> Runtime:
        if self._rt is None:
            raise UnavailableError("the engine is not running")
        return self._rt

    # --- operations ---------------------------------------------------------------------

    async def create(
        self,
        workflow_name: str,
        initial_state: Mapping[str, Any] | None = None,
        options: FlowOptions | None = None,
    ) -> str:
        """Create a flow (status ``created``); return its key."""
        return await flows.create(self._running(), workflow_name, initial_state, options)

    async def create_task(
        self,
        task_name: str,
        initial_state: Mapping[str, Any] | None = None,
        options: FlowOptions | None = None,
    ) -> str:
        """Create a flow of the single task ``task_name``; return its key."""
        return await flows.create_task(self._running(), task_name, initial_state, options)

    async def start(self, flow_key: str) -> None:
        """Start a created flow."""
        await flows.start(self._running(), flow_key)

    async def start_notify(self, flow_key: str, hostname: str) -> None:
        """Start a created flow; the flow-stopped callback gets ``hostname`` when it stops."""
        if not isinstance(hostname, str):
            raise BadRequestError("hostname must be a string")
        await flows.start(self._running(), flow_key, hostname)

    async def run(
        self,
        workflow_name: str,
        initial_state: Mapping[str, Any] | None = None,
        options: FlowOptions | None = None,
        *,
        timeout: timedelta | float | None = None,
    ) -> FlowOutcome:
        """Create, start and await a flow. A timeout raises ``TimeoutError``; the flow runs on."""
        seconds = inputs.timeout_seconds(timeout, "timeout")
        rt = self._running()
        key = await flows.create(rt, workflow_name, initial_state, options, start=True)
        return await waiting.await_flow(rt, key, seconds, just_started=True)

    async def await_flow(
        self, flow_key: str, *, timeout: timedelta | float | None = None
    ) -> FlowOutcome:
        """Wait for the flow to stop; ``TimeoutError`` when ``timeout`` passes first."""
        seconds = inputs.timeout_seconds(timeout, "timeout")
        return await waiting.await_flow(self._running(), flow_key, seconds)

    async def poll(self, flow_key: str, *, timeout: timedelta | float) -> FlowOutcome:
        """Wait up to ``timeout`` for the flow to stop; return its outcome either way."""
        seconds = inputs.timeout_seconds(timeout, "timeout")
        return await waiting.poll(self._running(), flow_key, seconds or 0.0)

    async def snapshot(self, flow_key: str) -> FlowOutcome:
        """The flow's outcome now."""
        return await waiting.snapshot(self._running(), flow_key)

    async def resume(self, flow_key: str, resume_data: Mapping[str, Any] | None = None) -> None:
        """Resume an interrupted flow; its task's ``interrupt()`` returns ``resume_data``."""
        await flows.resume(self._running(), flow_key, resume_data)

    async def cancel(self, flow_key: str, reason: str = "") -> None:
        """Cancel a created, running or interrupted flow and its subgraphs."""
        await flows.cancel(self._running(), flow_key, reason)

    async def fingerprint(self, flow_key: str) -> tuple[str, Status]:
        """A digest that changes whenever the flow (or a subgraph of it) makes progress."""
        return await inspect.fingerprint(self._running(), flow_key)

    async def history(self, flow_key: str) -> list[FlowStep]:
        """The flow's steps in execution order (subgraph callers carry ``sub_history``)."""
        return await inspect.history(self._running(), flow_key)

    async def step(self, step_key: str) -> FlowStep:
        """One step with its state, changes and navigation keys."""
        return await inspect.step(self._running(), step_key)

    async def list_flows(self, query: Query) -> tuple[list[FlowSummary], str]:
        """Root flows matching ``query`` and the cursor of the next page ("" when done)."""
        return await listing.list_flows(self._running(), query)

    async def history_mermaid(self, flow_key: str) -> str:
        """Mermaid flowchart text of what ran."""
        return await inspect.history_mermaid(self._running(), flow_key)

    async def shard_info(self) -> list[ShardSummary]:
        """Every shard's latency, size and error (a shard's failure is reported, not raised)."""
        return await shards.shard_info(self._running())

    async def restart(self, flow_key: str, overrides: Mapping[str, Any] | None = None) -> None:
        """Re-run a stopped flow from its entry step, its input overlaid by ``overrides``."""
        await rewind.restart(self._running(), flow_key, overrides)

    async def restart_from(self, step_key: str, overrides: Mapping[str, Any] | None = None) -> None:
        """Re-run a stopped flow from one of its steps (and everything after it)."""
        await rewind.restart_from(self._running(), step_key, overrides)

    async def fork(self, step_key: str, overrides: Mapping[str, Any] | None = None) -> str:
        """A new running flow that re-runs from a copy of ``step_key``; the origin is untouched."""
        return await rewind.fork(self._running(), step_key, overrides)

    async def continue_thread(
        self,
        thread_key: str,
        additional_state: Mapping[str, Any] | None = None,
        options: FlowOptions | None = None,
    ) -> str:
        """A new ``created`` flow continuing the thread's latest completed flow."""
        return await rewind.continue_thread(self._running(), thread_key, additional_state, options)

    async def delete(self, flow_key: str) -> None:
        """Delete a flow that is not running, with its steps."""
        await rewind.delete(self._running(), flow_key)

    async def purge(self, query: Query) -> int:
        """Delete non-running root flows matching ``query``; return how many."""
        return await rewind.purge(self._running(), query)

    async def break_before(self, flow_key: str, task_name: str, enabled: bool) -> None:
        """Pause the flow before ``task_name`` runs (or stop doing so)."""
        await breakpoints.break_before(self._running(), flow_key, task_name, enabled)

    async def resume_break(self, flow_key: str, overrides: Mapping[str, Any] | None = None) -> None:
        """Continue a flow paused at a breakpoint, its paused step's input overlaid."""
        await breakpoints.resume_break(self._running(), flow_key, overrides)

    # --- replica coordination -----------------------------------------------------------

    def breaker_tripped(self, task_name: str) -> bool:
        """Whether this replica's circuit breaker for ``task_name`` (or key) is open anywhere."""
        return self._protection.tripped(task_name)

    async def handle_enqueue(self, shard: int, step_id: int) -> None:
        """A peer made a step pending: look for work."""
        del shard, step_id
        if self._rt is not None:
            self._rt.request_refill()

    async def handle_sync_valve(self, task_name: str, w_cong: int, t_cong: datetime) -> None:
        """A peer cut the rate of ``task_name`` (a protection key): adopt the later cut."""
        if t_cong.tzinfo is None:
            raise BadRequestError("t_cong must be timezone-aware")
        self._protection.sync_valve(task_name, w_cong, t_cong)

    async def handle_trip_breaker(self, task_name: str) -> None:
        """A peer tripped the breaker of ``task_name`` (a protection key): park its steps too."""
        rt = self._rt
        shards = [shard.index for shard in rt.shards] if rt is not None else []
        fresh = self._protection.trip_from_peer(task_name, datetime.now(UTC), shards)
        if fresh and rt is not None:
            await bulk_park(rt, task_name, None)

    async def handle_notify_status_change(self, flow_key: str, status: str) -> None:
        """A peer saw a flow stop: wake local waiters on it."""
        del status
        if self._rt is not None:
            self._rt.waiters.notify(flow_key)
