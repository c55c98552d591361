-- Selection, claim, lease recovery, poll horizon and schedule reads (PostgreSQL).
-- Every predicate starts with an inlined status literal and parked so the partial selection
-- and saturation indexes (WHERE status IN ('pending','running')) serve it.
-- No SELECT ... FOR UPDATE / SKIP LOCKED: ownership is the optimistic ClaimSteps UPDATE.

-- name: ActivateFlowSteps :execrows
-- Start: created steps of a flow become pending, lease = NOW.
UPDATE dwarf_steps
SET status = 'pending', lease_expires = now(), updated_at = now()
WHERE flow_id = sqlc.arg(flow_id) AND status = 'created';

-- name: SelectDueBand :many
-- Band scan: due steps of the smallest priority above above_priority, by step_id; wait_ms
-- is how long each has been due (its queue wait so far). The band is the first due priority in
-- index order (ORDER BY ... LIMIT 1, not MIN): the planner then stops at the first due row even
-- when its statistics are stale, where an aggregate visited every pending row (40 ms a poll
-- with 70,000 forEach branches pending and autovacuum off). The rows are those of priority in
-- (above_priority, band], which are the band's alone (no due row lies below it), ordered by
-- (priority, step_id): that order only the selection index gives. With priority = band and
-- ORDER BY step_id, statistics taken during a wide fan-out (finished steps first in the key
-- order, pending ones after) made the planner walk the primary key past every finished step
-- (27 ms a poll at 70,000 finished and 30,000 pending).
SELECT step_id, task_name, fairness_key, fairness_weight, priority,
       (EXTRACT(EPOCH FROM now() - created_at) * 1000)::bigint AS age_ms,
       (EXTRACT(EPOCH FROM now() - GREATEST(not_before, lease_expires)) * 1000)::bigint AS wait_ms
FROM dwarf_steps
WHERE status = 'pending' AND parked = 0 AND not_before <= now() AND lease_expires <= now()
  AND priority > sqlc.arg(above_priority)::integer
  AND priority <= (
      SELECT b.priority
      FROM dwarf_steps b
      WHERE b.status = 'pending' AND b.parked = 0 AND b.not_before <= now()
        AND b.lease_expires <= now() AND b.priority > sqlc.arg(above_priority)::integer
      ORDER BY b.priority
      LIMIT 1
  )
ORDER BY priority, step_id
LIMIT sqlc.arg(row_limit)::integer;

-- name: CountDueByPriority :many
-- Gauges: due pending steps per priority band, and how long the longest-due one has waited (ms).
SELECT priority, COUNT(*)::bigint AS due_count,
       (EXTRACT(EPOCH FROM now() - MIN(GREATEST(not_before, lease_expires))) * 1000)::bigint AS oldest_ms
FROM dwarf_steps
WHERE status = 'pending' AND parked = 0 AND not_before <= now() AND lease_expires <= now()
GROUP BY priority
ORDER BY priority;

-- name: ClaimSteps :execrows
-- Claim CAS for a batch: running, lease_seq + 1, lease_owner, lease = NOW + budget + margin.
-- status || '' keeps the partial selection index out of the plan (storage.md, "Query
-- conventions"): the rows are found by primary key, whatever the statistics say.
UPDATE dwarf_steps
SET status = 'running', lease_seq = lease_seq + 1, lease_owner = sqlc.arg(lease_owner),
    lease_expires = now() + (time_budget_ms + sqlc.arg(lease_margin_ms)::bigint) * INTERVAL '1 millisecond',
    started_at = CASE WHEN attempt > 0 OR subgraph_done = 1 OR interrupt_done = 1
                      THEN started_at ELSE now() END,
    updated_at = now()
WHERE step_id = ANY(sqlc.arg(step_ids)::bigint[])
  AND status || '' = 'pending' AND parked = 0 AND not_before <= now() AND lease_expires <= now();

-- name: SelectClaimedSteps :many
-- Read back the rows this claim won; base_lease_seq is the lease_seq of the step whose snapshot
-- a forEach branch's input builds on (0: none): it changes whenever that step re-runs, so a
-- replica may keep that snapshot decoded between claims (docs/internals/state.md#c2). By
-- primary key, as ClaimSteps.
SELECT s.step_id, s.flow_id, s.step_depth, s.step_token, s.task_name, s.state, s.state_base,
       s.changes, s.breakpoint_hit, s.attempt, s.lineage_id, s.fan_out_ordinal, s.predecessor_id,
       s.time_budget_ms, s.interrupt_done, s.resume_data, s.subgraph_done, s.subgraph_result,
       s.subgraph_error, s.priority, s.fairness_key, s.fairness_weight, s.lease_seq, s.created_at,
       s.started_at, s.updated_at, COALESCE(b.lease_seq, 0) AS base_lease_seq
FROM dwarf_steps s
LEFT JOIN dwarf_steps b ON b.step_id = s.state_base AND s.state_base > 0
WHERE s.step_id = ANY(sqlc.arg(step_ids)::bigint[])
  AND s.status || '' = 'running' AND s.lease_owner = sqlc.arg(lease_owner)
ORDER BY s.step_id;

-- name: RecoverExpiredLeases :execrows
-- Lease recovery: expired running steps -> pending (lease_seq kept).
UPDATE dwarf_steps
SET status = 'pending', updated_at = now()
WHERE status = 'running' AND parked = 0 AND lease_expires <= now();

-- name: PollHorizon :one
-- Timer input: due count and ms until the next due step / lease expiry within 5 minutes.
-- nullable: next_due_ms, next_lease_ms
SELECT
    (SELECT COUNT(*)
     FROM dwarf_steps d
     WHERE d.status = 'pending' AND d.parked = 0 AND d.not_before <= now()
       AND d.lease_expires <= now())::bigint AS due_count,
    (SELECT (EXTRACT(EPOCH FROM MIN(n.not_before) - now()) * 1000)::bigint
     FROM dwarf_steps n
     WHERE n.status = 'pending' AND n.parked = 0 AND n.not_before > now()
       AND n.not_before <= now() + INTERVAL '5 minutes') AS next_due_ms,
    (SELECT (EXTRACT(EPOCH FROM MIN(l.lease_expires) - now()) * 1000)::bigint
     FROM dwarf_steps l
     WHERE l.status = 'running' AND l.parked = 0 AND l.lease_expires > now()
       AND l.lease_expires <= now() + INTERVAL '5 minutes') AS next_lease_ms;

-- name: GetStepSchedule :one
-- Doorbell read: a step's priority and ms until not_before (<= 0 = due).
SELECT priority, (EXTRACT(EPOCH FROM not_before - now()) * 1000)::bigint AS delay_ms
FROM dwarf_steps
WHERE step_id = sqlc.arg(step_id);
