"""Group commit: the same hot-path write of many flows, made at the same moment, as one batch.

One statement per step is the ceiling of a step-at-a-time engine on a CPU-bound host; what
breaks it is writing what many flows do at once in one statement (docs/internals/storage.md,
S12: PostgreSQL's array statements; a transaction of per-item statements saved commits but no
statements, and cost SQLite and MariaDB more than it saved).

A ``GroupCommit`` has one writer task, which writes the batches one at a time (S12a):

- The first item submitted after a quiet moment starts the writer, which runs once the event
  loop's current turn is over: the items submitted in that turn go in its first batch, and an
  idle engine waits no longer than that turn (there is no gather window).
- Items submitted while a batch is being written queue. When the batch returns, the writer
  hands out its results and writes everything queued as the next batch at once, in the same
  turn: no caller's task has to wake first to send it.
- A caller cancelled while its item is queued is left out of the batch; once its batch has
  been sent, the batch runs on without it (a batch must never be sent twice, S10).

Each item keeps its own fencing inside the batch (an item whose lease was lost writes nothing
and its neighbours still commit). A batch that fails as a whole is not retried as a batch: each
of its items is then written alone, so one bad item cannot fail its neighbours. A database that
is unavailable fails every item of the batch, as it would have failed each alone. An item
``alone`` picks (a dialect's batch statement may handle some items badly: PostgreSQL's arrays
of huge documents) never joins a batch: it is written at once with ``one``, beside whatever
batch is in flight, and its outcome (or error) is its own. Where a batch must stay under a
size (MySQL's packet), ``weight`` and ``capacity`` bound it: the writer takes items in order
while their weights sum to at most ``capacity`` (always the first), and leaves the rest queued
for the next batch.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from dwarf._storage._batcher import deliver
from dwarf.errors import UnavailableError

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


class _BatchFailedError(Exception):
    """A batch of several items failed as a whole: each item is written alone instead."""


class GroupCommit(Generic[T, R]):
    """Writes items with ``one`` when alone and ``many`` (one result per item) when several."""

    def __init__(
        self,
        one: Callable[[T], Awaitable[R]],
        many: Callable[[Sequence[T]], Awaitable[list[R]]],
        alone: Callable[[T], bool] | None = None,
        *,
        weight: Callable[[T], int] | None = None,
        capacity: int = 0,
    ) -> None:
        self._one = one
        self._many = many
        self._alone = alone
        self._weight = weight
        self._capacity = capacity
        self._queued: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, item: T) -> R:
        """Write ``item`` in the next batch (or alone, when picked) and return its result."""
        if self._alone is not None and self._alone(item):
            return await self._one(item)
        written: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued.append((item, written))
        if self._writer is None or self._writer.done():
            # A context of its own: a batch is no one caller's (its trace, its replay rules).
            self._writer = asyncio.create_task(self._write_queued(), context=contextvars.Context())
        try:
            return await written
        except _BatchFailedError:
            return await self._one(item)

    async def _write_queued(self) -> None:
        """Write what is queued, batch after batch, until nothing is."""
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queued:
                batch = self._next_batch()
                if batch:
                    deliver(batch, await self._outcome([item for item, _ in batch]))
                batch = []
        finally:
            self._writer = None
            if batch or self._queued:
                # Cancelled (the event loop is closing): a batch under way may have committed,
                # so its callers learn "unavailable"; what was never sent is written alone.
                deliver(batch, UnavailableError("the batch's writer was cancelled"))
                deliver(self._queued, _BatchFailedError("never sent"))
                self._queued = []

    def _next_batch(self) -> list[tuple[T, asyncio.Future[R]]]:
        """Take the next batch from the queue: all of it, or as much as ``capacity`` allows."""
        # A caller cancelled while queued cancelled its future: its item is not sent.
        live = [entry for entry in self._queued if not entry[1].done()]
        taken = len(live)
        if self._weight is not None:
            load = 0
            for index, (item, _) in enumerate(live):
                load += self._weight(item)
                if index and load > self._capacity:
                    taken = index
                    break
        self._queued = live[taken:]
        return live[:taken]

    async def _outcome(self, items: Sequence[T]) -> Sequence[R] | Exception:
        """Each item's result, or what failed them all (a lone item's own error, as is)."""
        try:
            if len(items) == 1:
                return [await self._one(items[0])]
            return await self._many(items)
        except UnavailableError as exc:
            return exc
        except Exception as exc:
            if len(items) == 1:
                return exc
            return _BatchFailedError(str(exc))
