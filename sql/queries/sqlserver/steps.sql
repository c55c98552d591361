-- Step rows: insert, lookups, and every post-execution write (SQL Server, hand-written T-SQL).
-- Writes made by the worker that claimed a step carry "AND lease_seq = ?" (lease fencing): a
-- worker whose lease was re-granted to a peer matches zero rows and abandons quietly.
-- Durations are bound as integer milliseconds and added to the database clock here, as seconds
-- plus the millisecond remainder: DATEADD takes an INT, and 25 days of milliseconds overflow it.

-- name: InsertStep :one
-- Insert a step; not_before = NOW + delay_ms, lease_expires = NOW.
INSERT INTO dwarf_steps (
    flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
    lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight, parked,
    state_base,
    not_before, lease_expires, created_at, started_at, updated_at
)
OUTPUT INSERTED.step_id
VALUES (
    @flow_id, @step_depth, @step_token, @task_name,
    @state, @changes, @status, @time_budget_ms,
    @lineage_id, @fan_out_ordinal, @predecessor_id, @priority,
    @fairness_key, @fairness_weight, @parked, @state_base,
    DATEADD(MILLISECOND, @delay_ms % 1000, DATEADD(SECOND, @delay_ms / 1000, SYSUTCDATETIME())),
    SYSUTCDATETIME(), SYSUTCDATETIME(), SYSUTCDATETIME(), SYSUTCDATETIME()
);

-- name: GetStep :one
-- Read a step by key (id and token).
SELECT step_id, flow_id, step_depth, step_token, task_name, state, state_base, changes, interrupt_payload,
       status, goto_next, error, error_type, time_budget_ms, breakpoint_hit, attempt, lineage_id,
       cohort_size, cohort_arrivals, cohort_failures, fan_out_ordinal, predecessor_id,
       successor_id, priority, fairness_key, fairness_weight, interrupt_done, resume_data,
       subgraph_done, subgraph_result, subgraph_error, parked, lease_seq, lease_owner,
       not_before, lease_expires, created_at, started_at, updated_at
FROM dwarf_steps
WHERE step_id = @step_id AND step_token = @step_token;

-- name: GetStepByID :one
-- Read a step by id.
SELECT step_id, flow_id, step_depth, step_token, task_name, state, state_base, changes, interrupt_payload,
       status, goto_next, error, error_type, time_budget_ms, breakpoint_hit, attempt, lineage_id,
       cohort_size, cohort_arrivals, cohort_failures, fan_out_ordinal, predecessor_id,
       successor_id, priority, fairness_key, fairness_weight, interrupt_done, resume_data,
       subgraph_done, subgraph_result, subgraph_error, parked, lease_seq, lease_owner,
       not_before, lease_expires, created_at, started_at, updated_at
FROM dwarf_steps
WHERE step_id = @step_id;

-- name: SelectTailSteps :many
-- DAG tail steps (successor_id = 0) for the final state.
SELECT step_id, task_name, status, lineage_id, state, state_base, changes
FROM dwarf_steps
WHERE flow_id = @flow_id AND successor_id = 0
ORDER BY step_id;

-- name: GetInterruptedSteps :many
-- Interrupted steps of a flow, earliest updated first.
SELECT step_id, step_token, flow_id, step_depth, task_name, state, state_base, changes, interrupt_payload,
       interrupt_done, breakpoint_hit, parked, updated_at
FROM dwarf_steps
WHERE flow_id = @flow_id AND status = 'interrupted'
ORDER BY updated_at, step_id;

-- name: FirstFailedStepError :one
-- Error of the first failed step (cohort failure message).
SELECT error
FROM dwarf_steps
WHERE flow_id = @flow_id AND status = 'failed'
ORDER BY step_id
OFFSET 0 ROWS FETCH NEXT 1 ROWS ONLY;

-- name: CompleteStep :execrows
-- Mark the claimed step completed with its accumulated changes.
UPDATE dwarf_steps
SET status = 'completed', changes = @changes, goto_next = @goto_next,
    parked = 0, lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: FailStep :execrows
-- Mark the claimed step failed.
UPDATE dwarf_steps
SET status = 'failed', error = @error, error_type = @error_type, parked = 0, lease_expires = SYSUTCDATETIME(),
    updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: RetryStep :execrows
-- Rewind the claimed step for a retry: attempt + 1, not_before = NOW + delay_ms, park slots cleared.
UPDATE dwarf_steps
SET status = 'pending', changes = @changes, attempt = attempt + 1,
    not_before = DATEADD(MILLISECOND, @delay_ms % 1000, DATEADD(SECOND, @delay_ms / 1000, SYSUTCDATETIME())),
    lease_expires = SYSUTCDATETIME(), parked = 0, interrupt_done = 0, resume_data = '{}',
    subgraph_done = 0, subgraph_result = '{}', subgraph_error = '', updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: ParkStepForSubgraph :execrows
-- Park the caller (parked = 1, no lease) before its child starts; saves changes.
UPDATE dwarf_steps
SET parked = 1, changes = @changes, updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq
  AND status = 'running' AND parked = 0;

-- name: InterruptLeafStep :execrows
-- Interrupt the claimed step: changes saved, interrupt_done = 1, payload only where still '{}'.
UPDATE dwarf_steps
SET status = 'interrupted', parked = 0, lease_expires = SYSUTCDATETIME(), changes = @changes,
    interrupt_done = 1,
    interrupt_payload = CASE WHEN interrupt_payload = N'{}'
                             THEN @interrupt_payload
                             ELSE interrupt_payload END,
    updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: InterruptCallerStep :execrows
-- Propagate an interrupt to a caller step up the chain (parked cleared; payload first writer wins).
UPDATE dwarf_steps
SET status = 'interrupted', parked = 0, lease_expires = SYSUTCDATETIME(),
    interrupt_payload = CASE WHEN interrupt_payload = N'{}'
                             THEN @interrupt_payload
                             ELSE interrupt_payload END,
    updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND status IN ('running', 'interrupted');

-- name: BreakpointLeafStep :execrows
-- Pause the claimed step at a breakpoint: interrupted, breakpoint_hit = 1.
UPDATE dwarf_steps
SET status = 'interrupted', breakpoint_hit = 1, parked = 0, lease_expires = SYSUTCDATETIME(),
    updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: BreakpointCallerStep :execrows
-- Propagate a breakpoint pause to a caller step (parked kept).
UPDATE dwarf_steps
SET status = 'interrupted', lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND status IN ('running', 'interrupted');

-- name: ReviveCallerStep :execrows
-- Deliver a child's outcome to its parked caller and make it due.
UPDATE dwarf_steps
SET status = 'pending', parked = 0, subgraph_done = 1,
    subgraph_result = @subgraph_result, subgraph_error = @subgraph_error,
    lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND status = 'running' AND parked = 1;

-- name: ResumeLeafStep :execrows
-- Resume an interrupted leaf with resume data; payload cleared.
UPDATE dwarf_steps
SET status = 'pending', parked = 0, resume_data = @resume_data, interrupt_payload = '{}',
    lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND status = 'interrupted' AND interrupt_done = 1;

-- name: ResumeBreakStep :execrows
-- Resume a breakpoint-paused leaf with its merged state.
UPDATE dwarf_steps
SET status = 'pending', parked = 0, state = @state, state_base = 0, interrupt_payload = '{}',
    lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND status = 'interrupted'
  AND breakpoint_hit = 1 AND interrupt_done = 0;

-- name: ResumeCallerStep :execrows
-- Put an interrupted caller step back to running, parked = 1.
UPDATE dwarf_steps
SET status = 'running', parked = 1, interrupt_payload = '{}', updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND status = 'interrupted';

-- name: CancelFlowSteps :execrows
-- Cancel every live step of a flow.
UPDATE dwarf_steps
SET status = 'cancelled', parked = 0, lease_expires = SYSUTCDATETIME(),
    updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status IN ('created', 'pending', 'running', 'interrupted');

-- name: SetStepStatusFromFlow :execrows
-- Copy a terminal flow status onto the step just claimed.
UPDATE dwarf_steps
SET status = @status, parked = 0, lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: CountEngineFault :execrows
-- The engine failed processing the claimed step: engine_faults + 1 (fenced, status unchanged).
UPDATE dwarf_steps
SET engine_faults = engine_faults + 1
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: GetEngineFaults :one
-- How often the engine failed processing a step.
SELECT engine_faults FROM dwarf_steps WHERE step_id = @step_id;

-- name: ResetContendedStep :execrows
-- Lock-contention reset: running -> pending, lease = NOW.
UPDATE dwarf_steps
SET status = 'pending', lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: ResetStep :execrows
-- Restart/RestartFrom: reset a step to a fresh pending row with the given state.
UPDATE dwarf_steps
SET status = 'pending', state = @state, state_base = 0, changes = '{}', interrupt_payload = '{}',
    goto_next = '', error = '', error_type = '', breakpoint_hit = 0, attempt = 0,
    engine_faults = 0,
    cohort_size = 0, cohort_arrivals = 0, cohort_failures = 0, successor_id = 0,
    interrupt_done = 0, resume_data = '{}', subgraph_done = 0, subgraph_result = '{}',
    subgraph_error = '', parked = 0, not_before = SYSUTCDATETIME(),
    lease_expires = SYSUTCDATETIME(),
    created_at = SYSUTCDATETIME(), started_at = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND status IN ('completed', 'failed', 'cancelled', 'interrupted');

-- name: RearmCallerStep :execrows
-- RestartFrom: re-park an ancestor caller step (running, parked = 1, slots cleared).
UPDATE dwarf_steps
SET status = 'running', parked = 1, subgraph_done = 0, subgraph_result = '{}', subgraph_error = '',
    interrupt_payload = '{}', successor_id = 0, lease_expires = SYSUTCDATETIME(),
    updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND status <> 'cancelled';

-- name: DeleteStepsExcept :execrows
-- Restart: delete every step of a flow but one.
DELETE FROM dwarf_steps
WHERE flow_id = @flow_id AND step_id <> @keep_step_id;

-- name: DeleteSteps :execrows
-- Delete a set of steps (RestartFrom sweep).
DELETE FROM dwarf_steps
WHERE step_id IN (/*SLICE:step_ids*/@step_ids);

-- name: NoteStep :execrows
-- Record how a completed step's routing surprised (no transition matched, a type mismatch in a
-- when): a completed step has no error, so its error column holds the note (storage.md).
UPDATE dwarf_steps
SET error = @note
WHERE step_id = @step_id AND status = 'completed';
