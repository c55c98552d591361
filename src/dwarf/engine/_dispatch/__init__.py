"""How a step gets to a worker: the refiller's claims, the workers, the poll timer.

Owns: the ``Dispatcher`` of one replica (scanning due priority bands, planning a batch with
weighted fairness, claiming it, handing claimed steps to workers, lease recovery and wake-ups)
and its ``Liveness`` (heartbeats, recovering the steps of replicas that died).

May import: ``dwarf.errors``, ``dwarf._scheduling``, ``dwarf._storage``,
``dwarf.engine._runtime``, ``dwarf.engine._protection`` and ``dwarf.engine._step``. Never
``_operations``.
"""
