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
of huge documents) never joins a batch: it is written at once with ``one``, beside whatever
batch is in flight, and its outcome (or error) is its own.
"""

from __future__ import annotations

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
    """Writes items with ``one`` when alone and ``many`` (one result per item) when several.

    ``shielded``: a caller's cancellation never cuts its batch off (``KeyedBatcher.submit``).
    """

    def __init__(
        self,
        one: Callable[[T], Awaitable[R]],
        many: Callable[[Sequence[T]], Awaitable[list[R]]],
        alone: Callable[[T], bool] | None = None,
        *,
        shielded: bool = False,
    ) -> None:
        self._one = one
        self._many = many
        self._alone = alone
        self._shielded = shielded
        self._batcher: KeyedBatcher[T, R] = KeyedBatcher()

    async def write(self, item: T) -> R:
        """Write ``item`` in the next batch (or alone, when picked) and return its result."""
        if self._alone is not None and self._alone(item):
            return await self._one(item)
        try:
            return await self._batcher.submit(None, item, self._run, shielded=self._shielded)
        except (_BatchFailedError, BatchAbandonedError):
            return await self._one(item)

    async def _run(self, items: Sequence[T]) -> Sequence[R]:
        if len(items) == 1:
            return [await self._one(items[0])]
        try:
            return await self._many(items)
        except UnavailableError:
            raise
        except Exception as exc:
            raise _BatchFailedError(str(exc)) from exc
