"""A built-in ``PeerNotifier`` that carries replica signals through the shards' own databases.

Replicas that share databases need no message bus to wake each other: where the database has a
publish/subscribe channel (PostgreSQL's LISTEN/NOTIFY), ``Engine.with_database_signals()``
makes every replica publish its signals there and listen on every shard
(docs/internals/liveness.md#signals). The poll timer stays the safety net: a lost signal, or a
listener whose connection dropped, costs latency, never a step.

Why this shape:

* Signals are coalesced per shard for a moment (``FLUSH_DELAY``): a burst of completions costs one
  NOTIFY, not one per step; doorbells for one shard collapse into one "look for work".
* A replica ignores its own signals (the database echoes them to every listener): the engine
  always applies a signal locally first, and applying it twice would double a valve cut.
* Lines are ``kind \\t owner \\t fields…`` and a payload stays under PostgreSQL's 8,000-byte
  limit; a line that cannot be parsed is dropped (logged at DEBUG).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Protocol

from dwarf._storage import Store
from dwarf.engine._runtime._runtime import Runtime
from dwarf.errors import BadRequestError

__all__ = ["CHANNEL", "FLUSH_DELAY", "DatabaseSignals", "SignalHandler"]

CHANNEL = "dwarf_signals"
"""The channel every replica listens on, in each shard's database."""

FLUSH_DELAY = 0.002
"""Seconds signals wait to be coalesced into one message."""

_MAX_PAYLOAD = 7_000
_RECONNECT = (0.25, 5.0)


class SignalHandler(Protocol):
    """What receives a peer's signals: the ``Engine``'s ``handle_*`` methods."""

    async def handle_enqueue(self, shard: int, step_id: int) -> None:
        """A peer made work pending on ``shard``."""
        ...

    async def handle_sync_valve(self, task_name: str, w_cong: int, t_cong: datetime) -> None:
        """A peer cut a valve."""
        ...

    async def handle_trip_breaker(self, task_name: str) -> None:
        """A peer tripped a breaker."""
        ...

    async def handle_notify_status_change(self, flow_key: str, status: str) -> None:
        """A peer saw a flow stop."""
        ...


class DatabaseSignals:
    """A ``PeerNotifier`` over the shards' databases, with one listener per shard."""

    def __init__(
        self, shards: list[Store], owner: str, handler: SignalHandler, log: logging.Logger
    ) -> None:
        """Signals for ``shards``; ``owner`` is this replica's identity (its claim owner)."""
        unable = [
            f"{shard.index} ({shard.dialect})" for shard in shards if not shard.carries_signals
        ]
        if unable:
            raise BadRequestError(
                "with_database_signals needs databases with a publish/subscribe channel; "
                f"shard {', '.join(unable)} has none (use with_peer_notifier instead)"
            )
        self._shards = {shard.index: shard for shard in shards}
        self._owner = owner
        self._handler = handler
        self._log = log
        self._pending: dict[int, list[str]] = {}
        self._flushing: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()

    @classmethod
    def attach(cls, rt: Runtime, handler: SignalHandler) -> DatabaseSignals:
        """Make these signals ``rt``'s peer notifier and start listening; 400 if impossible."""
        if rt.config.peer_notifier is not None:
            raise BadRequestError("with_database_signals and with_peer_notifier are exclusive")
        signals = cls(rt.shards, rt.owner, handler, rt.log)
        rt.peer_notifier = signals
        signals.start()
        return signals

    def start(self) -> None:
        """Listen on every shard."""
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(shard), name=f"dwarf-signals-{shard.index}")
            for shard in self._shards.values()
        ]

    async def stop(self) -> None:
        """Stop listening; signals still queued are dropped (peers poll)."""
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- outbound (the PeerNotifier protocol) -------------------------------------------------

    async def enqueue(self, shard: int, step_id: int) -> None:
        """Tell peers that work is pending on ``shard`` (coalesced: one wake per shard).

        Shard 0 is no shard in particular (a completion freed capacity): it travels on the
        first shard, which every peer listens on.
        """
        del step_id
        self._send(shard if shard in self._shards else self._first, "e", str(shard), dedupe=True)

    async def sync_valve(self, task_name: str, w_cong: int, t_cong: datetime) -> None:
        """Tell peers about a valve cut."""
        self._send(self._first, "v", task_name, str(w_cong), t_cong.isoformat())

    async def trip_breaker(self, task_name: str) -> None:
        """Tell peers a breaker tripped."""
        self._send(self._first, "b", task_name)

    async def notify_status_change(self, flow_key: str, status: str) -> None:
        """Tell peers a flow stopped (wakes their waiters)."""
        shard = int(flow_key.split("-", 1)[0]) if flow_key[:1].isdigit() else self._first
        self._send(shard if shard in self._shards else self._first, "s", flow_key, status)

    @property
    def _first(self) -> int:
        return min(self._shards)

    def _send(self, shard: int, kind: str, *fields: str, dedupe: bool = False) -> None:
        if any("\t" in f or "\n" in f for f in fields):
            return  # keys never hold these; a field that does is not worth corrupting a line
        line = "\t".join((kind, self._owner, *fields))
        queue = self._pending.setdefault(shard, [])
        if dedupe and line in queue:
            return
        queue.append(line)
        if shard not in self._flushing:
            self._flushing.add(shard)
            task = asyncio.get_running_loop().create_task(self._flush(shard))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _flush(self, shard: int) -> None:
        await asyncio.sleep(FLUSH_DELAY)
        self._flushing.discard(shard)
        lines = self._pending.pop(shard, [])
        store = self._shards[shard]
        payload: list[str] = []
        size = 0
        for line in [*lines, ""]:
            if payload and (not line or size + len(line) + 1 > _MAX_PAYLOAD):
                try:
                    await store.signal(CHANNEL, "\n".join(payload))
                except Exception as exc:
                    self._log.warning("Sending replica signals on shard %d: %s", shard, exc)
                    return
                payload, size = [], 0
            if line:
                payload.append(line)
                size += len(line) + 1

    # --- inbound -------------------------------------------------------------------------

    async def _listen(self, shard: Store) -> None:
        delay = _RECONNECT[0]
        while True:
            try:
                async for payload in shard.signals(CHANNEL):
                    delay = _RECONNECT[0]
                    for line in payload.split("\n"):
                        await self._receive(line)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._log.warning(
                    "Listening for replica signals on shard %d stopped (polling meanwhile): %s",
                    shard.index,
                    exc,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT[1])
            # Whatever was signalled while deaf: look for work once back.
            await self._handler.handle_enqueue(shard.index, 0)

    async def _receive(self, line: str) -> None:
        parts = line.split("\t")
        if len(parts) < 3 or parts[1] == self._owner:
            return
        kind, fields = parts[0], parts[2:]
        try:
            if kind == "e":
                await self._handler.handle_enqueue(int(fields[0]), 0)
            elif kind == "v":
                when = datetime.fromisoformat(fields[2])
                await self._handler.handle_sync_valve(fields[0], int(fields[1]), when)
            elif kind == "b":
                await self._handler.handle_trip_breaker(fields[0])
            elif kind == "s":
                await self._handler.handle_notify_status_change(fields[0], fields[1])
        except (IndexError, ValueError, BadRequestError) as exc:
            self._log.debug("Dropped a malformed replica signal %r: %s", line, exc)
