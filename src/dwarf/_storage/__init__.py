"""Storage: the engine's only door to SQL.

What the engine may use is exported here and nowhere else: the ``Store`` of a shard (its units
of work and domain operations), ``open_store``, the values its operations take and return, the
result rows of the generated queries, DSN parsing and masking (which the operator
console uses too, to show a DSN without its password), and the keyed batcher behind group commit
(the engine batches a cohort's fan-in arrivals with it too). Which dialect a store speaks is the
store's business: a dialect's fast path is a method override in its ``Store`` subclass
(``_postgresql``, ``_mysql``, ``_sqlite``, ``_sqlserver``), the generated accessors live in
``_gen/`` (``python -m codegen``), and no module outside this package imports either.

Imports: ``dwarf.errors``, ``dwarf.workflow`` (value types) and the drivers.
"""

from dwarf._storage._batcher import BatchAbandonedError, KeyedBatcher
from dwarf._storage._dsn import (
    Dsn,
    mask_dsn,
    memory_dsn,
    parse_dsn,
    private_memory,
    scrub,
    shard_dsns,
)
from dwarf._storage._gen.rows import (
    ClaimedStepRow,
    DueStepRow,
    FlowRow,
    FlowsProgressRow,
    FlowSummaryRow,
    InterruptedStepRow,
    LeasedStepRow,
    StepCopyRow,
    StepNodeRow,
    StepRow,
    StepSummaryRow,
    SubgraphLinkRow,
)
from dwarf._storage._gen.tx import Tx
from dwarf._storage._open import open_store
from dwarf._storage._records import (
    BandClaim,
    ClaimedStep,
    Completion,
    FlowIds,
    Lease,
    NewFlow,
    NewStep,
    StartedFlow,
)
from dwarf._storage._scratch import TEST_DSN_ENV, test_databases
from dwarf._storage._store import Store

__all__ = [
    "TEST_DSN_ENV",
    "BandClaim",
    "BatchAbandonedError",
    "ClaimedStep",
    "ClaimedStepRow",
    "Completion",
    "Dsn",
    "DueStepRow",
    "FlowIds",
    "FlowRow",
    "FlowSummaryRow",
    "FlowsProgressRow",
    "InterruptedStepRow",
    "KeyedBatcher",
    "LeasedStepRow",
    "Lease",
    "NewFlow",
    "NewStep",
    "StartedFlow",
    "StepCopyRow",
    "StepNodeRow",
    "StepRow",
    "StepSummaryRow",
    "Store",
    "SubgraphLinkRow",
    "Tx",
    "test_databases",
    "mask_dsn",
    "memory_dsn",
    "private_memory",
    "open_store",
    "parse_dsn",
    "scrub",
    "shard_dsns",
]
