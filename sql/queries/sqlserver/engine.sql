-- Engine hot-path statements (sqlserver): fewer round trips per step.

-- name: ListFlowsOfBatch :many
-- Read the flows of a claimed batch in one statement.
SELECT flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
       surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
       thread_id, thread_token, forked_from_step, trace_parent, notify_hostname,
       final_state, breakpoints, error, error_type, cancel_reason, priority, fairness_key,
       fairness_weight, time_budget_ms, delete_on_completion, created_at, started_at, updated_at
FROM dwarf_flows
WHERE flow_id IN (/*SLICE:flow_ids*/@flow_ids)
ORDER BY flow_id;

-- name: CompleteStepLinked :execrows
-- Mark the claimed step completed and link it to its (already inserted) successor.
UPDATE dwarf_steps
SET status = 'completed', changes = @changes, goto_next = @goto_next,
    successor_id = @successor_id, parked = 0, lease_expires = SYSUTCDATETIME(),
    updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';

-- name: GetStepOrdinal :one
-- A step's branch ordinal (an inner fan-in inherits its spawn's).
SELECT fan_out_ordinal
FROM dwarf_steps
WHERE step_id = @step_id;

-- name: DeferStep :execrows
-- Hand the claimed step back un-run, due after delay_ms; no attempt consumed.
UPDATE dwarf_steps
SET status = 'pending', not_before = DATEADD(MILLISECOND, @delay_ms % 1000, DATEADD(SECOND, @delay_ms / 1000, SYSUTCDATETIME())),
    lease_expires = SYSUTCDATETIME(), updated_at = SYSUTCDATETIME()
WHERE step_id = @step_id AND lease_seq = @lease_seq AND status = 'running';
