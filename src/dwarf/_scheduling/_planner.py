"""The refill planner: turn one priority band's due steps into an ordered, fair, valve-gated batch.

This is docs/internals/dispatch.md#d7 without the database. The engine scans each shard for its best
band, keeps the global best (``pick_band``), and hands those rows here; ``plan_batch`` drops the
rows the valve refuses, groups the rest by fairness key and fills the batch by repeated weighted
draws over the keys. If nothing survived (``Plan.distinct_keys == 0``) the engine scans the next
band; the dispatcher claims the batch in one statement per shard.

Rules that shape the code:

* Efraimidis-Spirakis over *keys*, redrawn per slot: every non-empty key draws
  ``U ** (1 / weight)`` with ``U`` uniform in [0, 1) and the maximum wins, so each slot goes to a
  key with probability proportional to its weight, independent of how deep its backlog is.
* Strict FIFO within a key among admissible steps: oldest first (larger ``age_ms``), ties by
  shard then step id. A key's weight is its oldest surviving step's (weights are per flow, and the
  oldest flow is the one waiting longest). A weight ``<= 0`` reads as 1.
* The valve is asked twice: once per row before grouping, and again for a key's head before each
  draw, because every placed step is committed and may close the task's window mid-batch. A head
  refused then is dropped from this batch (it stays pending in the database) and counted.
* Deterministic given the rows and ``rng``: keys are visited in sorted order, so the draws do not
  depend on the order in which shard scans returned.
* Cost is O(capacity x keys) draws. The later upstream moved to per-key aggregate rows because
  backlog depth, not key count, dominated its cost; here the rows are already one band.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Generic, Protocol, TypeVar

__all__ = ["Candidate", "CandidateRow", "Plan", "pick_band", "plan_batch"]


class CandidateRow(Protocol):
    """What the planner reads from a band-scan row (any object with these attributes)."""

    @property
    def step_id(self) -> int:
        """The step's primary key within its shard."""
        ...

    @property
    def shard(self) -> int:
        """The shard holding the step (1-based)."""
        ...

    @property
    def task_name(self) -> str:
        """The graph node the step runs: the valve's key."""
        ...

    @property
    def fairness_key(self) -> str:
        """The flow's fairness key; steps sharing it share one draw."""
        ...

    @property
    def fairness_weight(self) -> float:
        """The flow's fairness weight; ``<= 0`` reads as 1."""
        ...

    @property
    def priority(self) -> int:
        """The step's priority band (lower runs first)."""
        ...

    @property
    def age_ms(self) -> float:
        """Milliseconds since the step was created, by its shard's clock."""
        ...


RowT = TypeVar("RowT", bound=CandidateRow)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A plain band-scan row, for callers whose storage rows do not already fit ``CandidateRow``."""

    step_id: int
    shard: int
    task_name: str
    fairness_key: str
    fairness_weight: float
    priority: int
    age_ms: float


@dataclass(frozen=True, slots=True)
class Plan(Generic[RowT]):
    """The outcome of planning one band.

    ``batch`` is in pop order. ``skipped`` counts, per task, rows the valve refused (the
    ``steps_skipped_saturated_total`` counter; non-empty means "poll again in 1 s").
    ``distinct_keys`` is the number of fairness keys with an admissible row (the fairness gauge);
    0 means the valve refused the whole band and the next band should be scanned.
    """

    batch: tuple[RowT, ...]
    skipped: Mapping[str, int]
    distinct_keys: int


def pick_band(per_shard_bands: Iterable[int | None]) -> int | None:
    """The global band: the best (lowest) of the shards' bands; ``None`` shards found nothing."""
    return min((band for band in per_shard_bands if band is not None), default=None)


def _fifo_key(row: CandidateRow) -> tuple[float, int, int]:
    return (-row.age_ms, row.shard, row.step_id)


def _weight(row: CandidateRow) -> float:
    weight = float(row.fairness_weight)
    return weight if weight > 0 else 1.0


def plan_batch(
    rows: Iterable[RowT],
    capacity: int,
    *,
    admit: Callable[[RowT], bool],
    commit: Callable[[RowT], object],
    rng: Random,
) -> Plan[RowT]:
    """Plan up to ``capacity`` steps from one band's ``rows``.

    ``admit(row)`` is the protection's peek (no side effect expected); ``commit(row)`` is called
    once per emitted step, in batch order, before the next draw.
    """
    skipped: dict[str, int] = {}

    def admissible(row: RowT) -> bool:
        if admit(row):
            return True
        skipped[row.task_name] = skipped.get(row.task_name, 0) + 1
        return False

    by_key: dict[str, list[RowT]] = {}
    for row in rows:
        if admissible(row):
            by_key.setdefault(row.fairness_key, []).append(row)

    # Each key's queue is reversed (oldest last) so taking the head is an O(1) pop.
    queues: list[tuple[float, list[RowT]]] = []
    for key in sorted(by_key):
        steps = sorted(by_key[key], key=_fifo_key, reverse=True)
        queues.append((_weight(steps[-1]), steps))

    batch: list[RowT] = []
    while len(batch) < capacity:
        best: list[RowT] | None = None
        best_score = -1.0
        for weight, steps in queues:
            while steps and not admissible(steps[-1]):
                steps.pop()
            if not steps:
                continue
            score = rng.random() ** (1.0 / weight)
            if score > best_score:
                best, best_score = steps, score
        if best is None:
            break
        row = best.pop()
        batch.append(row)
        commit(row)

    return Plan(batch=tuple(batch), skipped=skipped, distinct_keys=len(queues))
