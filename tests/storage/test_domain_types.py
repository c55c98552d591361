"""Flags read back as ``bool`` and statuses as ``Status``, stored as the 0/1 and text they were.

The accessors convert at the driver boundary (docs/internals/codegen.md, "Domain types"), so
every backend must hand the same Python types over the same stored values.
"""

from __future__ import annotations

from typing import Any

from dwarf.workflow import Status
from tests.fixtures.storage import Db


async def _stored(db: Db, sql: str, key: int) -> tuple[Any, ...]:
    """One row of raw SQL (``?`` placeholder) as the driver returns it, bypassing the accessors."""
    if db.dialect == "mysql":
        async with db.conn.cursor() as cur:
            await cur.execute(sql.replace("?", "%s"), (key,))
            row = await cur.fetchone()
    elif db.dialect == "postgresql":
        cur = await db.conn.execute(sql.replace("?", "%s"), (key,))
        row = await cur.fetchone()
    else:
        [row] = await db.conn.execute_fetchall(sql, (key,))
    return tuple(row)


async def test_flags_and_statuses_read_as_domain_types_over_plain_stored_values(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow(status=Status.INTERRUPTED, delete_on_completion=True)
    parked = await db.step(flow_id, status=Status.RUNNING, parked=1)
    flow, step = await db.get_flow(flow_id), await db.get_step(parked)

    assert type(flow.status) is Status
    assert flow.status is Status.INTERRUPTED
    assert flow.delete_on_completion is True
    assert type(step.status) is Status
    assert step.status is Status.RUNNING
    assert (step.parked, step.breakpoint_hit, step.interrupt_done, step.subgraph_done) == (
        1,
        False,
        False,
        False,
    )
    # parked is a level (0 active, 1 waiting on a subgraph, 2 breaker backlog), not a flag.
    assert type(step.parked) is int
    assert all(
        type(v) is bool for v in (step.breakpoint_hit, step.interrupt_done, step.subgraph_done)
    )

    assert await _stored(
        db, "SELECT status, delete_on_completion FROM dwarf_flows WHERE flow_id = ?", flow_id
    ) == ("interrupted", 1)
    assert await _stored(
        db, "SELECT status, parked FROM dwarf_steps WHERE step_id = ?", parked
    ) == (
        "running",
        1,
    )

    # a status written by an accessor round-trips as the same member, in every listing shape
    assert await q.set_step_status_from_flow(
        conn, status=Status.CANCELLED, step_id=parked, lease_seq=0
    )
    assert (await db.get_step(parked)).status is Status.CANCELLED
    [summary] = await db.list_flows()
    assert summary.status is Status.INTERRUPTED
    [node] = await q.list_step_dag(conn, flow_id=flow_id)
    assert (node.status, node.parked) == (Status.CANCELLED, 0)
