-- Step rows: insert, lookups, and every post-execution write (PostgreSQL).
-- Writes made by the worker that claimed a step carry "AND lease_seq = ?" (lease fencing): a
-- worker whose lease was re-granted to a peer matches zero rows and abandons quietly.
-- Durations are bound as integer milliseconds and added to the database clock here.

-- name: InsertStep :one
-- Insert a step; not_before = NOW + delay_ms, lease_expires = NOW.
INSERT INTO dwarf_steps (
    flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
    lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight, parked,
    state_base,
    not_before, lease_expires, created_at, started_at, updated_at
) VALUES (
    sqlc.arg(flow_id), sqlc.arg(step_depth), sqlc.arg(step_token), sqlc.arg(task_name),
    sqlc.arg(state), sqlc.arg(changes), sqlc.arg(status), sqlc.arg(time_budget_ms),
    sqlc.arg(lineage_id), sqlc.arg(fan_out_ordinal), sqlc.arg(predecessor_id), sqlc.arg(priority),
    sqlc.arg(fairness_key), sqlc.arg(fairness_weight), sqlc.arg(parked), sqlc.arg(state_base),
    now() + sqlc.arg(delay_ms)::bigint * INTERVAL '1 millisecond', now(), now(), now(), now()
)
RETURNING step_id;

-- name: GetStep :one
-- Read a step by key (id and token).
SELECT step_id, flow_id, step_depth, step_token, task_name, state, state_base, changes, interrupt_payload,
       status, goto_next, error, error_type, time_budget_ms, breakpoint_hit, attempt, lineage_id,
       cohort_size, cohort_arrivals, cohort_failures, fan_out_ordinal, predecessor_id,
       successor_id, priority, fairness_key, fairness_weight, interrupt_done, resume_data,
       subgraph_done, subgraph_result, subgraph_error, parked, lease_seq, lease_owner,
       not_before, lease_expires, created_at, started_at, updated_at
FROM dwarf_steps
WHERE step_id = sqlc.arg(step_id) AND step_token = sqlc.arg(step_token);

-- name: GetStepByID :one
-- Read a step by id.
SELECT step_id, flow_id, step_depth, step_token, task_name, state, state_base, changes, interrupt_payload,
       status, goto_next, error, error_type, time_budget_ms, breakpoint_hit, attempt, lineage_id,
       cohort_size, cohort_arrivals, cohort_failures, fan_out_ordinal, predecessor_id,
       successor_id, priority, fairness_key, fairness_weight, interrupt_done, resume_data,
       subgraph_done, subgraph_result, subgraph_error, parked, lease_seq, lease_owner,
       not_before, lease_expires, created_at, started_at, updated_at
FROM dwarf_steps
WHERE step_id = sqlc.arg(step_id);

-- name: SelectTailSteps :many
-- DAG tail steps (successor_id = 0) for the final state.
SELECT step_id, task_name, status, lineage_id, state, state_base, changes
FROM dwarf_steps
WHERE flow_id = sqlc.arg(flow_id) AND successor_id = 0
ORDER BY step_id;

-- name: GetInterruptedSteps :many
-- Interrupted steps of a flow, earliest updated first.
SELECT step_id, step_token, flow_id, step_depth, task_name, state, state_base, changes, interrupt_payload,
       interrupt_done, breakpoint_hit, parked, updated_at
FROM dwarf_steps
WHERE flow_id = sqlc.arg(flow_id) AND status = 'interrupted'
ORDER BY updated_at, step_id;

-- name: FirstFailedStepError :one
-- Error of the first failed step (cohort failure message).
SELECT error
FROM dwarf_steps
WHERE flow_id = sqlc.arg(flow_id) AND status = 'failed'
ORDER BY step_id
LIMIT 1;

-- name: CompleteStep :execrows
-- Mark the claimed step completed with its accumulated changes.
UPDATE dwarf_steps
SET status = 'completed', changes = sqlc.arg(changes), goto_next = sqlc.arg(goto_next),
    parked = 0, lease_expires = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: FailStep :execrows
-- Mark the claimed step failed.
UPDATE dwarf_steps
SET status = 'failed', error = sqlc.arg(error), error_type = sqlc.arg(error_type), parked = 0, lease_expires = now(),
    updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: RetryStep :execrows
-- Rewind the claimed step for a retry: attempt + 1, not_before = NOW + delay_ms, park slots cleared.
UPDATE dwarf_steps
SET status = 'pending', changes = sqlc.arg(changes), attempt = attempt + 1,
    not_before = now() + sqlc.arg(delay_ms)::bigint * INTERVAL '1 millisecond',
    lease_expires = now(), parked = 0, interrupt_done = 0, resume_data = '{}',
    subgraph_done = 0, subgraph_result = '{}', subgraph_error = '', updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: ParkStepForSubgraph :execrows
-- Park the caller (parked = 1, no lease) before its child starts; saves changes.
UPDATE dwarf_steps
SET parked = 1, changes = sqlc.arg(changes), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq)
  AND status = 'running' AND parked = 0;

-- name: InterruptLeafStep :execrows
-- Interrupt the claimed step: changes saved, interrupt_done = 1, payload only where still '{}'.
UPDATE dwarf_steps
SET status = 'interrupted', parked = 0, lease_expires = now(), changes = sqlc.arg(changes),
    interrupt_done = 1,
    interrupt_payload = CASE WHEN interrupt_payload = '{}'::jsonb
                             THEN sqlc.arg(interrupt_payload)::jsonb
                             ELSE interrupt_payload END,
    updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: InterruptCallerStep :execrows
-- Propagate an interrupt to a caller step up the chain (parked cleared; payload first writer wins).
UPDATE dwarf_steps
SET status = 'interrupted', parked = 0, lease_expires = now(),
    interrupt_payload = CASE WHEN interrupt_payload = '{}'::jsonb
                             THEN sqlc.arg(interrupt_payload)::jsonb
                             ELSE interrupt_payload END,
    updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND status IN ('running', 'interrupted');

-- name: BreakpointLeafStep :execrows
-- Pause the claimed step at a breakpoint: interrupted, breakpoint_hit = 1.
UPDATE dwarf_steps
SET status = 'interrupted', breakpoint_hit = 1, parked = 0, lease_expires = now(),
    updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: BreakpointCallerStep :execrows
-- Propagate a breakpoint pause to a caller step (parked kept).
UPDATE dwarf_steps
SET status = 'interrupted', lease_expires = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND status IN ('running', 'interrupted');

-- name: ReviveCallerStep :execrows
-- Deliver a child's outcome to its parked caller and make it due.
UPDATE dwarf_steps
SET status = 'pending', parked = 0, subgraph_done = 1,
    subgraph_result = sqlc.arg(subgraph_result), subgraph_error = sqlc.arg(subgraph_error),
    lease_expires = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND status = 'running' AND parked = 1;

-- name: ResumeLeafStep :execrows
-- Resume an interrupted leaf with resume data; payload cleared.
UPDATE dwarf_steps
SET status = 'pending', parked = 0, resume_data = sqlc.arg(resume_data), interrupt_payload = '{}',
    lease_expires = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND status = 'interrupted' AND interrupt_done = 1;

-- name: ResumeBreakStep :execrows
-- Resume a breakpoint-paused leaf with its merged state.
UPDATE dwarf_steps
SET status = 'pending', parked = 0, state = sqlc.arg(state), state_base = 0, interrupt_payload = '{}',
    lease_expires = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND status = 'interrupted'
  AND breakpoint_hit = 1 AND interrupt_done = 0;

-- name: ResumeCallerStep :execrows
-- Put an interrupted caller step back to running, parked = 1.
UPDATE dwarf_steps
SET status = 'running', parked = 1, interrupt_payload = '{}', updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND status = 'interrupted';

-- name: CancelFlowSteps :execrows
-- Cancel every live step of a flow.
UPDATE dwarf_steps
SET status = 'cancelled', parked = 0, lease_expires = now(), updated_at = now()
WHERE flow_id = sqlc.arg(flow_id) AND status IN ('created', 'pending', 'running', 'interrupted');

-- name: SetStepStatusFromFlow :execrows
-- Copy a terminal flow status onto the step just claimed.
UPDATE dwarf_steps
SET status = sqlc.arg(status), parked = 0, lease_expires = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: CountEngineFault :execrows
-- The engine failed processing the claimed step: engine_faults + 1 (fenced, status unchanged).
UPDATE dwarf_steps
SET engine_faults = engine_faults + 1
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: GetEngineFaults :one
-- How often the engine failed processing a step.
SELECT engine_faults FROM dwarf_steps WHERE step_id = sqlc.arg(step_id);

-- name: ResetContendedStep :execrows
-- Lock-contention reset: running -> pending, lease = NOW.
UPDATE dwarf_steps
SET status = 'pending', lease_expires = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: ResetStep :execrows
-- Restart/RestartFrom: reset a step to a fresh pending row with the given state.
UPDATE dwarf_steps
SET status = 'pending', state = sqlc.arg(state), state_base = 0, changes = '{}', interrupt_payload = '{}',
    goto_next = '', error = '', error_type = '', breakpoint_hit = 0, attempt = 0,
    engine_faults = 0,
    cohort_size = 0, cohort_arrivals = 0, cohort_failures = 0, successor_id = 0,
    interrupt_done = 0, resume_data = '{}', subgraph_done = 0, subgraph_result = '{}',
    subgraph_error = '', parked = 0, not_before = now(), lease_expires = now(),
    created_at = now(), started_at = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND status IN ('completed', 'failed', 'cancelled', 'interrupted');

-- name: RearmCallerStep :execrows
-- RestartFrom: re-park an ancestor caller step (running, parked = 1, slots cleared).
UPDATE dwarf_steps
SET status = 'running', parked = 1, subgraph_done = 0, subgraph_result = '{}', subgraph_error = '',
    interrupt_payload = '{}', successor_id = 0, lease_expires = now(), updated_at = now()
WHERE step_id = sqlc.arg(step_id) AND status <> 'cancelled';

-- name: DeleteStepsExcept :execrows
-- Restart: delete every step of a flow but one.
DELETE FROM dwarf_steps
WHERE flow_id = sqlc.arg(flow_id) AND step_id <> sqlc.arg(keep_step_id);

-- name: DeleteSteps :execrows
-- Delete a set of steps (RestartFrom sweep).
DELETE FROM dwarf_steps
WHERE step_id = ANY(sqlc.arg(step_ids)::bigint[]);

-- name: NoteStep :execrows
-- Record how a completed step's routing surprised (no transition matched, a type mismatch in a
-- when): a completed step has no error, so its error column holds the note (storage.md).
UPDATE dwarf_steps
SET error = sqlc.arg(note)
WHERE step_id = sqlc.arg(step_id) AND status = 'completed';
