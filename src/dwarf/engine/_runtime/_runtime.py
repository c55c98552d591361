"""The running engine's shared state: config, shards, waiters, caches and stop signalling.

Operations and the dispatch loop both work through a ``Runtime``; the public ``Engine`` only
configures it, starts it and delegates to it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from dwarf._observability import GaugeSampler, build_metrics, build_tracing
from dwarf._scheduling import Protection
from dwarf._storage import ClaimedStep, FlowRow, KeyedBatcher, Lease, Store
from dwarf.engine._runtime._config import Config
from dwarf.engine._runtime._keys import Key, format_key, parse_key
from dwarf.engine._runtime._telemetry import read_gauges
from dwarf.engine._runtime._waiters import Waiters
from dwarf.engine._types import PeerNotifier
from dwarf.errors import BadRequestError, NotFoundError
from dwarf.workflow import FlowOutcome, Graph

__all__ = ["GRAPH_CACHE_SIZE", "Runtime"]

GRAPH_CACHE_SIZE = 4096

# A JSON-escaped NUL (an unescaped backslash, then u0000): a JSON column cannot hold it
# everywhere (docs/internals/storage.md, the NUL rows of the dialect differences).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class Runtime:
    """What every part of a started engine shares."""

    def __init__(
        self, config: Config, shards: list[Store], owner: str, protection: Protection
    ) -> None:
        self.config = config
        self.shards = shards
        self.owner = owner
        """This replica's claim identity (``lease_owner`` on claimed rows)."""
        self.waiters = Waiters()
        self.arrivals: KeyedBatcher[Any, Any] = KeyedBatcher()
        """Fan-in arrivals committed together, by (shard, spawn step)."""
        self.protection = protection
        """Admission by key: valves, limits and breakers (the Engine keeps it across restarts)."""
        self.log: logging.Logger = config.logger
        self.metrics = build_metrics(config.meter_provider)
        self.tracing = build_tracing(config.tracer_provider)
        self._gauges: GaugeSampler | None = None
        if self.metrics.enabled:
            for shard in shards:
                shard.on_transaction = self.metrics.transaction
        self._graphs: OrderedDict[str, Graph] = OrderedDict()
        self._validated: dict[str, tuple[Graph, str]] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Set by the dispatcher at startup; no-ops for an engine that dispatches nothing.
        self.request_refill: Callable[[], None] = lambda: None
        self.wake_in: Callable[[timedelta], None] = lambda delay: None
        self.wake_prober: Callable[[], None] = lambda: None
        self.peer_notifier: PeerNotifier | None = config.peer_notifier
        """Where signals for peers go: the host's notifier, or the database's (set at startup)."""
        self.queue_depth: Callable[[], int] = lambda: 0
        self.successor_lease: Callable[[Store], Lease | None] = lambda store: None
        """The lease under which a finishing step's worker may claim its successor as the
        advance inserts it (docs/internals/dispatch.md#d13), or None: leave it pending."""
        self.reserve_worker: Callable[[Store, str], Lease | None] = lambda store, token: None
        """An idle worker kept for the entry step (by token) of a flow being created started,
        and the lease to insert that step claimed under (D13); None: insert it pending."""
        self.deliver: Callable[[Store, str, ClaimedStep | None], None] = lambda *args: None
        """That create returned: its claimed entry goes to the kept worker (None: it failed)."""

    # --- shards and keys ----------------------------------------------------------------

    @property
    def num_shards(self) -> int:
        """How many shards are open."""
        return len(self.shards)

    def shard(self, index: int) -> Store:
        """Store ``index`` (1-based); an index outside the open shards is a 404."""
        if 1 <= index <= len(self.shards):
            return self.shards[index - 1]
        raise NotFoundError(f"shard {index} is not open")

    def random_shard(self) -> Store:
        """A uniformly random shard for a new root flow."""
        return random.choice(self.shards)

    def parse(self, text: str, kind: str, argument: str = "") -> tuple[Store, Key]:
        """Parse a flow/step/thread key and return its shard; ``argument`` names the caller's
        parameter in errors (``"<kind>_key"`` by default)."""
        key = parse_key(text, kind=kind, num_shards=self.num_shards, argument=argument)
        return self.shard(key.shard), key

    @staticmethod
    def flow_key(shard: Store, flow_id: int, token: str) -> str:
        """Render a flow key."""
        return format_key(shard.index, flow_id, token)

    # --- graphs: frozen at create, so a parsed copy can be cached forever -------------------

    def graph_of(self, flow: FlowRow) -> Graph:
        """The flow's frozen graph, parsed once per distinct graph text.

        Keyed by the JSON text itself: every flow of a workflow version shares one parsed (and
        frozen) graph, and a flow's text never changes, so the cache cannot go stale.
        """
        key = flow.graph
        graph = self._graphs.get(key)
        if graph is None:
            graph = Graph.from_json(key).freeze()
            self._graphs[key] = graph
            if len(self._graphs) > GRAPH_CACHE_SIZE:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        return graph

    def validated(self, graph: Graph) -> tuple[Graph, str]:
        """``graph`` validated and frozen, with its JSON text; validates each distinct graph once.

        Validation fills ``fanOutToFanIn``, so the returned text (what a flow freezes) is the
        validated form; the cache is keyed by the text the loader's graph had.
        """
        text = graph.to_json()
        known = self._validated.get(text)
        if known is not None:
            return known
        if _NUL_ESCAPE.search(text):
            raise BadRequestError(
                f"graph {graph.name!r}: a NUL character in a name, URL or expression "
                "cannot be stored"
            )
        graph.validate()  # on the host's graph: only it knows about marks held for absent tasks
        frozen_text = graph.to_json()
        frozen = Graph.from_json(frozen_text).freeze()
        self._validated[text] = (frozen, frozen_text)
        if len(self._validated) > GRAPH_CACHE_SIZE:
            self._validated.pop(next(iter(self._validated)))
        return frozen, frozen_text

    # --- observability ------------------------------------------------------------------

    def start_gauges(self) -> None:
        """Serve the observable gauges (docs/internals/observability.md#m4); at startup."""
        if self.metrics.enabled:
            self._gauges = GaugeSampler(
                lambda: read_gauges(self.shards, self.protection),
                lambda: self.queue_depth(),
                self.log,
            )
            self.metrics.observe(self._gauges)

    async def stop_gauges(self) -> None:
        """Stop answering gauge callbacks; before the shards close."""
        if self._gauges is not None:
            await self._gauges.close()

    # --- signalling ---------------------------------------------------------------------

    def doorbell(self, shard: Store, step_id: int) -> None:
        """A step became pending: claim it soon, and tell peers."""
        self.request_refill()
        notifier = self.peer_notifier
        if notifier is not None:
            self.spawn(notifier.enqueue(shard.index, step_id), "peer enqueue")

    def flow_stopped(self, flow_key: str, status: str, outcome: FlowOutcome | None = None) -> None:
        """A flow stopped: wake local waiters (with the outcome if known) and tell peers."""
        self.waiters.notify(flow_key, outcome)
        notifier = self.peer_notifier
        if notifier is not None:
            self.spawn(notifier.notify_status_change(flow_key, status), "peer status change")

    def notify_host(self, hostname: str, outcome: FlowOutcome) -> None:
        """Invoke the flow-stopped callback for a flow started with ``start_notify``."""
        callback = self.config.flow_stopped_callback
        if callback is not None and hostname:
            self.spawn(callback(hostname, outcome), "flow stopped callback")

    def spawn(self, coro: object, what: str) -> None:
        """Run ``coro`` in the background, logging (never raising) its failure."""

        async def guarded() -> None:
            try:
                await coro  # type: ignore[misc]
            except Exception:
                self.log.exception("%s failed", what)

        task = asyncio.get_running_loop().create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain_background(self) -> None:
        """Wait for background callbacks to finish (at shutdown)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
