"""Group commit by key: work submitted while a batch of the same key runs goes in the next one.

The first submission of a key runs at once, alone (no latency when nothing else is waiting).
Submissions that arrive while it runs queue up; when it finishes, its runner hands the turn to
the first of them, which runs every queued item as one batch. A batch that raises hands the
exception to each of its submitters, who then do their work alone.

Each submitter waits on a future of its own, which its batch's runner resolves: the whole batch
learns its results in one turn of the event loop, and the next batch starts in the next. A
lock did this before, and its waiters left one by one, each in a turn of its own, so the next
batch could start only after as many turns as the last batch had items (docs/internals/storage.md,
S12).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["BatchAbandonedError", "KeyedBatcher", "deliver"]

T = TypeVar("T")
R = TypeVar("R")

_YOUR_TURN: Any = object()
"""What a queued submitter's future holds when it is to run the next batch."""


def _handed_the_turn(future: asyncio.Future[Any]) -> bool:
    return (
        future.done()
        and not future.cancelled()
        and future.exception() is None
        and future.result() is _YOUR_TURN
    )


class BatchAbandonedError(Exception):
    """The task running a batch was cancelled before the batch ended."""


def deliver(
    batch: Sequence[tuple[Any, asyncio.Future[R]]],
    outcome: Sequence[R] | BaseException,
    skip: asyncio.Future[R] | None = None,
) -> None:
    """Settle the batch's waiting futures (but ``skip``): each its result, or all the failure.

    Shared with ``GroupCommit``'s writer, whose batches settle their callers the same way.

    A failure that is not an ``Exception`` (a cancellation) reaches them as
    ``BatchAbandonedError``: their batch was cut off, not refused.
    """
    if isinstance(outcome, BaseException):
        failure = outcome if isinstance(outcome, Exception) else BatchAbandonedError()
        for _, future in batch:
            if future is not skip and not future.done():
                future.set_exception(failure)
        return
    for (_, future), result in zip(batch, outcome, strict=True):
        if future is not skip and not future.done():
            future.set_result(result)


class _Key(Generic[T, R]):
    """A key's queued submissions and whether a batch of it is running."""

    __slots__ = ("queued", "running")

    def __init__(self) -> None:
        self.queued: list[tuple[T, asyncio.Future[R]]] = []
        self.running = False


class KeyedBatcher(Generic[T, R]):
    """Runs the items submitted under one key in batches, one batch at a time per key."""

    def __init__(self) -> None:
        self._keys: dict[Hashable, _Key[T, R]] = {}

    async def submit(
        self,
        key: Hashable,
        item: T,
        run: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
    ) -> R:
        """Run ``item`` in a batch of ``key`` (``run`` returns one result per item, in order).

        A cancelled runner abandons its batch, and the others each do their work alone
        (``BatchAbandonedError``).
        """
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
        mine: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        state.queued.append((item, mine))
        if state.running:
            try:
                outcome = await mine
            except asyncio.CancelledError:
                self._drop(state, mine)
                if _handed_the_turn(mine):
                    # Cancelled as the turn reached it: its item never ran; pass the turn on.
                    self._hand_over(key, state)
                raise
            if outcome is not _YOUR_TURN:
                return outcome
        state.running = True
        batch, state.queued = state.queued, []
        try:
            results = await run([queued for queued, _ in batch])
        except BaseException as exc:
            # The others learn it too (a cancelled runner as an error of its own), and each
            # does its work alone; the runner raises it itself.
            deliver(batch, exc, skip=mine)
            raise
        finally:
            self._hand_over(key, state)
        deliver(batch, results, skip=mine)
        return results[[future for _, future in batch].index(mine)]

    @staticmethod
    def _drop(state: _Key[T, R], future: asyncio.Future[R]) -> None:
        """Take a cancelled submitter's item out of the queue (it was in no batch yet)."""
        state.queued = [entry for entry in state.queued if entry[1] is not future]

    def _hand_over(self, key: Hashable, state: _Key[T, R]) -> None:
        """The batch ended: the first queued submitter runs the next, or the key goes idle."""
        while state.queued:
            future = state.queued[0][1]
            if not future.done():
                future.set_result(_YOUR_TURN)
                state.running = True
                return
            state.queued.pop(0)  # cancelled while queued
        state.running = False
        if self._keys.get(key) is state:
            del self._keys[key]
