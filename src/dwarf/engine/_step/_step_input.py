"""A step's whole input, from its row: its stored state, or a branch's overlay on a shared base.

A forEach branch stores only its bindings (``<as>``, ``<as>Index``, ``<as>Count``) and names
its spawn step in ``state_base``: its input is the spawn's successor snapshot (the spawn's input
overlaid by its changes, tombstones dropped) overlaid by those bindings, tombstones dropped
again. A fan-out of N elements thus stores its array once instead of N times, and every reader
of a step's input goes through ``step_input`` (docs/internals/state.md#c2).

Claims go through ``SharedInputs``, which keeps recent snapshots decoded: the N branches of one
fan-out then decode the spawn's state once per replica instead of once each. A snapshot is
keyed by the base step's ``lease_seq`` as the claim read it, which changes whenever that step
runs again (a rewind), so a kept snapshot is never stale. Claims of one fan-out arrive in
batches: the first reads and decodes the snapshot and the others wait for that read instead of
each decoding the (possibly huge) array again in one long stretch of the event loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from dwarf._storage import ClaimedStepRow, Store, Tx
from dwarf.workflow._json import loads

__all__ = ["SharedInputs", "step_input", "successor_snapshot", "without_tombstones"]

KEPT_SNAPSHOTS = 16
"""Decoded base snapshots a replica keeps (each is one fan-out's shared input)."""


def without_tombstones(state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` minus its top-level JSON nulls (a deleted key is absent, not null)."""
    return {key: value for key, value in state.items() if value is not None}


def _overlaid(snapshot: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    return without_tombstones({**snapshot, **overlay})


async def successor_snapshot(db: Tx, step_id: int) -> dict[str, Any]:
    """What the successors of step ``step_id`` start from: its input overlaid by its changes,
    tombstones dropped."""
    row = await db.get_step_input(step_id=step_id)
    if row is None:
        raise LookupError(f"step {step_id}, the base of a branch's input, is gone")
    own = await step_input(db, row.state, row.state_base)
    return without_tombstones({**own, **loads(row.changes)})


async def step_input(db: Tx, state: str, state_base: int) -> dict[str, Any]:
    """The whole input of a step whose row holds ``state`` and ``state_base``."""
    if not state_base:
        whole: dict[str, Any] = loads(state)
        return whole
    return _overlaid(await successor_snapshot(db, state_base), loads(state))


class SharedInputs:
    """Recently used base snapshots, decoded once per replica for every branch claimed on it.

    The snapshots are shared between the inputs built on them, so nothing may change a value
    inside an input in place (the task carrier copies what it hands out, the reducers copy
    what they fold into).
    """

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[int, int, int], dict[str, Any]] = OrderedDict()
        self._reading: dict[tuple[int, int, int], asyncio.Task[dict[str, Any]]] = {}

    async def input_of(self, store: Store, row: ClaimedStepRow) -> dict[str, Any]:
        """The whole input of the claimed step ``row`` on ``store``."""
        if not row.state_base:
            whole: dict[str, Any] = loads(row.state)
            return whole
        key = (store.index, row.state_base, row.base_lease_seq)
        snapshot = self._kept.get(key)
        if snapshot is None:
            snapshot = await asyncio.shield(self._read(store, key))
        else:
            self._kept.move_to_end(key)
        return _overlaid(snapshot, loads(row.state))

    def _read(self, store: Store, key: tuple[int, int, int]) -> asyncio.Task[dict[str, Any]]:
        """The one read of snapshot ``key`` under way, started if none is."""
        reading = self._reading.get(key)
        if reading is None:
            base = key[1]
            reading = asyncio.ensure_future(store.read(lambda db: successor_snapshot(db, base)))
            self._reading[key] = reading
            reading.add_done_callback(lambda done: self._read_done(key, done))
        return reading

    def _read_done(self, key: tuple[int, int, int], done: asyncio.Task[dict[str, Any]]) -> None:
        self._reading.pop(key, None)
        # A failed read is not kept: the next claim on this base reads again.
        if done.cancelled() or done.exception() is not None:
            return
        self._kept[key] = done.result()
        if len(self._kept) > KEPT_SNAPSHOTS:
            self._kept.popitem(last=False)
