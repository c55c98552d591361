"""The items of the hot path's batched writes (docs/internals/storage.md, S12, S12d), shared by
the dialects that batch them, and which of them are written alone.

A create, an advance and a finish each queue as one item in their ``GroupCommit``; PostgreSQL
writes a batch of them as one statement, MySQL/MariaDB as one procedure's CALL.
"""

from __future__ import annotations

from dwarf._storage._hot_path import Finish
from dwarf._storage._records import Completion, Lease, NewFlow, NewStep

__all__ = [
    "BATCH_DOCUMENT_LIMIT",
    "AdvanceItem",
    "CreateItem",
    "Finish",
    "advance_weight",
    "create_weight",
    "finish_weight",
    "flow_documents",
    "heavy_advance",
    "heavy_finish",
]

CreateItem = tuple[NewFlow, bool, Lease | None]
"""A new flow, whether it starts, and the lease its entry step is inserted under (None: not
claimed; only a started flow's entry can be)."""

AdvanceItem = tuple[Completion, NewStep, Lease | None]
"""A claimed step's completion, its one successor, and the lease to insert that under (None:
pending, for any replica to claim)."""

BATCH_DOCUMENT_LIMIT = 16_384
"""Characters of JSON above which an advance or a finish is written alone, beside its batch.

A document that large costs more in a batch than the statement the batch saves: PostgreSQL's
batch statements take documents in text arrays, which cost the client far more per byte than a
lone statement's parameter (a 1 MB state per step: three times the CPU per flow, measured with
``benches/profile_throughput.py --payload-bytes 1048576``), and MySQL's batches carry theirs
escaped twice, once in the JSON array of items and once in the query's text."""


def flow_documents(new: NewFlow) -> tuple[str, ...]:
    """The JSON documents a create carries."""
    return new.graph, new.baggage, new.breakpoints, new.state


def create_weight(item: CreateItem) -> int:
    """Characters of JSON a create carries (what bounds a MySQL batch, S12d)."""
    return sum(map(len, flow_documents(item[0])))


def advance_weight(item: AdvanceItem) -> int:
    """Characters of JSON an advance carries."""
    done, successor, _ = item
    return len(successor.state) + len(done.changes)


def finish_weight(item: Finish) -> int:
    """Characters of JSON a flow's last step carries."""
    done, _, final_state = item
    return len(done.changes) + len(final_state)


def heavy_advance(item: AdvanceItem) -> bool:
    """Whether ``item`` carries more JSON than a batch should (``BATCH_DOCUMENT_LIMIT``)."""
    return advance_weight(item) > BATCH_DOCUMENT_LIMIT


def heavy_finish(item: Finish) -> bool:
    """Whether ``item`` carries more JSON than a batch should (``BATCH_DOCUMENT_LIMIT``)."""
    return finish_weight(item) > BATCH_DOCUMENT_LIMIT
