-- Listing, purge selection, counts and liveness (PostgreSQL).
-- ListFlows filters are switched off by their zero value ('' / 0 / negative) so one prepared
-- statement serves every Query; search is a ready-made LIKE pattern escaped with '\'.

-- name: ListFlows :many
-- List root flows newest first; each filter is off at its zero value.
SELECT f.flow_id, f.flow_token, f.thread_id, f.thread_token, f.workflow_name, f.status,
       COALESCE(s.task_name, '')::varchar AS task_name, f.error, f.cancel_reason,
       f.priority, f.fairness_key, f.created_at, f.started_at, f.updated_at
FROM dwarf_flows f
LEFT JOIN dwarf_steps s ON s.step_id = f.step_id AND f.step_id > 0
WHERE f.surgraph_flow_id = 0
  AND (sqlc.arg(status)::varchar = '' OR f.status = sqlc.arg(status)::varchar)
  AND (sqlc.arg(workflow_name)::varchar = '' OR f.workflow_name = sqlc.arg(workflow_name)::varchar)
  AND (sqlc.arg(thread_id)::bigint <= 0 OR f.thread_id = sqlc.arg(thread_id)::bigint)
  AND (sqlc.arg(task_name)::varchar = '' OR s.task_name = sqlc.arg(task_name)::varchar)
  AND (sqlc.arg(fairness_key)::varchar = '' OR f.fairness_key = sqlc.arg(fairness_key)::varchar)
  AND (sqlc.arg(priority)::integer <= 0 OR f.priority = sqlc.arg(priority)::integer)
  AND (sqlc.arg(older_than_ms)::bigint <= 0
       OR f.updated_at <= now() - sqlc.arg(older_than_ms)::bigint * INTERVAL '1 millisecond')
  AND (sqlc.arg(newer_than_ms)::bigint <= 0
       OR f.updated_at >= now() - sqlc.arg(newer_than_ms)::bigint * INTERVAL '1 millisecond')
  AND (sqlc.arg(before_flow_id)::bigint <= 0 OR f.flow_id < sqlc.arg(before_flow_id)::bigint)
  AND (sqlc.arg(search)::varchar = ''
       OR f.workflow_name ILIKE sqlc.arg(search)::varchar ESCAPE '\'
       OR COALESCE(s.task_name, '') ILIKE sqlc.arg(search)::varchar ESCAPE '\'
       OR f.error ILIKE sqlc.arg(search)::varchar ESCAPE '\'
       OR f.cancel_reason ILIKE sqlc.arg(search)::varchar ESCAPE '\')
ORDER BY f.flow_id DESC
LIMIT sqlc.arg(row_limit)::integer;

-- name: SelectPurgeCandidates :many
-- Root, non-running flow ids matching a purge query, oldest first.
SELECT flow_id
FROM dwarf_flows
WHERE surgraph_flow_id = 0 AND status <> 'running'
  AND (sqlc.arg(status)::varchar = '' OR status = sqlc.arg(status)::varchar)
  AND (sqlc.arg(workflow_name)::varchar = '' OR workflow_name = sqlc.arg(workflow_name)::varchar)
  AND (sqlc.arg(older_than_ms)::bigint <= 0
       OR updated_at <= now() - sqlc.arg(older_than_ms)::bigint * INTERVAL '1 millisecond')
ORDER BY flow_id
LIMIT sqlc.arg(row_limit)::integer;

-- name: SelectReapableFlows :many
-- The reaper's batch: root flows created with delete_on_completion that completed at least
-- grace_ms ago and (window_ms > 0) at most window_ms ago, oldest first. idx_dwarf_flows_status
-- serves the range; the window keeps a routine round off the older completed flows.
SELECT flow_id
FROM dwarf_flows
WHERE status = 'completed' AND delete_on_completion = 1 AND surgraph_flow_id = 0
  AND updated_at <= now() - sqlc.arg(grace_ms)::bigint * INTERVAL '1 millisecond'
  AND (sqlc.arg(window_ms)::bigint <= 0
       OR updated_at >= now() - sqlc.arg(window_ms)::bigint * INTERVAL '1 millisecond')
ORDER BY updated_at
LIMIT sqlc.arg(row_limit)::integer;

-- name: CountFlows :one
-- Count flow rows (shard info).
SELECT COUNT(*)::bigint AS flow_count FROM dwarf_flows;

-- name: CountSteps :one
-- Count step rows (shard info).
SELECT COUNT(*)::bigint AS step_count FROM dwarf_steps;

-- name: Ping :one
-- Liveness probe (shard latency).
SELECT 1::integer AS ping;

-- name: FlowsProgress :one
-- Fingerprint input over a set of flows: step count and newest step update.
SELECT COUNT(*)::bigint AS step_count,
       COALESCE(((EXTRACT(EPOCH FROM MAX(updated_at)) * 1000000)::bigint)::varchar, '')::varchar AS max_updated_at
FROM dwarf_steps
WHERE flow_id = ANY(sqlc.arg(flow_ids)::bigint[]);
