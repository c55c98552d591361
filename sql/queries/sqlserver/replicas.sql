-- name: TouchReplica :execrows
-- Heartbeat: refresh this replica's row (zero rows: it has none yet, or it was pruned).
UPDATE dwarf_replicas SET heartbeat_at = SYSUTCDATETIME() WHERE replica_id = @replica_id;

-- name: InsertReplica :exec
-- Register a replica (its first heartbeat, or the first after its row was pruned).
INSERT INTO dwarf_replicas (replica_id, started_at, heartbeat_at)
VALUES (@replica_id, SYSUTCDATETIME(), SYSUTCDATETIME());

-- name: DeleteReplica :exec
-- A replica shutting down cleanly removes its row.
DELETE FROM dwarf_replicas WHERE replica_id = @replica_id;

-- name: PruneReplicas :execrows
-- Forget replicas silent for longer than prune_ms (recovery never needed their rows).
DELETE FROM dwarf_replicas
WHERE heartbeat_at < DATEADD(MILLISECOND, -(@prune_ms % 1000),
                             DATEADD(SECOND, -(@prune_ms / 1000), SYSUTCDATETIME()));

-- name: RecoverOrphanedSteps :execrows
-- Running steps whose owner has no heartbeat fresher than stale_ms -> pending, due now (lease_seq kept).
UPDATE dwarf_steps
SET status = 'pending', lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE status = 'running' AND parked = 0 AND lease_owner <> ''
  AND lease_owner NOT IN (
      SELECT r.replica_id FROM dwarf_replicas r
      WHERE r.heartbeat_at > DATEADD(MILLISECOND, -(@stale_ms % 1000),
                                     DATEADD(SECOND, -(@stale_ms / 1000), SYSUTCDATETIME())));
