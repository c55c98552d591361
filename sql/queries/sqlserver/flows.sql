-- Flow-row lifecycle and lookups (SQL Server). Hand-written T-SQL: sqlc has no SQL Server
-- engine, so these mirror the sqlc dialects' names, params and result columns exactly.
-- SYSUTCDATETIME() is the database clock (a runtime constant within a statement). Statuses are
-- inlined literals: a bound status defeats the filtered indexes.

-- name: InsertFlow :one
-- Insert a flow row; all three timestamps = NOW.
INSERT INTO dwarf_flows (
    flow_token, workflow_name, graph, baggage, status,
    surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
    thread_id, thread_token, forked_from_step, trace_parent, breakpoints,
    priority, fairness_key, fairness_weight, time_budget_ms, delete_on_completion,
    created_at, started_at, updated_at
)
OUTPUT INSERTED.flow_id
VALUES (
    @flow_token, @workflow_name, @graph, @baggage, @status,
    @surgraph_flow_id, @surgraph_step_depth, @surgraph_step_id, @root_flow_id,
    @thread_id, @thread_token, @forked_from_step, @trace_parent, @breakpoints,
    @priority, @fairness_key, @fairness_weight, @time_budget_ms, @delete_on_completion,
    SYSUTCDATETIME(), SYSUTCDATETIME(), SYSUTCDATETIME()
);

-- name: AdoptFlowIdentity :exec
-- Make a new flow its own thread (thread_id/token := own id/token) and its own root, and
-- record its entry step (0 while there is none yet).
UPDATE dwarf_flows
SET step_id = @step_id,
    thread_token = CASE WHEN thread_id = 0 THEN flow_token ELSE thread_token END,
    thread_id = CASE WHEN thread_id = 0 THEN flow_id ELSE thread_id END,
    root_flow_id = CASE WHEN root_flow_id = 0 THEN flow_id ELSE root_flow_id END
WHERE flow_id = @flow_id;

-- name: GetFlow :one
-- Read a flow by key (id and token).
SELECT flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
       surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
       thread_id, thread_token, forked_from_step, trace_parent, notify_hostname,
       final_state, breakpoints, error, error_type, cancel_reason, priority, fairness_key,
       fairness_weight, time_budget_ms, delete_on_completion, created_at, started_at, updated_at
FROM dwarf_flows
WHERE flow_id = @flow_id AND flow_token = @flow_token;

-- name: GetFlowByID :one
-- Read a flow by id (internal lookups).
SELECT flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
       surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
       thread_id, thread_token, forked_from_step, trace_parent, notify_hostname,
       final_state, breakpoints, error, error_type, cancel_reason, priority, fairness_key,
       fairness_weight, time_budget_ms, delete_on_completion, created_at, started_at, updated_at
FROM dwarf_flows
WHERE flow_id = @flow_id;

-- name: StartFlow :execrows
-- Start a created flow: status running, notify host, started_at = NOW.
UPDATE dwarf_flows
SET status = 'running', notify_hostname = @notify_hostname,
    started_at = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status = 'created';

-- name: TouchFlow :execrows
-- Record the current step and bump updated_at; the gate write opening a transition tx.
UPDATE dwarf_flows
SET step_id = @step_id, updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status NOT IN ('completed', 'failed', 'cancelled');

-- name: CompleteFlow :execrows
-- Terminalize as completed with its final state.
UPDATE dwarf_flows
SET status = 'completed', final_state = @final_state, updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status NOT IN ('completed', 'failed', 'cancelled');

-- name: FailFlow :execrows
-- Terminalize as failed with error and final state (first failure wins).
UPDATE dwarf_flows
SET status = 'failed', error = @error, error_type = @error_type, final_state = @final_state, updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status NOT IN ('completed', 'failed', 'cancelled');

-- name: CancelFlow :execrows
-- Terminalize as cancelled with reason and final state (first cancel wins).
UPDATE dwarf_flows
SET status = 'cancelled', cancel_reason = @cancel_reason, final_state = @final_state,
    updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status IN ('created', 'running', 'interrupted');

-- name: InterruptFlow :execrows
-- Mark a chain flow interrupted.
UPDATE dwarf_flows
SET status = 'interrupted', updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status IN ('running', 'interrupted');

-- name: ResumeFlow :execrows
-- Flip an interrupted flow back to running once none of its steps is interrupted.
UPDATE dwarf_flows
SET status = 'running', updated_at = SYSUTCDATETIME()
WHERE dwarf_flows.flow_id = @flow_id AND dwarf_flows.status = 'interrupted'
  AND NOT EXISTS (
      SELECT 1 FROM dwarf_steps s
      WHERE s.flow_id = dwarf_flows.flow_id AND s.status = 'interrupted'
  );

-- name: RestartFlow :execrows
-- Restart: running, clear error/reason/final state, created_at = started_at = NOW.
UPDATE dwarf_flows
SET status = 'running', error = '', error_type = '', cancel_reason = '', final_state = '{}',
    created_at = SYSUTCDATETIME(), started_at = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status IN ('completed', 'failed', 'cancelled', 'interrupted');

-- name: ReviveFlow :execrows
-- RestartFrom: flip a flow (or ancestor) to running, clearing error/reason/final state.
UPDATE dwarf_flows
SET status = 'running', error = '', error_type = '', cancel_reason = '', final_state = '{}',
    updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id AND status <> 'running';

-- name: SetFlowBreakpoints :execrows
-- Replace the breakpoints map.
UPDATE dwarf_flows
SET breakpoints = @breakpoints, updated_at = SYSUTCDATETIME()
WHERE flow_id = @flow_id;

-- name: DeleteFlow :execrows
-- Delete one flow row.
DELETE FROM dwarf_flows
WHERE flow_id = @flow_id AND status <> 'running';

-- name: DeleteFlowSteps :execrows
-- Delete every step of one flow.
DELETE FROM dwarf_steps
WHERE flow_id = @flow_id;

-- name: DeleteFlows :execrows
-- Purge: delete a batch of flow rows.
DELETE FROM dwarf_flows
WHERE flow_id IN (/*SLICE:flow_ids*/@flow_ids) AND status <> 'running';

-- name: DeleteStepsOfFlows :execrows
-- Purge: delete the steps of a batch of flows.
DELETE FROM dwarf_steps
WHERE dwarf_steps.flow_id IN (/*SLICE:flow_ids*/@flow_ids)
  AND NOT EXISTS (
      SELECT 1 FROM dwarf_flows f
      WHERE f.flow_id = dwarf_steps.flow_id AND f.status = 'running'
  );

-- name: ListChildFlows :many
-- Subgraph children of a flow, oldest first.
SELECT flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
       surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
       thread_id, thread_token, forked_from_step, trace_parent, notify_hostname,
       final_state, breakpoints, error, error_type, cancel_reason, priority, fairness_key,
       fairness_weight, time_budget_ms, delete_on_completion, created_at, started_at, updated_at
FROM dwarf_flows
WHERE surgraph_flow_id = @surgraph_flow_id AND surgraph_flow_id > 0
ORDER BY flow_id;

-- name: GetChildFlowOfStep :one
-- Newest child flow launched by a caller step.
SELECT flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
       surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
       thread_id, thread_token, forked_from_step, trace_parent, notify_hostname,
       final_state, breakpoints, error, error_type, cancel_reason, priority, fairness_key,
       fairness_weight, time_budget_ms, delete_on_completion, created_at, started_at, updated_at
FROM dwarf_flows
WHERE surgraph_step_id = @surgraph_step_id AND surgraph_step_id > 0
ORDER BY flow_id DESC
OFFSET 0 ROWS FETCH NEXT 1 ROWS ONLY;

-- name: GetLatestThreadFlow :one
-- Newest flow of a thread (Continue).
SELECT flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
       surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
       thread_id, thread_token, forked_from_step, trace_parent, notify_hostname,
       final_state, breakpoints, error, error_type, cancel_reason, priority, fairness_key,
       fairness_weight, time_budget_ms, delete_on_completion, created_at, started_at, updated_at
FROM dwarf_flows
WHERE thread_id = @thread_id AND thread_token = @thread_token
ORDER BY flow_id DESC
OFFSET 0 ROWS FETCH NEXT 1 ROWS ONLY;
