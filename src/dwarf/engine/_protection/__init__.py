"""Protection of downstreams in the database: parking, probing and reconstituting breakers.

Owns: the SQL side of the circuit breaker (bulk park on a trip, park new steps of a tripped
task, make one probe visible per shard when it is due, unpark a shard when a probe succeeds,
re-open breakers from parked rows at startup) and the prober task that keeps the probe schedule.
The in-memory rules (admission, valves, static limits, breakers per key and shard) are
``dwarf._scheduling.Protection``, held by the runtime (docs/internals/protection.md).

May import: ``dwarf._scheduling``, ``dwarf._storage`` and ``dwarf.engine._runtime``.
"""

from dwarf.engine._protection._parking import (
    bulk_park,
    ensure_probe,
    park_if_tripped,
    reconstitute,
    unpark,
)
from dwarf.engine._protection._prober import Prober

__all__ = ["Prober", "bulk_park", "ensure_probe", "park_if_tripped", "reconstitute", "unpark"]
