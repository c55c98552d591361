-- name: TouchReplica :execrows
-- Heartbeat: refresh this replica's row (zero rows: it has none yet, or it was pruned).
UPDATE dwarf_replicas SET heartbeat_at = now() WHERE replica_id = sqlc.arg(replica_id);

-- name: InsertReplica :exec
-- Register a replica (its first heartbeat, or the first after its row was pruned).
INSERT INTO dwarf_replicas (replica_id, started_at, heartbeat_at)
VALUES (sqlc.arg(replica_id), now(), now());

-- name: DeleteReplica :exec
-- A replica shutting down cleanly removes its row.
DELETE FROM dwarf_replicas WHERE replica_id = sqlc.arg(replica_id);

-- name: PruneReplicas :execrows
-- Forget replicas silent for longer than prune_ms (recovery never needed their rows).
DELETE FROM dwarf_replicas
WHERE heartbeat_at < now() - sqlc.arg(prune_ms)::bigint * INTERVAL '1 millisecond';

-- name: RecoverOrphanedSteps :execrows
-- Running steps whose owner has no heartbeat fresher than stale_ms -> pending, due now (lease_seq kept).
UPDATE dwarf_steps
SET status = 'pending', lease_expires = now(), updated_at = now()
WHERE status = 'running' AND parked = 0 AND lease_owner <> ''
  AND lease_owner NOT IN (
      SELECT r.replica_id FROM dwarf_replicas r
      WHERE r.heartbeat_at > now() - sqlc.arg(stale_ms)::bigint * INTERVAL '1 millisecond');
