-- Selection, claim, lease recovery, poll horizon and schedule reads (SQLite).
-- Every scan repeats the partial indexes' own condition (status IN ('pending', 'running')) beside
-- its status literal: SQLite uses a partial index only when the query's WHERE contains the
-- index's WHERE term as written, and it does not infer it from status = 'pending'. Without it
-- every scan reads every row of the table, state included (docs/internals/storage.md).
-- No SELECT ... FOR UPDATE / SKIP LOCKED: ownership is the optimistic ClaimSteps UPDATE.

-- name: ActivateFlowSteps :execrows
-- Start: created steps of a flow become pending, lease = NOW.
UPDATE dwarf_steps
SET status = 'pending', lease_expires = STRFTIME('%Y-%m-%d %H:%M:%f', 'now'),
    updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
WHERE flow_id = sqlc.arg(flow_id) AND status = 'created';

-- name: SelectDueBand :many
-- Band scan: due steps of the smallest priority above above_priority, by step_id; wait_ms
-- is how long each has been due (its queue wait so far). The band is the first due priority in
-- index order (ORDER BY ... LIMIT 1, not MIN), so the scan stops at the first due row.
SELECT step_id, task_name, fairness_key, fairness_weight, priority,
       CAST(ROUND((JULIANDAY('now') - JULIANDAY(created_at)) * 86400000.0) AS INTEGER) AS age_ms,
       CAST(ROUND((JULIANDAY('now') - JULIANDAY(MAX(not_before, lease_expires))) * 86400000.0) AS INTEGER) AS wait_ms
FROM dwarf_steps
WHERE status = 'pending' AND status IN ('pending', 'running')
  AND parked = 0
  AND not_before <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
  AND lease_expires <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
  AND priority = (
      SELECT b.priority
      FROM dwarf_steps b
      WHERE b.status = 'pending' AND b.status IN ('pending', 'running')
        AND b.parked = 0
        AND b.not_before <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
        AND b.lease_expires <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
        AND b.priority > CAST(sqlc.arg(above_priority) AS INTEGER)
      ORDER BY b.priority
      LIMIT 1
  )
ORDER BY step_id
LIMIT sqlc.arg(row_limit);

-- name: CountDueByPriority :many
-- Gauges: due pending steps per priority band, and how long the longest-due one has waited (ms).
SELECT priority, COUNT(*) AS due_count,
       CAST(ROUND((JULIANDAY('now') - JULIANDAY(MIN(MAX(not_before, lease_expires)))) * 86400000.0) AS INTEGER) AS oldest_ms
FROM dwarf_steps
WHERE status = 'pending' AND status IN ('pending', 'running')
  AND parked = 0
  AND not_before <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
  AND lease_expires <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
GROUP BY priority
ORDER BY priority;

-- name: ClaimSteps :execrows
-- Claim CAS for a batch: running, lease_seq + 1, lease_owner, lease = NOW + budget + margin.
UPDATE dwarf_steps
SET status = 'running', lease_seq = lease_seq + 1, lease_owner = sqlc.arg(lease_owner),
    lease_expires = STRFTIME('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', (time_budget_ms + CAST(sqlc.arg(lease_margin_ms) AS INTEGER)) / 1000.0)),
    started_at = CASE WHEN attempt > 0 OR subgraph_done = 1 OR interrupt_done = 1
                      THEN started_at ELSE STRFTIME('%Y-%m-%d %H:%M:%f', 'now') END,
    updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
WHERE step_id IN (sqlc.slice(step_ids))
  AND status = 'pending'
  AND parked = 0
  AND not_before <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
  AND lease_expires <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now');

-- name: SelectClaimedSteps :many
-- Read back the rows this claim won; base_lease_seq is the lease_seq of the step whose snapshot
-- a forEach branch's input builds on (0: none): it changes whenever that step re-runs, so a
-- replica may keep that snapshot decoded between claims (docs/internals/state.md#c2).
SELECT s.step_id, s.flow_id, s.step_depth, s.step_token, s.task_name, s.state, s.state_base,
       s.changes, s.breakpoint_hit, s.attempt, s.lineage_id, s.fan_out_ordinal, s.predecessor_id,
       s.time_budget_ms, s.interrupt_done, s.resume_data, s.subgraph_done, s.subgraph_result,
       s.subgraph_error, s.priority, s.fairness_key, s.fairness_weight, s.lease_seq, s.created_at,
       s.started_at, s.updated_at, COALESCE(b.lease_seq, 0) AS base_lease_seq
FROM dwarf_steps s
LEFT JOIN dwarf_steps b ON b.step_id = s.state_base AND s.state_base > 0
WHERE s.step_id IN (sqlc.slice(step_ids))
  AND s.status = 'running' AND s.lease_owner = sqlc.arg(lease_owner)
ORDER BY s.step_id;

-- name: RecoverExpiredLeases :execrows
-- Lease recovery: expired running steps -> pending (lease_seq kept).
UPDATE dwarf_steps
SET status = 'pending', updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
WHERE status = 'running' AND status IN ('pending', 'running') AND parked = 0 AND lease_expires <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now');

-- name: PollHorizon :one
-- Timer input: due count and ms until the next due step / lease expiry within 5 minutes.
-- nullable: next_due_ms, next_lease_ms
SELECT
    (SELECT COUNT(*)
     FROM dwarf_steps d
     WHERE d.status = 'pending' AND d.status IN ('pending', 'running')
       AND d.parked = 0
       AND d.not_before <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
       AND d.lease_expires <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now')) AS due_count,
    (SELECT CAST(ROUND((JULIANDAY(MIN(n.not_before)) - JULIANDAY('now')) * 86400000.0) AS INTEGER)
     FROM dwarf_steps n
     WHERE n.status = 'pending' AND n.status IN ('pending', 'running')
       AND n.parked = 0
       AND n.not_before > STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
       AND n.not_before <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now', '+300 seconds')) AS next_due_ms,
    (SELECT CAST(ROUND((JULIANDAY(MIN(l.lease_expires)) - JULIANDAY('now')) * 86400000.0) AS INTEGER)
     FROM dwarf_steps l
     WHERE l.status = 'running' AND l.status IN ('pending', 'running')
       AND l.parked = 0
       AND l.lease_expires > STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
       AND l.lease_expires <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now', '+300 seconds')) AS next_lease_ms;

-- name: GetStepSchedule :one
-- Doorbell read: a step's priority and ms until not_before (<= 0 = due).
SELECT priority,
CAST(ROUND((JULIANDAY(not_before) - JULIANDAY('now')) * 86400000.0) AS INTEGER) AS delay_ms
FROM dwarf_steps
WHERE step_id = sqlc.arg(step_id);
