"""Reliability workloads: a fan-out graph with reducers and the check of its every flow.

Owns: the workload shared by the database-fault tests and the chaos soak (docs/reliability.md).

May import: ``dwarf.errors``, ``dwarf.workflow`` and ``dwarf.engine`` (the public API only).
"""
