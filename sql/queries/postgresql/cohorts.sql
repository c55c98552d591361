-- Fan-out cohorts, fan-in folds and the execution DAG (PostgreSQL).
-- Counters live on the spawn step; members carry lineage_id = spawn step_id (partial index
-- idx_dwarf_steps_lineage serves every lineage lookup).

-- name: AddCohortArrivals :execrows
-- Add (possibly negative) deltas to a spawn step's arrivals and failures.
UPDATE dwarf_steps
SET cohort_arrivals = cohort_arrivals + sqlc.arg(arrivals)::integer,
    cohort_failures = cohort_failures + sqlc.arg(failures)::integer
WHERE step_id = sqlc.arg(step_id);

-- name: GetCohort :one
-- Read a spawn step's cohort counters (every arrival reads them: no state, whose size grows
-- with a forEach's array, so an arrival costs the same whatever the cohort's width).
SELECT cohort_size, cohort_arrivals, cohort_failures, lineage_id, flow_id, task_name, step_depth
FROM dwarf_steps
WHERE step_id = sqlc.arg(step_id);

-- name: GetStepInput :one
-- Read what a step's input and its successors' inputs are built from: its stored state (whole,
-- or its overlay on state_base's successor snapshot) and its changes (a fan-in's base, a branch's
-- shared input).
SELECT state, state_base, changes
FROM dwarf_steps
WHERE step_id = sqlc.arg(step_id);

-- name: SetCohortSize :exec
-- Record the number of branches spawned.
UPDATE dwarf_steps
SET cohort_size = sqlc.arg(cohort_size)
WHERE step_id = sqlc.arg(step_id);

-- name: SetStepSuccessor :exec
-- Set a step's DAG successor.
UPDATE dwarf_steps
SET successor_id = sqlc.arg(successor_id)
WHERE step_id = sqlc.arg(step_id);

-- name: ListStepDAG :many
-- Graph-walk columns of every step of a flow.
SELECT step_id, step_token, predecessor_id, successor_id, lineage_id, status, task_name,
       cohort_size, cohort_arrivals, cohort_failures, fan_out_ordinal, step_depth,
       interrupt_done, breakpoint_hit, parked, updated_at
FROM dwarf_steps
WHERE flow_id = sqlc.arg(flow_id)
ORDER BY step_id;

-- name: ListCohortPage :many
-- A page of a cohort's members (every status) in step id order, after after_id: what the arrival
-- firing a fan-in needs to order its fold, link its exits and place it, read a page at a time so
-- a cohort of 100,000 members is never one result (docs/internals/fan-in.md#f14).
SELECT step_id, fan_out_ordinal, cohort_size, status, successor_id, task_name, step_depth
FROM dwarf_steps
WHERE lineage_id = sqlc.arg(lineage_id) AND lineage_id > 0 AND step_id > sqlc.arg(after_id)::bigint
ORDER BY step_id
LIMIT sqlc.arg(row_limit)::integer;

-- name: ListStepChanges :many
-- The changes of the given steps (a fan-in reads its members' deltas a page at a time).
SELECT step_id, changes
FROM dwarf_steps
WHERE step_id = ANY(sqlc.arg(step_ids)::bigint[]);

-- name: SetStepsSuccessor :exec
-- Point those of the given steps that have no successor yet at successor_id (a fan-in's exits,
-- a page at a time).
UPDATE dwarf_steps
SET successor_id = sqlc.arg(successor_id)
WHERE step_id = ANY(sqlc.arg(step_ids)::bigint[]) AND successor_id = 0;
