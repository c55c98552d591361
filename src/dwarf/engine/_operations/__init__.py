"""What a host can ask for: create, start, await, cancel, resume, inspect, rewind, fork, delete.

Owns: every public operation of ``Engine`` except configuration and lifecycle, one module per
group (flows, waiting, inspection, listing, rewinds and forks, breakpoints, deletion), and the
reaper that deletes ``delete_on_completion`` flows, which the engine starts on dispatching replicas.

May import: ``dwarf.errors``, ``dwarf.workflow``, ``dwarf._storage``, ``dwarf.engine._runtime``,
``dwarf.engine._protection`` and ``dwarf.engine._step``. Never ``_dispatch``: operations signal new
work through the runtime.
"""
