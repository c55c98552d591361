"""``Store``: one shard database, its connections, its transactions and its domain operations.

The base class is the portable store: every operation is built on the generated ``Queries``
that all dialects share. A dialect's subclass (``_postgresql``, ``_mysql``, ``_sqlite``,
``_sqlserver``) supplies the connection handling and overrides the hot-path operations
(create, start, advance to a successor, finish) with its fast path; the engine calls the same
method on every dialect and never learns which one answered.

Why it looks like this (docs/internals/storage.md, "Transactions", rules S1-S4):
- Every multi-statement change runs in ``transact(fn)``: the whole closure re-runs on lock
  contention (deadlock, serialization failure, lock wait timeout, SQLite busy), because a
  transaction that lost such a race is rolled back whole by the database and re-running the
  closure is the only correct recovery.
- A failed statement poisons its transaction: we always roll back on any exception, so no
  partial transaction commits on MySQL or SQLite.
- Connection use is bounded by ``max_open_conns`` per shard; nothing holds a connection while a
  task runs (callers acquire per transaction).
- A transient fault (connection terminated or lost, server restarting or unreachable) re-runs
  the unit of work on a fresh connection with bounded backoff for up to ``fault_window``
  seconds, then raises ``UnavailableError`` (storage.md, "Database faults", S9-S11). A
  transaction cut off before its COMMIT was rolled back, so re-running it is always safe; one
  cut off during its COMMIT (or an autocommit statement cut off mid-flight) may have committed,
  which the engine's fenced and guarded writes tolerate; ``create_flow`` does not, so it raises
  ``UnavailableError`` at once in that case rather than risk a second flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from dwarf._storage import _hot_path as hot_path
from dwarf._storage._claims import with_flows
from dwarf._storage._dsn import Dsn, scrub
from dwarf._storage._faults import (
    is_contention,
    is_driver_error,
    is_transient,
    replay_is_unsafe,
    replay_unsafe,
)
from dwarf._storage._gen.queries import Queries
from dwarf._storage._gen.rows import FlowRow, LeasedStepRow
from dwarf._storage._gen.tx import Tx
from dwarf._storage._records import (
    BandClaim,
    ClaimedStep,
    Completion,
    FlowIds,
    Lease,
    NewFlow,
    NewStep,
    StartedFlow,
)
from dwarf.errors import ConflictError, DwarfError, NotFoundError, StorageError, UnavailableError
from dwarf.workflow import Status

__all__ = ["FAULT_WINDOW", "MAX_TX_ATTEMPTS", "Store"]

T = TypeVar("T")

MAX_TX_ATTEMPTS = 12
FAULT_WINDOW = 15.0
"""Seconds a unit of work keeps retrying a transient fault before ``UnavailableError``."""

_READ_BACK_PAUSE = 0.5
"""Seconds between attempts to read back a claim while the database is unavailable."""
FAULT_BACKOFF_MAX = 0.5
"""Longest pause between two retries: dispatch resumes this soon after the server is back."""


class _Sent(Exception):
    """A transient fault after the work may have reached the server (it may have committed)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Store:
    """One shard database: its index, DSN, generated accessors ``q`` and domain operations.

    Subclasses implement ``_acquire``, ``_begin``, ``_commit``, ``_rollback`` and ``_close`` for
    their driver (or ``_once`` and ``_bare`` whole, as SQLite's commit group does), and may
    override the hot-path operations with a faster equivalent that writes the same rows.
    """

    dialect: ClassVar[str] = ""
    """The dialect's name, for messages ("postgresql", "mysql", "sqlite", "sqlserver")."""
    claims_due_bands: ClassVar[bool] = False
    """Whether ``claim_due_band`` can claim a due band whole in one statement (dispatch D12)."""
    claims_successors: ClassVar[bool] = False
    """Whether ``advance_claiming_successor`` can insert a successor already claimed (D13)."""
    claims_entries: ClassVar[bool] = False
    """Whether ``create_flow_claiming_entry`` can insert an entry step already claimed (D13)."""

    def __init__(self, index: int, dsn: Dsn, q: Queries) -> None:
        self.index = index
        """The shard's 1-based index (the first part of every key on it)."""
        self.dsn = dsn
        self.q = q
        """The generated accessors of this store's dialect."""
        self.fault_window = FAULT_WINDOW
        """Seconds to keep retrying a transient fault (tests shorten it)."""
        self.fault: str = ""
        """The transient fault being retried right now ('' when healthy), for ``shard_info``."""
        self._closed = False
        self.on_transaction: Callable[[Callable[..., object], float], None] | None = None
        """Told (the function run, seconds taken) after each unit of work, when set: the
        engine's transaction-time histogram. None costs nothing."""

    # --- connection handling, per driver ------------------------------------------------

    def _acquire(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Borrow a connection (in autocommit mode) for one unit of work."""
        raise NotImplementedError

    async def _begin(self, conn: Any) -> None:
        raise NotImplementedError

    async def _commit(self, conn: Any) -> None:
        raise NotImplementedError

    async def _rollback(self, conn: Any) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    # --- signals between replicas, where the database carries them ------------------------

    carries_signals: ClassVar[bool] = False
    """Whether ``signal``/``signals`` work here (a database with a publish/subscribe channel)."""

    async def signal(self, channel: str, payload: str) -> None:
        """Publish ``payload`` to every session listening on ``channel`` (this one included)."""
        raise UnavailableError(f"shard {self.index} ({self.dialect}) cannot carry signals")

    def signals(self, channel: str) -> AsyncIterator[str]:
        """Listen on ``channel`` on a connection of its own; yields payloads as they arrive.

        Raises (``UnavailableError``) when that connection is lost: the caller reconnects.
        """
        raise UnavailableError(f"shard {self.index} ({self.dialect}) cannot carry signals")

    # --- units of work ------------------------------------------------------------------

    async def transact(
        self, fn: Callable[[Tx], Awaitable[T]], origin: Callable[..., object] | None = None
    ) -> T:
        """Run ``fn(db)`` in one transaction, re-running it whole on lock contention.

        ``origin`` names the operation to the transaction-time histogram (default: ``fn``).
        """
        return await self._retrying(self._once, self._bound(fn), origin or fn)

    async def read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run read-only ``fn(db)`` outside a transaction (connections are in autocommit).

        A read needs no BEGIN/COMMIT round trips; a read that must see several rows as of one
        instant belongs in ``transact`` instead.
        """
        return await self._retrying(self._bare, self._bound(fn), fn)

    async def autocommit(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``fn(db)`` with each statement committing on its own (no BEGIN/COMMIT).

        For a write that is one statement, or statements that need not be atomic together.
        Re-run on lock contention like a transaction, so ``fn`` must be safe to repeat.
        """
        return await self._retrying(self._bare, self._bound(fn), fn)

    def _bound(self, fn: Callable[[Tx], Awaitable[T]]) -> Callable[[Any], Awaitable[T]]:
        queries = self.q

        def run(conn: Any) -> Awaitable[T]:
            return fn(Tx(queries, conn))

        return run

    async def _transact_on_connection(
        self, fn: Callable[[Any], Awaitable[T]], origin: Callable[..., object] | None = None
    ) -> T:
        """``transact`` for a subclass's own dialect-typed statements on the raw connection."""
        return await self._retrying(self._once, fn, origin or fn)

    async def _autocommit_on_connection(
        self, fn: Callable[[Any], Awaitable[T]], origin: Callable[..., object] | None = None
    ) -> T:
        """``autocommit`` for a subclass's own dialect-typed statements on the raw connection."""
        return await self._retrying(self._bare, fn, origin or fn)

    async def close(self) -> None:
        """Close the store's connections (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._close()

    async def _retrying(
        self,
        run: Callable[[Callable[[Any], Awaitable[T]]], Awaitable[T]],
        fn: Callable[[Any], Awaitable[T]],
        origin: Callable[..., object],
    ) -> T:
        observe = self.on_transaction
        if observe is None:
            return await self._attempts(run, fn)
        started = time.perf_counter()
        try:
            return await self._attempts(run, fn)
        finally:
            observe(origin, time.perf_counter() - started)

    async def _attempts(
        self,
        run: Callable[[Callable[[Any], Awaitable[T]]], Awaitable[T]],
        fn: Callable[[Any], Awaitable[T]],
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.fault_window
        contended = 0
        faults = 0
        while True:
            try:
                result = await run(fn)
            except Exception as caught:
                sent = isinstance(caught, _Sent)
                exc = caught.error if isinstance(caught, _Sent) else caught
                if is_contention(exc) and contended < MAX_TX_ATTEMPTS - 1:
                    contended += 1
                    await asyncio.sleep(random.uniform(0.002, 0.004) * (2 ** min(contended, 6)))
                    continue
                if self._closed or not is_transient(exc):
                    translated = self._translate(exc)
                    if translated is not exc:
                        raise translated from exc
                    if sent:
                        raise exc from None
                    raise
                self.fault = self._describe(exc)
                if sent and replay_is_unsafe():
                    raise UnavailableError(
                        f"shard {self.index} ({self.dialect}) lost its connection while "
                        f"writing, so the outcome is unknown: {self.fault}"
                    ) from exc
                if loop.time() >= deadline:
                    raise UnavailableError(
                        f"shard {self.index} ({self.dialect}) is unavailable: {self.fault}"
                    ) from exc
                faults += 1
                pause = min(FAULT_BACKOFF_MAX, 0.02 * 2**faults) * random.uniform(0.5, 1.0)
                await asyncio.sleep(min(pause, max(deadline - loop.time(), 0.0)))
                continue
            self.fault = ""
            return result

    def _check_open(self) -> None:
        if self._closed:
            raise UnavailableError(f"shard {self.index} is closed")

    async def _bare(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        self._check_open()
        async with self._acquire() as conn:
            try:
                return await fn(conn)
            except Exception as exc:
                if is_transient(exc):
                    raise _Sent(exc) from exc
                raise

    async def _once(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        self._check_open()
        async with self._acquire() as conn:
            await self._begin(conn)
            try:
                result = await fn(conn)
            except BaseException:
                with contextlib.suppress(Exception):
                    await self._rollback(conn)
                raise
            try:
                await self._commit(conn)
            except Exception as exc:
                # Cut off during COMMIT: the transaction may or may not have committed.
                if is_transient(exc):
                    raise _Sent(exc) from exc
                raise
            return result

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, DwarfError):
            return exc.message
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return scrub(first, self.dsn.secrets())

    def _translate(self, exc: BaseException) -> BaseException:
        if isinstance(exc, DwarfError) or not is_driver_error(exc):
            return exc
        first = (str(exc).strip().splitlines() or [""])[0]
        return StorageError(
            f"shard {self.index} ({self.dialect}): {scrub(first, self.dsn.secrets())}"
        )

    # --- domain operations: flows ---------------------------------------------------------

    async def create_flow(self, new: NewFlow, *, start: bool) -> FlowIds:
        """Insert a new flow with its entry step; with ``start`` it is also started."""
        with replay_unsafe():
            return await self.transact(
                lambda db: self.insert_flow(db, new, start=start), self.create_flow
            )

    async def create_flow_claiming_entry(self, new: NewFlow, lease: Lease) -> ClaimedStep:
        """``create_flow(new, start=True)``, with the entry step inserted claimed under ``lease``.

        Only a store whose ``claims_entries`` is True has such a statement (dispatch D13).
        Returns the entry step as a claim of it would have read it, with its flow.
        """
        raise NotImplementedError(f"{self.dialect} cannot claim an entry step as it inserts it")

    async def insert_flow(self, db: Tx, new: NewFlow, *, start: bool) -> FlowIds:
        """Insert a new flow and its entry step inside the caller's transaction on ``db``.

        The flow becomes its own thread and root (unless it joins a thread or has a parent);
        with ``start`` it is running and its entry step pending from the start.
        """
        return await hot_path.insert_flow(db, new, start=start)

    async def start_flow(self, flow_id: int, flow_token: str, hostname: str) -> StartedFlow:
        """Start a ``created`` flow: its entry step becomes pending.

        Raises ``NotFoundError`` for an unknown flow and ``ConflictError`` when it is not
        ``created``.
        """

        async def tx(db: Tx) -> StartedFlow:
            flow = await db.get_flow(flow_id=flow_id, flow_token=flow_token)
            if flow is None:
                raise NotFoundError("flow not found")
            if flow.status != Status.CREATED:
                raise ConflictError(f"flow is {flow.status}, not created")
            await db.activate_flow_steps(flow_id=flow_id)
            if not await db.start_flow(flow_id=flow_id, notify_hostname=hostname):
                raise ConflictError("flow is no longer created")
            schedule = await db.get_step_schedule(step_id=flow.step_id)
            delay_ms = schedule.delay_ms if schedule is not None else 0
            return StartedFlow(flow.step_id, delay_ms, flow.workflow_name)

        return await self.transact(tx)

    # --- domain operations: steps -----------------------------------------------------------

    async def insert_step(self, db: Tx, step: NewStep) -> int:
        """Insert a pending successor step inside the caller's transaction; return its id."""
        return await db.insert_step(
            flow_id=step.flow_id,
            step_depth=step.depth,
            step_token=step.token,
            task_name=step.task_name,
            state=step.state,
            state_base=step.state_base,
            changes="{}",
            status=Status.PENDING,
            time_budget_ms=step.time_budget_ms,
            lineage_id=step.lineage_id,
            fan_out_ordinal=step.ordinal,
            predecessor_id=step.predecessor_id,
            priority=step.priority,
            fairness_key=step.fairness_key,
            fairness_weight=step.fairness_weight,
            parked=0,
            delay_ms=step.delay_ms,
        )

    async def claim(self, step_ids: Sequence[int], owner: str, margin_ms: int) -> list[ClaimedStep]:
        """Claim the given due steps for ``owner``; return those won, with their flows.

        No transaction: the claim is one atomic UPDATE, and what it won stays this replica's
        (running, its lease, its owner) until this replica settles it, so the two reads after
        it see the same rows without BEGIN/COMMIT round trips. A step cancelled in between is
        simply not read back; if a read fails, the claimed steps run again when their leases
        expire (as after a crash).
        """

        attempts = 0

        async def claim(db: Tx) -> int:
            nonlocal attempts
            attempts += 1
            return await db.claim_steps(
                step_ids=step_ids, lease_owner=owner, lease_margin_ms=margin_ms
            )

        try:
            won = await self.autocommit(claim)
        except UnavailableError:
            won = -1  # unknown: an UPDATE may have committed before its connection went
        # A claim re-run after a dropped connection may find its first run's rows already
        # claimed (by this owner): read back whenever it was re-run, or they would sit out
        # their lease under a live replica (storage.md, S10).
        if not won and attempts == 1:
            return []
        return await self._read_back_claimed(step_ids, owner)

    async def claim_due_band(
        self, wanted: int, owner: str, margin_ms: int, held: Callable[[LeasedStepRow], bool]
    ) -> list[BandClaim]:
        """Claim the best due band whole, if it has at most ``wanted`` due steps (dispatch D12).

        Only a store whose ``claims_due_bands`` is True has such a statement. Empty when
        nothing was claimed (nothing was due, or the band was larger): the dispatcher then
        scans and plans. ``held`` tells the steps this replica holds, or will once a write
        under way returns (a step claimed as it was inserted, D13), which a lost reply's
        read-back must leave out.
        """
        raise NotImplementedError(f"{self.dialect} has no whole-band claim")

    async def _read_back_claimed(self, step_ids: Sequence[int], owner: str) -> list[ClaimedStep]:
        """The steps of ``step_ids`` that ``owner`` holds, with their flows (waits out outages)."""

        async def read_back(db: Tx) -> list[ClaimedStep]:
            rows = await db.select_claimed_steps(step_ids=step_ids, lease_owner=owner)
            return await with_flows(db, rows)

        return await self._read_patiently(read_back)

    async def _read_patiently(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """``read(fn)`` for the rows of a claim, retried through an outage until the store closes.

        The claimed steps are this (live, heartbeating) replica's, and nobody else would take
        them before their lease: a read lost to an outage waits it out instead.
        """
        return await self._patiently(lambda: self.read(fn))

    async def _patiently(self, read: Callable[[], Awaitable[T]]) -> T:
        """``read()``, retried through an outage until the store closes (``_read_patiently``)."""
        while True:
            try:
                return await read()
            except UnavailableError:
                if self._closed:
                    raise
                await asyncio.sleep(_READ_BACK_PAUSE)

    async def advance_to_successor(self, done: Completion, successor: NewStep) -> int:
        """Complete a claimed step and insert its one successor, atomically.

        Returns the successor's id, or 0 when nothing was written: the lease was lost, or the
        flow is no longer live (the caller then settles the step from the flow's status).
        """
        try:
            return await self.transact(
                lambda db: hot_path.advance(self, db, (done, successor)), self.advance_to_successor
            )
        except hot_path.NothingWritten:
            return 0

    async def advance_claiming_successor(
        self, done: Completion, successor: NewStep, lease: Lease, flow: FlowRow
    ) -> ClaimedStep | int:
        """``advance_to_successor``, with the successor inserted already claimed under ``lease``.

        Only a store whose ``claims_successors`` is True has such a statement (dispatch D13).
        Returns the successor as a claim of it would have read it, its flow row being ``flow``
        as the write left it; else what ``advance_to_successor`` returns: the id of a successor
        inserted pending (a write too large for the statement), 0 when nothing was written.
        """
        raise NotImplementedError(f"{self.dialect} cannot claim a successor as it inserts it")

    async def _found_claimed(
        self, find: Callable[[Any], Awaitable[int | None]], owner: str
    ) -> ClaimedStep | None:
        """The step ``find`` names (a dialect's ``FindClaimedSuccessor`` or ``FindClaimedEntry``),
        if ``owner`` holds it."""
        step_id = await self._patiently(lambda: self._autocommit_on_connection(find))
        claimed = [] if step_id is None else await self._read_back_claimed([step_id], owner)
        return claimed[0] if claimed else None

    async def finish_flow(self, done: Completion, flow_id: int, final_state: str) -> bool:
        """Complete a flow's last step and the flow itself with ``final_state``, atomically.

        Returns False when nothing was written (lease lost, or the flow no longer live).
        """
        try:
            return await self.transact(
                lambda db: hot_path.finish(db, (done, flow_id, final_state)), self.finish_flow
            )
        except hot_path.NothingWritten:
            return False
