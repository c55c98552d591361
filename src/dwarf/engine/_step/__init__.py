"""What happens when a claimed step runs and ends.

Owns: executing a claimed step (carrier, task call, time budget, breakpoints), classifying its
outcome, routing to successors, the transition that completes it and creates what follows,
cohorts (fan-out accounting and the fan-in), subgraph calls and their return, failing steps
and flows, and a flow's final state and outcome.

May import: ``dwarf.errors``, ``dwarf.workflow``, ``dwarf._scheduling``, ``dwarf._storage``,
``dwarf.engine._runtime`` and ``dwarf.engine._protection``.
Never ``_dispatch`` (which hands claimed steps to it) or ``_operations`` (which use it).
"""
