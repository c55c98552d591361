"""Group commit by key: work submitted while a batch of the same key runs goes in the next one.

The first submission of a key runs at once, alone (no latency when nothing else is waiting).
Submissions that arrive while it runs queue up; when it finishes, the first of them runs every
queued item as one batch, and the others find their results ready. A batch that raises hands
the exception to each of its submitters, who then do their work alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["BatchAbandonedError", "KeyedBatcher"]

T = TypeVar("T")
R = TypeVar("R")


class BatchAbandonedError(Exception):
    """The task running a batch was cancelled before the batch ended."""


@dataclass(eq=False)
class _Key(Generic[T, R]):
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    queued: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    users: int = 0


class KeyedBatcher(Generic[T, R]):
    """Runs the items submitted under one key in batches, one batch at a time per key."""

    def __init__(self) -> None:
        self._keys: dict[Hashable, _Key[T, R]] = {}

    async def submit(
        self, key: Hashable, item: T, run: Callable[[Sequence[T]], Awaitable[Sequence[R]]]
    ) -> R:
        """Run ``item`` in a batch of ``key`` (``run`` returns one result per item, in order)."""
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
        mine: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        state.queued.append((item, mine))
        state.users += 1
        try:
            async with state.lock:
                if not mine.done():
                    batch, state.queued = state.queued, []
                    try:
                        results = await run([queued for queued, _ in batch])
                    except BaseException as exc:
                        # The others learn it too (a cancelled runner as an error of its own),
                        # and each does its work alone; the runner raises it itself.
                        failure = exc if isinstance(exc, Exception) else BatchAbandonedError()
                        for _, future in batch:
                            if future is not mine:
                                future.set_exception(failure)
                        raise
                    for (_, future), result in zip(batch, results, strict=True):
                        future.set_result(result)
        finally:
            state.users -= 1
            if not state.users:
                del self._keys[key]
        return mine.result()
