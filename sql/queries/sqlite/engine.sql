-- Engine hot-path statements (sqlite): fewer round trips per step.

-- name: ListFlowsOfBatch :many
-- Read the flows of a claimed batch in one statement.
SELECT flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
       surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
       thread_id, thread_token, forked_from_step, trace_parent, notify_hostname,
       final_state, breakpoints, error, error_type, cancel_reason, priority, fairness_key,
       fairness_weight, time_budget_ms, delete_on_completion, created_at, started_at, updated_at
FROM dwarf_flows
WHERE flow_id IN (sqlc.slice(flow_ids))
ORDER BY flow_id;

-- name: CompleteStepLinked :execrows
-- Mark the claimed step completed and link it to its (already inserted) successor.
UPDATE dwarf_steps
SET status = 'completed', changes = sqlc.arg(changes), goto_next = sqlc.arg(goto_next),
    successor_id = sqlc.arg(successor_id), parked = 0, lease_expires = STRFTIME('%Y-%m-%d %H:%M:%f', 'now'),
    updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: GetStepOrdinal :one
-- A step's branch ordinal (an inner fan-in inherits its spawn's).
SELECT fan_out_ordinal
FROM dwarf_steps
WHERE step_id = sqlc.arg(step_id);

-- name: DeferStep :execrows
-- Hand the claimed step back un-run, due after delay_ms; no attempt consumed.
UPDATE dwarf_steps
SET status = 'pending', not_before = STRFTIME('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', CAST(sqlc.arg(delay_ms) AS INTEGER) / 1000.0)),
    lease_expires = STRFTIME('%Y-%m-%d %H:%M:%f', 'now'), updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';
