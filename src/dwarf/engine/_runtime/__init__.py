"""What a started engine shares: its configuration, open stores, keys, waiters and signals.

Owns: ``Runtime`` (the shared state every other engine part works through), ``Config`` and the
engine's constants, flow/step/thread key formatting and parsing, the local waiters of
``await_flow``, the engine's telemetry hooks for flows (``_telemetry``), and opening (migrating)
the shards at startup (``_shards``).

May import: ``dwarf.errors``, ``dwarf.workflow``, ``dwarf._scheduling``, ``dwarf._storage``,
``dwarf._migrate``, ``dwarf._observability`` and ``dwarf.engine._types``.
Nothing else in the engine: ``_step``, ``_dispatch`` and ``_operations`` all build on it.
"""
