"""The dispatch loop of one replica: a refiller that claims batches, workers, and a poll timer.

Design (docs/internals/dispatch.md, rules D1-D13):
- The refiller scans the best due priority band on every shard, plans a batch with weighted
  fairness across fairness keys (``plan_batch``), and claims the whole batch with one optimistic
  UPDATE per shard (``ClaimSteps``, then ``SelectClaimedSteps`` to read back what it won). It
  claims only as many steps as there are idle workers, so a claimed step never waits long for a
  worker and its lease (time budget + 30 s) is not eaten by queueing.
- Workers take claimed steps and run them; no connection is held while a task runs. A worker
  may run next the successor its step's advance claimed for it (D13, ``_successor_lease``).
- Refill requests coalesce: any number of doorbells trigger at most one pending scan.
- Protection (docs/internals/protection.md) admits each planned step by its key: a refused
  step stays pending in place, and a refill is timed for when its key admits again.
- The poll timer recovers expired leases, learns when the next delayed step becomes due, and
  requests a refill; doorbells and ``wake_in`` shorten its sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from dwarf._scheduling import Candidate, RefillSignal, pick_band, plan_batch
from dwarf._storage import (
    ClaimedStep,
    ClaimedStepRow,
    DueStepRow,
    FlowRow,
    Lease,
    Store,
)
from dwarf.engine._dispatch._leases import hand_back, hand_back_patiently, holds
from dwarf.engine._dispatch._poll_timer import PollTimer
from dwarf.engine._protection import Prober
from dwarf.engine._runtime._config import LEASE_MARGIN
from dwarf.engine._runtime._runtime import Runtime
from dwarf.engine._runtime._telemetry import Planned, band_claimed, refill_planned
from dwarf.engine._step._events import step_scope
from dwarf.engine._step._execute import process_step
from dwarf.engine._step._poison import engine_fault
from dwarf.engine._step._step_input import SharedInputs
from dwarf.errors import UnavailableError

__all__ = ["Dispatcher"]

LOWEST_BAND = -(2**31)
DRAINED_TRUST = 0.1
"""Seconds a scan that found nothing due stands for the database without another scan (D14)."""
MAX_LOST_ROUNDS = 3

Claimed = tuple[Store, ClaimedStepRow, FlowRow | None]
T = TypeVar("T")


class Dispatcher:
    """Claims due steps and runs them on ``workers`` asyncio workers."""

    def __init__(self, rt: Runtime, workers: int, *, shutdown_grace: float = 10.0) -> None:
        self._rt = rt
        self._workers = workers
        self._grace = shutdown_grace
        self._queue: asyncio.Queue[Claimed] = asyncio.Queue()
        self._inputs = SharedInputs()
        """Fan-outs' shared inputs, decoded once per replica for every branch it claims."""
        self._idle = workers
        self._reserved = 0
        """Idle workers kept for entry steps whose creates are under way (D13)."""
        self._entries: set[str] = set()
        """The tokens of those entry steps."""
        self._unreserved = asyncio.Event()
        """Set while no worker is kept for an entry (``stop`` waits for it)."""
        self._unreserved.set()
        self._signal = RefillSignal()
        self._drained_at: float | None = None
        """When the last scan that found nothing due began (loop time); None: it found some."""
        self._rings = 0
        """Refill requests that said work may be due (doorbells, polls, timers), ever."""
        self._loop = asyncio.get_running_loop()
        self._poll_timer = PollTimer(rt, self._request_refill)
        self._rng = random.Random()
        self._stopping = False
        self._service: list[asyncio.Task[None]] = []
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()
        self._margin_ms = int(LEASE_MARGIN.total_seconds() * 1000)
        self._lease = Lease(rt.owner, self._margin_ms)
        self._refill_timer: asyncio.TimerHandle | None = None
        self._prober = Prober(rt)
        # A band per shard is not the best band over all shards (D6): only a one-shard engine
        # whose store has the statement claims whole bands (D12).
        shards = rt.shards
        self._band_store = shards[0] if len(shards) == 1 and shards[0].claims_due_bands else None

    def start(self) -> None:
        """Start the refiller, the poll timer and the workers."""
        self._rt.request_refill = self._request_refill
        self._rt.queue_depth = self._queue.qsize
        self._rt.wake_in = self._poll_timer.wake_in
        self._rt.successor_lease = self._successor_lease
        self._rt.reserve_worker = self._reserve_worker
        self._rt.deliver = self._deliver
        if self._workers <= 0:
            return
        self._prober.start()
        # The refiller first: ``stop`` lets it finish a claim in progress (``_settle_refill``).
        self._service = [
            self._loop.create_task(self._refiller(), name="dwarf-refiller"),
            self._loop.create_task(
                self._poll_timer.run(lambda: self._stopping), name="dwarf-poller"
            ),
        ]
        self._worker_tasks = [
            self._loop.create_task(self._worker(), name=f"dwarf-worker-{i}")
            for i in range(self._workers)
        ]

    async def stop(self) -> None:
        """Stop claiming, let running steps finish (bounded), and hand back unstarted claims."""
        self._stopping = True
        if self._refill_timer is not None:
            self._refill_timer.cancel()
        await self._prober.stop()
        await self._settle_refill()
        await self._settle_reservations()
        for task in self._service:
            task.cancel()
        await asyncio.gather(*self._service, return_exceptions=True)
        # Idle workers wait on the queue: cancel them; busy ones get the grace period.
        for task in self._worker_tasks:
            if task not in self._busy:
                task.cancel()
        if self._busy:
            await asyncio.wait(self._busy, timeout=self._grace)
        for task in self._worker_tasks:
            task.cancel()
        # A task that swallows cancellation must not hang shutdown: its step is left to lease
        # recovery (and the fenced writes keep a late finish harmless).
        stuck: set[asyncio.Task[None]] = set()
        if self._worker_tasks:
            _, stuck = await asyncio.wait(self._worker_tasks, timeout=5.0)
        if stuck:
            self._rt.log.error("%d worker(s) ignored cancellation at shutdown", len(stuck))
        await self._release_unstarted()

    async def _settle_refill(self) -> None:
        """Let a refill in progress finish rather than cancel it (bounded by the grace period).

        A claim is autocommitted: cancelled after its UPDATE, the steps it won would never reach
        the queue, so neither run nor be handed back, and stay leased to this stopped replica
        until their leases expire (the time budget plus the margin).
        """
        if not self._service:
            return
        refiller = self._service[0]
        self._signal.request()  # wakes an idle refiller, which then sees ``_stopping`` and ends
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._grace):
                await asyncio.shield(refiller)

    async def _settle_reservations(self) -> None:
        """Let creates that claim an entry for a kept worker return (bounded by the grace period).

        What they claimed then reaches the queue, and is handed back with the rest of it
        (``_release_unstarted``) instead of staying leased to this stopped replica.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._grace):
                await self._unreserved.wait()

    async def _release_unstarted(self) -> None:
        while not self._queue.empty():
            shard, row, _ = self._queue.get_nowait()
            # Protection outlives a restart: a step never run must stop counting as running.
            self._rt.protection.release(shard.index, row.step_id)
            with contextlib.suppress(Exception):
                await hand_back(shard, row)

    # --- workers ------------------------------------------------------------------------

    async def _worker(self) -> None:
        current = asyncio.current_task()
        assert current is not None
        while not self._stopping:
            shard, row, flow = await self._queue.get()
            self._idle -= 1
            self._busy.add(current)
            try:
                await self._run_chain(shard, row, flow)
            finally:
                self._busy.discard(current)
                self._idle += 1
                if not self._stopping and not self._drained():
                    self._signal.request()

    async def _run_chain(self, shard: Store, row: ClaimedStepRow, flow: FlowRow | None) -> None:
        """Run a claimed step, then each successor its advance claimed for this worker (D13)."""
        step: ClaimedStep | None = ClaimedStep(row, flow)
        while step is not None:
            current = step.row
            try:
                step = await self._run(shard, current, step.flow)
            finally:
                self._rt.protection.release(shard.index, current.step_id)
            if step is not None and self._stopping:
                # Stopping: the successor goes back to pending instead of running here.
                self._rt.protection.release(shard.index, step.row.step_id)
                with contextlib.suppress(Exception):
                    await hand_back(shard, step.row)
                return

    def _successor_lease(self, shard: Store) -> Lease | None:
        """The lease for a successor a finishing step's worker may claim and run next (D13).

        Only while the dispatcher runs, on a store with the statement, when no step due
        elsewhere waits for this worker: every claimed step in the queue has an idle worker not
        kept for an entry, and so does a step due in the database, unless a scan a moment ago
        found none (D14); and with protection restricting nothing (as for D12).
        """
        if not shard.claims_successors:
            return None
        return self._lease_if_free(spare=0 if self._drained() else 1)

    def _lease_if_free(self, spare: int) -> Lease | None:
        """The lease, if ``spare`` idle workers remain once the queue's and the kept are served."""
        if (
            self._stopping
            or self._idle < self._queue.qsize() + self._reserved + spare
            or not self._rt.protection.unrestricted(datetime.now(UTC))
        ):
            return None
        return self._lease

    def _reserve_worker(self, shard: Store, entry_token: str) -> Lease | None:
        """Keep an idle worker for the entry step of a flow being created started (D13).

        On the same terms as ``_successor_lease``; the worker is kept until ``_deliver``, so
        concurrent creates never claim more entries than there are idle workers (D5).
        """
        lease = self._lease_if_free(spare=1) if shard.claims_entries else None
        if lease is not None:
            self._reserved += 1
            self._unreserved.clear()
            self._entries.add(entry_token)
        return lease

    def _deliver(self, shard: Store, entry_token: str, claimed: ClaimedStep | None) -> None:
        """The create of a reserved entry returned: queue the entry it claimed (None: failed)."""
        self._reserved -= 1
        self._entries.discard(entry_token)
        if not self._reserved:
            self._unreserved.set()
        if claimed is None:
            return
        row = claimed.row
        # Queued even while stopping: ``stop`` waits for the creates under way, then hands back
        # what the queue holds.
        self._rt.protection.commit(row.task_name, shard.index, row.step_id, datetime.now(UTC))
        self._queue.put_nowait((shard, row, claimed.flow))

    async def _run(
        self, shard: Store, row: ClaimedStepRow, flow: FlowRow | None
    ) -> ClaimedStep | None:
        try:
            with step_scope(self._rt, shard, row, flow):
                return await process_step(self._rt, shard, row, flow, self._inputs)
        except asyncio.CancelledError:
            raise
        except UnavailableError as exc:
            # An outage outlasted the store's retries: not the step's fault, so not counted.
            self._rt.log.warning(
                "Database unavailable processing step %s on shard %s: %s",
                row.step_id,
                shard.index,
                exc,
            )
            await hand_back_patiently(shard, row, lambda: self._stopping)
            self._poll_timer.wake_in(timedelta(seconds=1))
        except Exception as exc:
            # Counted on the step: handed back to run again soon, or (a poison step) failed.
            await engine_fault(self._rt, shard, row, flow, exc)
        return None

    # --- refiller -----------------------------------------------------------------------

    def _request_refill(self) -> None:
        """Work may be due that no scan has seen (a doorbell, a poll, a timer): scan again."""
        self._rings += 1
        self._drained_at = None
        self._signal.request()

    def _drained(self) -> bool:
        """Whether a scan found nothing due a moment ago, with no request since (D14)."""
        at = self._drained_at
        return at is not None and self._loop.time() - at < DRAINED_TRUST

    async def _refiller(self) -> None:
        while not self._stopping:
            await self._signal.wait()
            try:
                await self._fill()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._rt.log.exception("Refilling candidate cache")
                self._poll_timer.wake_in(timedelta(seconds=1))

    async def _fill(self) -> None:
        if self._drained():
            return  # a freed worker's request, answered by a scan a moment ago (D14)
        lost_rounds = 0
        while not self._stopping:
            wanted = self._idle - self._queue.qsize() - self._reserved
            if wanted <= 0:
                return
            began, rings = self._loop.time(), self._rings
            claimed, planned, nothing_due = await self._claim(wanted)
            for item in claimed:
                self._queue.put_nowait(item)
            # A request during the scan may be for a step it missed: its own refill decides.
            self._drained_at = began if nothing_due and rings == self._rings else None
            if planned < wanted:
                return  # nothing more is due in the best band
            if len(claimed) < planned:
                # Peers won some of the planned steps: scan again for the rest, a few times,
                # rather than idling until the next poll while work is due.
                lost_rounds += 1
                if lost_rounds > MAX_LOST_ROUNDS:
                    self._poll_timer.wake_in(timedelta(milliseconds=50))
                    return

    async def _claim(self, wanted: int) -> tuple[list[Claimed], int, bool]:
        """Plan and claim up to ``wanted`` due steps: (what this replica won, how many planned,
        whether nothing at all was due).

        Bands are strict, except that a band whose steps protection refused in part or in whole
        lends the unused capacity to the next band (docs/internals/protection.md#admission).
        """
        above = LOWEST_BAND
        limit = max(4 * wanted, 64)
        shards = self._rt.shards
        protection = self._rt.protection
        now = datetime.now(UTC)
        if self._band_store is not None and protection.unrestricted(now):
            whole = await self._claim_band(self._band_store, wanted, now)
            if whole:
                return whole, len(whole), False
        batch: list[Candidate] = []
        planned: list[Planned] = []
        refused = False
        while len(batch) < wanted:
            scans = await _on_each([_scan(shard, above, limit) for shard in shards])
            band = pick_band(rows[0].priority if rows else None for rows in scans)
            if band is None:
                break
            candidates = [
                _candidate(shard, row)
                for shard, rows in zip(shards, scans, strict=True)
                for row in rows
                if row.priority == band
            ]
            plan = plan_batch(
                candidates,
                wanted - len(batch),
                admit=lambda c: protection.admit(c.task_name, c.shard, c.step_id, now),
                commit=lambda c: protection.commit(c.task_name, c.shard, c.step_id, now),
                rng=self._rng,
            )
            batch.extend(plan.batch)
            planned.append((band, scans, plan))
            if not plan.skipped:
                break
            refused = True
            above = band
        if refused:
            self._refill_at(protection.next_admission(now))
        mine = await self._claim_batch(batch) if batch else []
        refill_planned(self._rt, planned, mine)
        return mine, len(batch), not planned

    async def _claim_band(self, shard: Store, wanted: int, now: datetime) -> list[Claimed]:
        """Claim the due band whole when it fits ``wanted`` (D12): no scan, no plan.

        Planning would take every step of such a band: protection admits everything, and
        fairness has nothing to share out when everyone is served.
        """
        protection = self._rt.protection
        claims = await shard.claim_due_band(
            wanted,
            self._rt.owner,
            self._margin_ms,
            lambda row: holds(protection, self._entries, shard.index, row),
        )
        for claim in claims:
            protection.commit(claim.step.row.task_name, shard.index, claim.step.row.step_id, now)
        band_claimed(self._rt, claims)
        return [(shard, claim.step.row, claim.step.flow) for claim in claims]

    async def _claim_batch(self, batch: list[Candidate]) -> list[Claimed]:
        """Claim ``batch``; protection releases what a peer won first."""
        by_shard: dict[int, list[int]] = {}
        for candidate in batch:
            by_shard.setdefault(candidate.shard, []).append(candidate.step_id)
        try:
            won = await _on_each(
                [self._claim_on(self._rt.shard(index), ids) for index, ids in by_shard.items()]
            )
        except BaseException:
            for candidate in batch:  # nothing of the batch reached a worker
                self._rt.protection.release(candidate.shard, candidate.step_id)
            raise
        claimed = {(item[0].index, item[1].step_id): item for group in won for item in group}
        mine: list[Claimed] = []
        for candidate in batch:
            item = claimed.get((candidate.shard, candidate.step_id))
            if item is None:
                self._rt.protection.release(candidate.shard, candidate.step_id)
            else:
                mine.append(item)
        return mine

    def _refill_at(self, when: datetime | None) -> None:
        """Request a refill at ``when`` (the soonest a refused key admits again)."""
        if when is None:
            return
        at = self._loop.time() + max((when - datetime.now(UTC)).total_seconds(), 0.005)
        if self._refill_timer is not None and self._refill_timer.when() <= at:
            return
        if self._refill_timer is not None:
            self._refill_timer.cancel()
        self._refill_timer = self._loop.call_at(at, self._timed_refill)

    def _timed_refill(self) -> None:
        self._refill_timer = None
        self._request_refill()

    async def _claim_on(self, shard: Store, step_ids: list[int]) -> list[Claimed]:
        won = await shard.claim(step_ids, self._rt.owner, self._margin_ms)
        return [(shard, claimed.row, claimed.flow) for claimed in won]


async def _on_each(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``asyncio.gather`` of one call per shard, without wrapping a lone call in a task.

    Most deployments have one shard, and a task per claim costs a loop round trip for nothing.
    """
    if len(calls) == 1:
        return [await calls[0]]
    return list(await asyncio.gather(*calls))


async def _scan(shard: Store, above: int, limit: int) -> list[DueStepRow]:
    return await shard.read(lambda db: db.select_due_band(above_priority=above, row_limit=limit))


def _candidate(shard: Store, row: DueStepRow) -> Candidate:
    return Candidate(
        step_id=row.step_id,
        shard=shard.index,
        task_name=row.task_name,
        fairness_key=row.fairness_key,
        fairness_weight=row.fairness_weight,
        priority=row.priority,
        age_ms=float(row.age_ms),
    )
