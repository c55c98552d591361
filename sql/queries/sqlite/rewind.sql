-- Rewind and retention (SQLite): Restart, RestartFrom, Fork, Continue, Delete and Purge.
-- NOW is STRFTIME('%Y-%m-%d %H:%M:%f', 'now'). A copied step keeps its ages (ms before now),
-- re-stamped from now, so no timestamp is ever bound.

-- name: LockFlow :execrows
-- Take a flow row's write lock first (serializes Continue on a thread and breakpoint edits).
UPDATE dwarf_flows
SET flow_token = flow_token
WHERE flow_id = sqlc.arg(flow_id);

-- name: ListChildFlowsOf :many
-- Subgraph children of a set of flows (one level of a tree walk), oldest first.
SELECT flow_id, surgraph_flow_id, surgraph_step_id, status
FROM dwarf_flows
WHERE surgraph_flow_id IN (sqlc.slice(flow_ids)) AND surgraph_flow_id > 0
ORDER BY flow_id;

-- name: DropFlows :execrows
-- Delete a set of flow rows whatever their status (subgraph trees swept by a rewind).
DELETE FROM dwarf_flows
WHERE flow_id IN (sqlc.slice(flow_ids));

-- name: DropStepsOfFlows :execrows
-- Delete every step of a set of flows whatever their status (subgraph trees swept by a rewind).
DELETE FROM dwarf_steps
WHERE flow_id IN (sqlc.slice(flow_ids));

-- name: ListStepsForCopy :many
-- Every step of a flow with its payloads and its timestamps as ages in ms (Fork), by step_id.
SELECT step_id, step_depth, task_name, state, state_base, changes, interrupt_payload, status, goto_next,
       error, time_budget_ms, breakpoint_hit, attempt, lineage_id, cohort_size, fan_out_ordinal,
       predecessor_id, successor_id, interrupt_done, resume_data, subgraph_done,
       subgraph_result, subgraph_error,
       CAST(ROUND((JULIANDAY('now') - JULIANDAY(created_at)) * 86400000.0) AS INTEGER) AS created_age_ms,
       CAST(ROUND((JULIANDAY('now') - JULIANDAY(started_at)) * 86400000.0) AS INTEGER) AS started_age_ms,
       CAST(ROUND((JULIANDAY('now') - JULIANDAY(updated_at)) * 86400000.0) AS INTEGER) AS updated_age_ms
FROM dwarf_steps
WHERE flow_id = sqlc.arg(flow_id)
ORDER BY step_id;

-- name: InsertStepCopy :one
-- Insert a copy of a step (Fork): timestamps are now minus the original's ages; not leased.
INSERT INTO dwarf_steps (
    flow_id, step_depth, step_token, task_name, state, changes, interrupt_payload, status,
    goto_next, error, time_budget_ms, breakpoint_hit, attempt, lineage_id, cohort_size,
    cohort_arrivals, cohort_failures, fan_out_ordinal, predecessor_id, priority, fairness_key,
    fairness_weight, interrupt_done, resume_data, subgraph_done, subgraph_result,
    subgraph_error, parked, not_before, lease_expires, created_at, started_at, updated_at
) VALUES (
    sqlc.arg(flow_id), sqlc.arg(step_depth), sqlc.arg(step_token), sqlc.arg(task_name),
    sqlc.arg(state), sqlc.arg(changes), sqlc.arg(interrupt_payload), sqlc.arg(status),
    sqlc.arg(goto_next), sqlc.arg(error), sqlc.arg(time_budget_ms), sqlc.arg(breakpoint_hit),
    sqlc.arg(attempt), sqlc.arg(lineage_id), sqlc.arg(cohort_size), sqlc.arg(cohort_arrivals),
    sqlc.arg(cohort_failures), sqlc.arg(fan_out_ordinal), sqlc.arg(predecessor_id),
    sqlc.arg(priority), sqlc.arg(fairness_key), sqlc.arg(fairness_weight),
    sqlc.arg(interrupt_done), sqlc.arg(resume_data), sqlc.arg(subgraph_done),
    sqlc.arg(subgraph_result), sqlc.arg(subgraph_error), 0,
    STRFTIME('%Y-%m-%d %H:%M:%f', 'now'), STRFTIME('%Y-%m-%d %H:%M:%f', 'now'),
    STRFTIME('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', CAST(sqlc.arg(created_age_ms) AS INTEGER) / -1000.0)),
    STRFTIME('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', CAST(sqlc.arg(started_age_ms) AS INTEGER) / -1000.0)),
    STRFTIME('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', CAST(sqlc.arg(updated_age_ms) AS INTEGER) / -1000.0))
)
RETURNING step_id;

-- name: ClearStepError :exec
-- RestartFrom: forget a re-armed caller step's failure text and goto target.
UPDATE dwarf_steps
SET error = '', error_type = '', goto_next = ''
WHERE step_id = sqlc.arg(step_id);
