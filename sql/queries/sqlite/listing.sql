-- Listing, purge selection, counts and liveness (SQLite).
-- ListFlows filters are switched off by their zero value ('' / 0 / negative) so one prepared
-- statement serves every Query; the first use of a reused parameter is CAST so sqlc can type
-- it. search is a ready-made LIKE pattern escaped with '\', matched through LOWER() on both
-- sides. Each LIKE ... ESCAPE term is parenthesized: sqlc's SQLite grammar otherwise reads
-- "ESCAPE '\' OR next_term" as one escape expression.

-- name: ListFlows :many
-- List root flows newest first; each filter is off at its zero value.
SELECT f.flow_id, f.flow_token, f.thread_id, f.thread_token, f.workflow_name, f.status,
       CAST(COALESCE(s.task_name, '') AS TEXT) AS task_name, f.error, f.cancel_reason,
       f.priority, f.fairness_key, f.created_at, f.started_at, f.updated_at
FROM dwarf_flows f
LEFT JOIN dwarf_steps s ON s.step_id = f.step_id AND f.step_id > 0
WHERE f.surgraph_flow_id = 0
  AND (CAST(sqlc.arg(status) AS TEXT) = '' OR f.status = sqlc.arg(status))
  AND (CAST(sqlc.arg(workflow_name) AS TEXT) = '' OR f.workflow_name = sqlc.arg(workflow_name))
  AND (CAST(sqlc.arg(thread_id) AS INTEGER) <= 0 OR f.thread_id = sqlc.arg(thread_id))
  AND (CAST(sqlc.arg(task_name) AS TEXT) = '' OR s.task_name = sqlc.arg(task_name))
  AND (CAST(sqlc.arg(fairness_key) AS TEXT) = '' OR f.fairness_key = sqlc.arg(fairness_key))
  AND (CAST(sqlc.arg(priority) AS INTEGER) <= 0 OR f.priority = sqlc.arg(priority))
  AND (CAST(sqlc.arg(older_than_ms) AS INTEGER) <= 0
       OR f.updated_at <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now',
                                   printf('%+.3f seconds', -sqlc.arg(older_than_ms) / 1000.0)))
  AND (CAST(sqlc.arg(newer_than_ms) AS INTEGER) <= 0
       OR f.updated_at >= STRFTIME('%Y-%m-%d %H:%M:%f', 'now',
                                   printf('%+.3f seconds', -sqlc.arg(newer_than_ms) / 1000.0)))
  AND (CAST(sqlc.arg(before_flow_id) AS INTEGER) <= 0 OR f.flow_id < sqlc.arg(before_flow_id))
  AND (CAST(sqlc.arg(search) AS TEXT) = ''
       OR (LOWER(f.workflow_name) LIKE LOWER(sqlc.arg(search)) ESCAPE '\')
       OR (LOWER(COALESCE(s.task_name, '')) LIKE LOWER(sqlc.arg(search)) ESCAPE '\')
       OR (LOWER(f.error) LIKE LOWER(sqlc.arg(search)) ESCAPE '\')
       OR (LOWER(f.cancel_reason) LIKE LOWER(sqlc.arg(search)) ESCAPE '\'))
ORDER BY f.flow_id DESC
LIMIT sqlc.arg(row_limit);

-- name: SelectPurgeCandidates :many
-- Root, non-running flow ids matching a purge query, oldest first.
SELECT flow_id
FROM dwarf_flows
WHERE surgraph_flow_id = 0 AND status <> 'running'
  AND (CAST(sqlc.arg(status) AS TEXT) = '' OR status = sqlc.arg(status))
  AND (CAST(sqlc.arg(workflow_name) AS TEXT) = '' OR workflow_name = sqlc.arg(workflow_name))
  AND (CAST(sqlc.arg(older_than_ms) AS INTEGER) <= 0
       OR updated_at <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now',
                                 printf('%+.3f seconds', -sqlc.arg(older_than_ms) / 1000.0)))
ORDER BY flow_id
LIMIT sqlc.arg(row_limit);

-- name: SelectReapableFlows :many
-- The reaper's batch: root flows created with delete_on_completion that completed at least
-- grace_ms ago and (window_ms > 0) at most window_ms ago, oldest first. idx_dwarf_flows_status
-- serves the range; the window keeps a routine round off the older completed flows.
SELECT flow_id
FROM dwarf_flows
WHERE status = 'completed' AND delete_on_completion = 1 AND surgraph_flow_id = 0
  AND updated_at <= STRFTIME('%Y-%m-%d %H:%M:%f', 'now',
                             printf('%+.3f seconds', -CAST(sqlc.arg(grace_ms) AS INTEGER) / 1000.0))
  AND (CAST(sqlc.arg(window_ms) AS INTEGER) <= 0
       OR updated_at >= STRFTIME('%Y-%m-%d %H:%M:%f', 'now',
                                 printf('%+.3f seconds', -sqlc.arg(window_ms) / 1000.0)))
ORDER BY updated_at
LIMIT sqlc.arg(row_limit);

-- name: CountFlows :one
-- Count flow rows (shard info).
SELECT COUNT(*) AS flow_count FROM dwarf_flows;

-- name: CountSteps :one
-- Count step rows (shard info).
SELECT COUNT(*) AS step_count FROM dwarf_steps;

-- name: Ping :one
-- Liveness probe (shard latency).
SELECT 1 AS ping;

-- name: FlowsProgress :one
-- Fingerprint input over a set of flows: step count and newest step update.
SELECT COUNT(*) AS step_count, CAST(COALESCE(MAX(updated_at), '') AS TEXT) AS max_updated_at
FROM dwarf_steps
WHERE flow_id IN (sqlc.slice(flow_ids));
