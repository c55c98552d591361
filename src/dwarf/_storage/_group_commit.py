"""Group commit: the same hot-path write of many flows, made at the same moment, as one batch.

One statement per step is the ceiling of a step-at-a-time engine on a CPU-bound host; what
breaks it is writing what many flows do at once in one statement (docs/internals/storage.md,
S12: PostgreSQL's array statements; a transaction of per-item statements saved commits but no
statements, and cost SQLite and MariaDB more than it saved).
A ``GroupCommit`` writes the first item submitted after a quiet moment at once and alone (there
is no gather window, so an idle engine pays no latency); items submitted while a batch is being
written queue, and the next batch takes all of them. Batches therefore grow with the number of
writers waiting, and one kind of write has one batch in flight per store.

Each item keeps its own fencing inside the batch (an item whose lease was lost writes nothing
and its neighbours still commit). A batch that fails as a whole is not retried as a batch: each
of its items is then written alone, so one bad item cannot fail its neighbours. A database that
is unavailable fails every item of the batch, as it would have failed each alone. An item
``alone`` picks (a dialect's batch statement may handle some items badly: PostgreSQL's arrays
of huge documents) is written alone even while others are queued, beside their batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from dwarf._storage._batcher import BatchAbandonedError, KeyedBatcher
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
    ) -> None:
        self._one = one
        self._many = many
        self._alone = alone
        self._batcher: KeyedBatcher[T, R] = KeyedBatcher()

    async def write(self, item: T) -> R:
        """Write ``item`` in the next batch and return its result."""
        try:
            return await self._batcher.submit(None, item, self._run)
        except (_BatchFailedError, BatchAbandonedError):
            return await self._one(item)

    async def _run(self, items: Sequence[T]) -> Sequence[R]:
        if len(items) == 1:
            return [await self._one(items[0])]
        solo = (
            [] if self._alone is None else [i for i, item in enumerate(items) if self._alone(item)]
        )
        try:
            if not solo:
                return await self._many(items)
            return await self._beside(items, set(solo))
        except UnavailableError:
            raise
        except Exception as exc:
            raise _BatchFailedError(str(exc)) from exc

    async def _beside(self, items: Sequence[T], solo: set[int]) -> list[R]:
        """The ``solo`` items each alone, the others as one batch, all at once."""
        grouped = [item for i, item in enumerate(items) if i not in solo]
        writes: list[Awaitable[list[R]]] = [self._group(grouped)]
        writes += [self._group([items[i]]) for i in sorted(solo)]
        results: list[list[R]] = []
        for outcome in await asyncio.gather(*writes, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
            results.append(outcome)
        written = iter(results[0])
        alone = iter(result[0] for result in results[1:])
        return [next(alone) if i in solo else next(written) for i in range(len(items))]

    async def _group(self, items: Sequence[T]) -> list[R]:
        if not items:
            return []
        if len(items) == 1:
            return [await self._one(items[0])]
        return await self._many(items)
