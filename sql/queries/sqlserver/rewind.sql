-- Rewind and retention (SQL Server, hand-written T-SQL): Restart, RestartFrom, Fork, Continue,
-- Delete and Purge. A copied step keeps its ages (ms before SYSUTCDATETIME()), re-stamped from
-- the database clock, so no timestamp is ever bound. DATEADD takes an INT: seconds + remainder.

-- name: LockFlow :execrows
-- Take a flow row's write lock first (serializes Continue on a thread and breakpoint edits).
UPDATE dwarf_flows
SET flow_token = flow_token
WHERE flow_id = @flow_id;

-- name: ListChildFlowsOf :many
-- Subgraph children of a set of flows (one level of a tree walk), oldest first.
SELECT flow_id, surgraph_flow_id, surgraph_step_id, status
FROM dwarf_flows
WHERE surgraph_flow_id IN (/*SLICE:flow_ids*/@flow_ids) AND surgraph_flow_id > 0
ORDER BY flow_id;

-- name: DropFlows :execrows
-- Delete a set of flow rows whatever their status (subgraph trees swept by a rewind).
DELETE FROM dwarf_flows
WHERE flow_id IN (/*SLICE:flow_ids*/@flow_ids);

-- name: DropStepsOfFlows :execrows
-- Delete every step of a set of flows whatever their status (subgraph trees swept by a rewind).
DELETE FROM dwarf_steps
WHERE flow_id IN (/*SLICE:flow_ids*/@flow_ids);

-- name: ListStepsForCopy :many
-- Every step of a flow with its payloads and its timestamps as ages in ms (Fork), by step_id.
SELECT step_id, step_depth, task_name, state, state_base, changes, interrupt_payload, status, goto_next,
       error, time_budget_ms, breakpoint_hit, attempt, lineage_id, cohort_size, fan_out_ordinal,
       predecessor_id, successor_id, interrupt_done, resume_data, subgraph_done,
       subgraph_result, subgraph_error,
       DATEDIFF_BIG(MILLISECOND, created_at, SYSUTCDATETIME()) AS created_age_ms,
       DATEDIFF_BIG(MILLISECOND, started_at, SYSUTCDATETIME()) AS started_age_ms,
       DATEDIFF_BIG(MILLISECOND, updated_at, SYSUTCDATETIME()) AS updated_age_ms
FROM dwarf_steps
WHERE flow_id = @flow_id
ORDER BY step_id;

-- name: InsertStepCopy :one
-- Insert a copy of a step (Fork): timestamps are now minus the original's ages; not leased.
INSERT INTO dwarf_steps (
    flow_id, step_depth, step_token, task_name, state, changes, interrupt_payload, status,
    goto_next, error, time_budget_ms, breakpoint_hit, attempt, lineage_id, cohort_size,
    cohort_arrivals, cohort_failures, fan_out_ordinal, predecessor_id, priority, fairness_key,
    fairness_weight, interrupt_done, resume_data, subgraph_done, subgraph_result,
    subgraph_error, parked, not_before, lease_expires, created_at, started_at, updated_at
)
OUTPUT INSERTED.step_id
VALUES (
    @flow_id, @step_depth, @step_token, @task_name,
    @state, @changes, @interrupt_payload, @status,
    @goto_next, @error, @time_budget_ms, @breakpoint_hit,
    @attempt, @lineage_id, @cohort_size, @cohort_arrivals,
    @cohort_failures, @fan_out_ordinal, @predecessor_id,
    @priority, @fairness_key, @fairness_weight,
    @interrupt_done, @resume_data, @subgraph_done,
    @subgraph_result, @subgraph_error, 0, SYSUTCDATETIME(), SYSUTCDATETIME(),
    DATEADD(MILLISECOND, -(@created_age_ms % 1000), DATEADD(SECOND, -(@created_age_ms / 1000), SYSUTCDATETIME())),
    DATEADD(MILLISECOND, -(@started_age_ms % 1000), DATEADD(SECOND, -(@started_age_ms / 1000), SYSUTCDATETIME())),
    DATEADD(MILLISECOND, -(@updated_age_ms % 1000), DATEADD(SECOND, -(@updated_age_ms / 1000), SYSUTCDATETIME()))
);

-- name: ClearStepError :exec
-- RestartFrom: forget a re-armed caller step's failure text and goto target.
UPDATE dwarf_steps
SET error = '', error_type = '', goto_next = ''
WHERE step_id = @step_id;
