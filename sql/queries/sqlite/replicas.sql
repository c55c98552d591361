-- name: TouchReplica :execrows
-- Heartbeat: refresh this replica's row (zero rows: it has none yet, or it was pruned).
UPDATE dwarf_replicas SET heartbeat_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now') WHERE replica_id = sqlc.arg(replica_id);

-- name: InsertReplica :exec
-- Register a replica (its first heartbeat, or the first after its row was pruned).
INSERT INTO dwarf_replicas (replica_id, started_at, heartbeat_at)
VALUES (sqlc.arg(replica_id), STRFTIME('%Y-%m-%d %H:%M:%f', 'now'), STRFTIME('%Y-%m-%d %H:%M:%f', 'now'));

-- name: DeleteReplica :exec
-- A replica shutting down cleanly removes its row.
DELETE FROM dwarf_replicas WHERE replica_id = sqlc.arg(replica_id);

-- name: PruneReplicas :execrows
-- Forget replicas silent for longer than prune_ms (recovery never needed their rows).
DELETE FROM dwarf_replicas
WHERE heartbeat_at < STRFTIME('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -CAST(sqlc.arg(prune_ms) AS INTEGER) / 1000.0));

-- name: RecoverOrphanedSteps :execrows
-- Running steps whose owner has no heartbeat fresher than stale_ms -> pending, due now (lease_seq kept).
UPDATE dwarf_steps
SET status = 'pending', lease_expires = STRFTIME('%Y-%m-%d %H:%M:%f', 'now'), updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
WHERE status = 'running' AND status IN ('pending', 'running') AND parked = 0 AND lease_owner <> ''
  AND lease_owner NOT IN (
      SELECT r.replica_id FROM dwarf_replicas r
      WHERE r.heartbeat_at > STRFTIME('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -CAST(sqlc.arg(stale_ms) AS INTEGER) / 1000.0)));
