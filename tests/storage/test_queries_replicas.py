"""Replica heartbeats and orphan recovery on live databases (docs/internals/liveness.md).

A running step is recovered only when its owner has no heartbeat fresher than the window; a
parked caller never is; recovery makes the step claimable at once and leaves ``lease_seq`` for
the next claim to bump, so the old owner stays fenced. Negative windows stand in for waiting:
no heartbeat is fresher than a moment in the future.
"""

from __future__ import annotations

from tests.fixtures.storage import Db

FRESH = 60_000
EVERY_ROW_STALE = -1_000


async def test_heartbeats_register_refresh_and_leave(db: Db) -> None:
    q, conn = db.q, db.conn
    assert await q.touch_replica(conn, replica_id="r1") == 0  # not registered yet
    await q.insert_replica(conn, replica_id="r1")
    await q.insert_replica(conn, replica_id="r2")
    assert await q.touch_replica(conn, replica_id="r1") == 1
    await q.delete_replica(conn, replica_id="r2")
    assert await q.touch_replica(conn, replica_id="r2") == 0
    assert await q.prune_replicas(conn, prune_ms=FRESH) == 0
    assert await q.prune_replicas(conn, prune_ms=EVERY_ROW_STALE) == 1
    assert await q.touch_replica(conn, replica_id="r1") == 0


async def test_orphan_recovery_takes_only_steps_of_owners_without_a_fresh_heartbeat(
    db: Db,
) -> None:
    q, conn = db.q, db.conn
    await q.insert_replica(conn, replica_id="alive")
    flow_id = await db.flow()
    mine = await db.step(flow_id)
    assert await db.claim(mine, owner="alive") == 1
    orphan = await db.step(flow_id)
    assert await db.claim(orphan, owner="dead") == 1
    caller = await db.step(flow_id)
    assert await db.claim(caller, owner="dead") == 1
    await q.park_step_for_subgraph(conn, changes="{}", step_id=caller, lease_seq=1)
    waiting = await db.step(flow_id)

    assert await q.recover_orphaned_steps(conn, stale_ms=FRESH) == 1
    assert await q.recover_orphaned_steps(conn, stale_ms=FRESH) == 0
    row = await db.get_step(orphan)
    assert (row.status, row.lease_seq) == ("pending", 1)
    assert (await db.get_step(caller)).status == "running"  # parked callers have no owner to lose
    assert (await db.get_step(mine)).status == "running"
    assert (await db.get_step(waiting)).status == "pending"
    # claimable at once, although the dead owner's lease had a minute to run
    assert await db.claim(orphan, owner="alive") == 2
    assert await q.complete_step(conn, changes="{}", goto_next="", step_id=orphan, lease_seq=1) == 0

    # once "alive" misses its heartbeat too, both of its steps go back
    assert await q.recover_orphaned_steps(conn, stale_ms=EVERY_ROW_STALE) == 2
    assert (await db.get_step(mine)).status == "pending"
