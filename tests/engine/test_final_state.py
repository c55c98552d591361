"""A flow's final state from its DAG's tails (docs/internals/state.md#c6), and the event loop
while it is computed (docs/internals/fan-in.md#f14).

The tails come from a stand-in for the transaction: ``compute_final_state`` reads them with one
query, and a tail whose input is whole (``state_base`` 0) needs no other.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from dwarf._storage import Tx
from dwarf._storage._gen.rows import TailStepRow
from dwarf.engine._step._final_state import compute_final_state
from dwarf.workflow import Reducer, Status


class _Tails:
    """Answers ``select_tail_steps`` with fixed rows, without yielding to the event loop (as
    SQLite, driven inline, does not)."""

    def __init__(self, *rows: TailStepRow) -> None:
        self.rows = list(rows)

    async def select_tail_steps(self, *, flow_id: int) -> list[TailStepRow]:
        return self.rows


def _tail(step_id: int, state: str, changes: str) -> TailStepRow:
    return TailStepRow(step_id, "t", Status.COMPLETED, 0, state, 0, changes)


async def _final(tails: _Tails, reducers: dict[str, Reducer]) -> dict[str, Any]:
    return await compute_final_state(cast(Tx, tails), 1, reducers)


async def test_the_tails_changes_fold_into_the_first_tails_input() -> None:
    tails = _Tails(_tail(1, '{"n": 1, "k": "a"}', '{"n": 2}'), _tail(2, '{"n": 5}', '{"n": 3}'))
    assert await _final(tails, {"n": Reducer.ADD}) == {"n": 6, "k": "a"}


async def test_tails_a_reducer_cannot_combine_leave_the_last_tails_own_view() -> None:
    tails = _Tails(_tail(1, '{"n": 1}', '{"n": "x"}'), _tail(2, '{"n": 5, "m": 1}', '{"n": 7}'))
    assert await _final(tails, {"n": Reducer.ADD}) == {"n": 7, "m": 1}


async def test_the_computation_lets_the_event_loop_run_between_its_phases() -> None:
    # After a wide fan-out each phase (the scan, the decoding, the fold) takes tens of ms on
    # SQLite: other callbacks must get their turn in between, not only after the whole.
    turns = 0

    def tick() -> None:
        nonlocal turns
        turns += 1
        asyncio.get_running_loop().call_soon(tick)

    asyncio.get_running_loop().call_soon(tick)
    await _final(_Tails(_tail(1, '{"items": [1, 2]}', "{}")), {})
    assert turns >= 2
