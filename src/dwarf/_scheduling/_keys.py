"""Which protection key a step answers to, and the bounded table of per-key state.

A task names the key it was refused under on its error (``err_backpressure(..., key="acme")``);
without one the key is the task's own name. Before a step runs the engine cannot know what it
will call, so the key used to *admit* a step is resolved from what was learned
(docs/internals/protection.md#keys):

1. a step that was itself refused under a key answers to that key (remembered per step, bounded);
2. else a task whose refusals all named one key answers to it (a task calling one host);
3. else (never refused, or refused under several keys: per-account keys) the task's own name.

The table is bounded: at most ``max_keys`` keys. A new key beyond that evicts the least recently
used *idle* key (no static limit, nothing running, breaker closed); when none is idle the new key
folds into its task's own key, so a host minting a key per request cannot exhaust memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from datetime import datetime

from dwarf._scheduling._pacer import Pacer
from dwarf._scheduling._valve import Valve

__all__ = ["MAX_KEYS", "MAX_STEP_KEYS", "KeyState", "KeyTable"]

MAX_KEYS = 1024
"""Default bound of distinct protection keys per replica."""

MAX_STEP_KEYS = 10_000
"""Default bound of remembered per-step keys (steps refused under a key that is not their task)."""

_MIXED = ""  # a task whose refusals named several keys: resolved per step, never per task


@dataclass
class KeyState:
    """Everything kept for one key on this replica."""

    valve: Valve = field(default_factory=Valve)
    cuts: int = 0
    hold_until: datetime | None = None
    pacer: Pacer | None = None
    concurrency_limit: int | None = None
    running: int = 0
    tasks: set[str] = field(default_factory=set)
    """Tasks seen refused or tripped under this key (what a breaker trip parks)."""

    def configured(self) -> bool:
        """Whether the host set a static limit on this key (such keys are never evicted)."""
        return self.pacer is not None or self.concurrency_limit is not None


class KeyTable:
    """Per-key state, the task and step key memory, and the LRU bound over all three."""

    def __init__(self, *, max_keys: int = MAX_KEYS, max_step_keys: int = MAX_STEP_KEYS) -> None:
        """An empty table holding at most ``max_keys`` keys and ``max_step_keys`` step keys."""
        self._max_keys = max(1, max_keys)
        self._max_step_keys = max(1, max_step_keys)
        self._states: OrderedDict[str, KeyState] = OrderedDict()
        self._task_keys: OrderedDict[str, str] = OrderedDict()
        self._step_keys: OrderedDict[tuple[int, int], str] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._states

    def items(self) -> list[tuple[str, KeyState]]:
        """Every key and its state, least recently used first."""
        return list(self._states.items())

    def get(self, key: str) -> KeyState | None:
        """The key's state if the table holds it (without touching its recency)."""
        return self._states.get(key)

    def resolve(self, task: str, shard: int, step_id: int) -> str:
        """The key a step of ``task`` answers to before it runs (see the module docstring)."""
        key = self._step_keys.get((shard, step_id))
        if key is not None and key in self._states:
            return key
        learned = self._task_keys.get(task)
        if learned and learned in self._states:
            return learned
        return task

    def state(
        self, key: str, task: str, busy: Callable[[], Set[str]], *, configured: bool = False
    ) -> tuple[str, KeyState]:
        """The state for ``key`` (created if new), or its task's when the table is full.

        ``busy()`` names keys the caller still needs (tripped breakers): never evicted. It is
        called only when the table is full, so the common path (a known key) never builds it.
        ``configured`` is a host setting a limit: always kept, even beyond the bound (the host,
        not its traffic, decides how many of those there are).
        """
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
            return key, state
        full = len(self._states) >= self._max_keys
        if configured:
            if full:
                self._evict_one(busy)  # room if an idle key can go; kept beyond the bound if not
        elif full and not self._evict_one(busy):
            if key != task:
                return self.state(task, task, busy)
            # Even a task's own key does not fit: evict regardless of idleness would lose a
            # running count, so serve a detached state that is simply not remembered.
            return key, KeyState()
        state = self._states[key] = KeyState()
        return key, state

    def _evict_one(self, busy: Callable[[], Set[str]]) -> bool:
        needed = busy()
        for key, state in self._states.items():
            if not state.configured() and state.running == 0 and key not in needed:
                del self._states[key]
                return True
        return False

    def learn(self, task: str, shard: int, step_id: int, key: str) -> None:
        """Remember that a step of ``task`` was refused under ``key``."""
        known = self._task_keys.get(task)
        self._task_keys[task] = key if known is None or known == key else _MIXED
        self._task_keys.move_to_end(task)
        if len(self._task_keys) > self._max_keys:
            self._task_keys.popitem(last=False)
        if key == task:
            self._step_keys.pop((shard, step_id), None)
            return
        self._step_keys[(shard, step_id)] = key
        self._step_keys.move_to_end((shard, step_id))
        if len(self._step_keys) > self._max_step_keys:
            self._step_keys.popitem(last=False)

    def forget_step(self, shard: int, step_id: int) -> None:
        """A step finished: drop what was remembered about it."""
        self._step_keys.pop((shard, step_id), None)
