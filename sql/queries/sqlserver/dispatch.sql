-- Selection, claim, lease recovery, poll horizon and schedule reads (SQL Server, hand-written T-SQL).
-- Every predicate starts with an inlined status literal and parked so the filtered selection
-- and saturation indexes (WHERE status IN ('pending','running')) serve it.
-- No SELECT ... FOR UPDATE / SKIP LOCKED: ownership is the optimistic ClaimSteps UPDATE.

-- name: ActivateFlowSteps :execrows
-- Start: created steps of a flow become pending, lease = NOW.
UPDATE dwarf_steps
SET status = 'pending', lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status = 'created';

-- name: SelectDueBand :many
-- Band scan: due steps of the smallest priority above above_priority, by step_id; wait_ms
-- is how long each has been due (its queue wait so far). The band is the first due priority in
-- index order (ORDER BY ... LIMIT 1, not MIN), so the scan stops at the first due row.
SELECT step_id, task_name, fairness_key, fairness_weight, priority,
       DATEDIFF_BIG(MILLISECOND, created_at, SYSUTCDATETIME()) AS age_ms,
       DATEDIFF_BIG(MILLISECOND, CASE WHEN not_before > lease_expires THEN not_before ELSE lease_expires END, SYSUTCDATETIME()) AS wait_ms
FROM dwarf_steps
WHERE status = 'pending'
  AND parked = 0
  AND not_before <= SYSUTCDATETIME()
  AND lease_expires <= SYSUTCDATETIME()
  AND priority = (
      SELECT b.priority
      FROM dwarf_steps b
      WHERE b.status = 'pending' AND b.parked = 0 AND b.not_before <= SYSUTCDATETIME()
        AND b.lease_expires <= SYSUTCDATETIME() AND b.priority > @above_priority
      ORDER BY b.priority
      OFFSET 0 ROWS FETCH NEXT 1 ROWS ONLY
  )
ORDER BY step_id
OFFSET 0 ROWS FETCH NEXT @row_limit ROWS ONLY;

-- name: CountDueByPriority :many
-- Gauges: due pending steps per priority band, and how long the longest-due one has waited (ms).
SELECT priority, COUNT_BIG(*) AS due_count,
       DATEDIFF_BIG(MILLISECOND, MIN(CASE WHEN not_before > lease_expires THEN not_before ELSE lease_expires END), SYSUTCDATETIME()) AS oldest_ms
FROM dwarf_steps
WHERE status = 'pending'
  AND parked = 0
  AND not_before <= SYSUTCDATETIME()
  AND lease_expires <= SYSUTCDATETIME()
GROUP BY priority
ORDER BY priority;

-- name: ClaimSteps :execrows
-- Claim CAS for a batch: running, lease_seq + 1, lease_owner, lease = NOW + budget + margin.
UPDATE dwarf_steps
SET status = 'running', lease_seq = lease_seq + 1, lease_owner = @lease_owner,
    lease_expires = DATEADD(MILLISECOND, time_budget_ms + @lease_margin_ms, SYSUTCDATETIME()),
    started_at = CASE WHEN attempt > 0 OR subgraph_done = 1 OR interrupt_done = 1
                      THEN started_at ELSE SYSUTCDATETIME() END,
    updated_at = SYSUTCDATETIME()
WHERE step_id IN (/*SLICE:step_ids*/@step_ids)
  AND status = 'pending'
  AND parked = 0
  AND not_before <= SYSUTCDATETIME()
  AND lease_expires <= SYSUTCDATETIME();

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
WHERE s.step_id IN (/*SLICE:step_ids*/@step_ids)
  AND s.status = 'running' AND s.lease_owner = @lease_owner
ORDER BY s.step_id;

-- name: RecoverExpiredLeases :execrows
-- Lease recovery: expired running steps -> pending (lease_seq kept).
UPDATE dwarf_steps
SET status = 'pending', updated_at = SYSUTCDATETIME()
WHERE status = 'running' AND parked = 0 AND lease_expires <= SYSUTCDATETIME();

-- name: PollHorizon :one
-- Timer input: due count and ms until the next due step / lease expiry within 5 minutes.
-- nullable: next_due_ms, next_lease_ms
SELECT
    (SELECT COUNT_BIG(*)
     FROM dwarf_steps d
     WHERE d.status = 'pending' AND d.parked = 0 AND d.not_before <= SYSUTCDATETIME()
       AND d.lease_expires <= SYSUTCDATETIME()) AS due_count,
    (SELECT DATEDIFF_BIG(MILLISECOND, SYSUTCDATETIME(), MIN(n.not_before))
     FROM dwarf_steps n
     WHERE n.status = 'pending' AND n.parked = 0 AND n.not_before > SYSUTCDATETIME()
       AND n.not_before <= DATEADD(MINUTE, 5, SYSUTCDATETIME())) AS next_due_ms,
    (SELECT DATEDIFF_BIG(MILLISECOND, SYSUTCDATETIME(), MIN(l.lease_expires))
     FROM dwarf_steps l
     WHERE l.status = 'running' AND l.parked = 0 AND l.lease_expires > SYSUTCDATETIME()
       AND l.lease_expires <= DATEADD(MINUTE, 5, SYSUTCDATETIME())) AS next_lease_ms;

-- name: GetStepSchedule :one
-- Doorbell read: a step's priority and ms until not_before (<= 0 = due).
SELECT priority, DATEDIFF_BIG(MILLISECOND, SYSUTCDATETIME(), not_before) AS delay_ms
FROM dwarf_steps
WHERE step_id = @step_id;
