"""``SyncEngine``: the engine's operations as blocking calls, for WSGI hosts (Django, Flask).

The engine is asyncio-only (no ``_async`` twins); a host without an event loop of its own wraps
an ``Engine`` in a ``SyncEngine``, which runs it on an event loop in a background thread and turns
every operation into a call that blocks the calling thread until the loop has answered. Any
number of threads may call at once: each call is one coroutine on the shared loop.

Limits:

- Task handlers, graph loaders and callbacks run on that background loop (plain ``def`` handlers
  in its worker threads), not in the thread that started the flow: a handler must not rely on
  the caller's thread-locals (a Django request, a Flask ``g``).
- Do not call a ``SyncEngine`` from code running on its own loop (a task handler): the call
  would wait for the loop it is blocking. It raises ``ConflictError`` instead of hanging.
- ``close()`` (or leaving the ``with`` block) shuts the engine down, stops the loop and joins its
  thread; calls after that raise ``UnavailableError``. The thread is a daemon: a process that
  exits without closing kills it like a crash (steps it was running are recovered by lease
  expiry), so close it at exit (``atexit``) to shut down cleanly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from concurrent.futures import Future
from contextlib import AsyncExitStack
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

from dwarf.engine import Engine, ShardSummary
from dwarf.errors import ConflictError, UnavailableError
from dwarf.workflow import FlowOptions, FlowOutcome, FlowStep, FlowSummary, Query, Status

__all__ = ["SyncEngine"]

_T = TypeVar("_T")


class SyncEngine:
    """Runs an ``Engine`` on a background event loop and offers its operations as blocking calls.

    ``SyncEngine(engine)`` calls ``engine.startup()`` (its DSN and dependencies configured as
    usual); ``SyncEngine(engine, in_test=True)`` enters ``engine.run_in_test()`` instead. Both
    start at construction and stop at ``close()``.
    """

    def __init__(self, engine: Engine, *, in_test: bool = False) -> None:
        """Start a loop thread, then start ``engine`` on it (an error is raised here, closed)."""
        self.engine = engine
        """The wrapped engine; its coroutines must run on this facade's loop."""
        self._stack = AsyncExitStack()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="dwarf-sync-engine", daemon=True)
        self._thread.start()
        self._ready.wait()
        try:
            self._call(self._enter(in_test))
        except BaseException:
            self._stop_loop()
            raise

    def _serve(self) -> None:
        # asyncio.run cancels leftovers and shuts down the default executor (asyncio.to_thread's
        # workers), so joining this thread leaves no thread of ours behind.
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()

    async def _enter(self, in_test: bool) -> None:
        if in_test:
            await self._stack.enter_async_context(self.engine.run_in_test())
        else:
            await self._stack.enter_async_context(self.engine)

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        loop = self._loop
        if self._closed or loop is None:
            coro.close()
            raise UnavailableError("the sync engine is closed")
        try:
            self._refuse_own_loop()
        except ConflictError:
            coro.close()
            raise
        future: Future[_T] = asyncio.run_coroutine_threadsafe(coro, loop)
        return future.result()

    def _refuse_own_loop(self) -> None:
        # Blocking the loop thread on a future that loop must complete would hang forever.
        if threading.get_ident() == self._thread.ident:
            raise ConflictError(
                "a SyncEngine was called from its own event loop (a task handler?): "
                "await the Engine's coroutine there instead"
            )

    def _stop_loop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        self._thread.join()

    def close(self) -> None:
        """Shut the engine down, stop the loop and join its thread (idempotent)."""
        self._refuse_own_loop()
        with self._lock:
            if self._closed:
                return
            try:
                self._call(self._stack.aclose())
            finally:
                self._closed = True
                self._stop_loop()

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- operations (each blocks until the engine's coroutine returns) ------------------

    def create(
        self,
        workflow_name: str,
        initial_state: Mapping[str, Any] | None = None,
        options: FlowOptions | None = None,
    ) -> str:
        """``Engine.create``: create a flow (status ``created``); return its key."""
        return self._call(self.engine.create(workflow_name, initial_state, options))

    def create_task(
        self,
        task_name: str,
        initial_state: Mapping[str, Any] | None = None,
        options: FlowOptions | None = None,
    ) -> str:
        """``Engine.create_task``: create a flow of the single task ``task_name``."""
        return self._call(self.engine.create_task(task_name, initial_state, options))

    def start(self, flow_key: str) -> None:
        """``Engine.start``: start a created flow."""
        self._call(self.engine.start(flow_key))

    def start_notify(self, flow_key: str, hostname: str) -> None:
        """``Engine.start_notify``: start a created flow, notifying ``hostname`` when it stops."""
        self._call(self.engine.start_notify(flow_key, hostname))

    def run(
        self,
        workflow_name: str,
        initial_state: Mapping[str, Any] | None = None,
        options: FlowOptions | None = None,
        *,
        timeout: timedelta | float | None = None,
    ) -> FlowOutcome:
        """``Engine.run``: create, start and wait for a flow (``TimeoutError`` after timeout)."""
        return self._call(self.engine.run(workflow_name, initial_state, options, timeout=timeout))

    def await_flow(self, flow_key: str, *, timeout: timedelta | float | None = None) -> FlowOutcome:
        """``Engine.await_flow``: wait for the flow to stop."""
        return self._call(self.engine.await_flow(flow_key, timeout=timeout))

    def poll(self, flow_key: str, *, timeout: timedelta | float) -> FlowOutcome:
        """``Engine.poll``: wait up to ``timeout`` for the flow to stop; its outcome either way."""
        return self._call(self.engine.poll(flow_key, timeout=timeout))

    def snapshot(self, flow_key: str) -> FlowOutcome:
        """``Engine.snapshot``: the flow's outcome now."""
        return self._call(self.engine.snapshot(flow_key))

    def resume(self, flow_key: str, resume_data: Mapping[str, Any] | None = None) -> None:
        """``Engine.resume``: resume an interrupted flow."""
        self._call(self.engine.resume(flow_key, resume_data))

    def cancel(self, flow_key: str, reason: str = "") -> None:
        """``Engine.cancel``: cancel a flow and its subgraphs."""
        self._call(self.engine.cancel(flow_key, reason))

    def fingerprint(self, flow_key: str) -> tuple[str, Status]:
        """``Engine.fingerprint``: a digest that changes whenever the flow makes progress."""
        return self._call(self.engine.fingerprint(flow_key))

    def history(self, flow_key: str) -> list[FlowStep]:
        """``Engine.history``: the flow's steps in execution order."""
        return self._call(self.engine.history(flow_key))

    def step(self, step_key: str) -> FlowStep:
        """``Engine.step``: one step with its state and changes."""
        return self._call(self.engine.step(step_key))

    def list_flows(self, query: Query) -> tuple[list[FlowSummary], str]:
        """``Engine.list_flows``: root flows matching ``query`` and the next page's cursor."""
        return self._call(self.engine.list_flows(query))

    def history_mermaid(self, flow_key: str) -> str:
        """``Engine.history_mermaid``: Mermaid flowchart text of what ran."""
        return self._call(self.engine.history_mermaid(flow_key))

    def shard_info(self) -> list[ShardSummary]:
        """``Engine.shard_info``: every shard's latency, size and error."""
        return self._call(self.engine.shard_info())

    def restart(self, flow_key: str, overrides: Mapping[str, Any] | None = None) -> None:
        """``Engine.restart``: re-run a stopped flow from its entry step."""
        self._call(self.engine.restart(flow_key, overrides))

    def restart_from(self, step_key: str, overrides: Mapping[str, Any] | None = None) -> None:
        """``Engine.restart_from``: re-run a stopped flow from one of its steps."""
        self._call(self.engine.restart_from(step_key, overrides))

    def fork(self, step_key: str, overrides: Mapping[str, Any] | None = None) -> str:
        """``Engine.fork``: a new running flow re-running from a copy of ``step_key``."""
        return self._call(self.engine.fork(step_key, overrides))

    def continue_thread(
        self,
        thread_key: str,
        additional_state: Mapping[str, Any] | None = None,
        options: FlowOptions | None = None,
    ) -> str:
        """``Engine.continue_thread``: a new flow continuing the thread's latest one."""
        return self._call(self.engine.continue_thread(thread_key, additional_state, options))

    def delete(self, flow_key: str) -> None:
        """``Engine.delete``: delete a flow that is not running, with its steps."""
        self._call(self.engine.delete(flow_key))

    def purge(self, query: Query) -> int:
        """``Engine.purge``: delete non-running root flows matching ``query``; how many."""
        return self._call(self.engine.purge(query))

    def break_before(self, flow_key: str, task_name: str, enabled: bool) -> None:
        """``Engine.break_before``: pause the flow before ``task_name`` runs (or stop doing so)."""
        self._call(self.engine.break_before(flow_key, task_name, enabled))

    def resume_break(self, flow_key: str, overrides: Mapping[str, Any] | None = None) -> None:
        """``Engine.resume_break``: continue a flow paused at a breakpoint."""
        self._call(self.engine.resume_break(flow_key, overrides))
