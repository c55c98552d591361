-- Listing, purge selection, counts and liveness (MySQL / MariaDB).
-- ListFlows filters are switched off by their zero value ('' / 0 / negative) so one prepared
-- statement serves every Query. A reused sqlc.arg is a separate '?' on MySQL; the first use is
-- CAST so sqlc can type it. search is a ready-made LIKE pattern escaped with backslash,
-- matched case-insensitively through LOWER() (the table collation is binary).
-- LIMIT takes a bare '?' here (sqlc's MySQL parser rejects sqlc.arg in LIMIT and names that
-- parameter "limit"); it is the row_limit parameter of the other dialects.

-- name: ListFlows :many
-- List root flows newest first; each filter is off at its zero value.
SELECT f.flow_id, f.flow_token, f.thread_id, f.thread_token, f.workflow_name, f.status,
       COALESCE(s.task_name, '') AS task_name, f.error, f.cancel_reason,
       f.priority, f.fairness_key, f.created_at, f.started_at, f.updated_at
FROM dwarf_flows f
LEFT JOIN dwarf_steps s ON s.step_id = f.step_id AND f.step_id > 0
WHERE f.surgraph_flow_id = 0
  AND (CAST(sqlc.arg(status) AS CHAR) = '' OR f.status = sqlc.arg(status))
  AND (CAST(sqlc.arg(workflow_name) AS CHAR) = '' OR f.workflow_name = sqlc.arg(workflow_name))
  AND (CAST(sqlc.arg(thread_id) AS SIGNED) <= 0 OR f.thread_id = sqlc.arg(thread_id))
  AND (CAST(sqlc.arg(task_name) AS CHAR) = '' OR s.task_name = sqlc.arg(task_name))
  AND (CAST(sqlc.arg(fairness_key) AS CHAR) = '' OR f.fairness_key = sqlc.arg(fairness_key))
  AND (CAST(sqlc.arg(priority) AS SIGNED) <= 0 OR f.priority = sqlc.arg(priority))
  AND (CAST(sqlc.arg(older_than_ms) AS SIGNED) <= 0
       OR f.updated_at <= (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND - INTERVAL 1000 * CAST(sqlc.arg(older_than_ms) AS SIGNED) MICROSECOND))
  AND (CAST(sqlc.arg(newer_than_ms) AS SIGNED) <= 0
       OR f.updated_at >= (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND - INTERVAL 1000 * CAST(sqlc.arg(newer_than_ms) AS SIGNED) MICROSECOND))
  AND (CAST(sqlc.arg(before_flow_id) AS SIGNED) <= 0 OR f.flow_id < sqlc.arg(before_flow_id))
  AND (CAST(sqlc.arg(search) AS CHAR) = ''
       OR (LOWER(f.workflow_name) LIKE LOWER(sqlc.arg(search)) ESCAPE '\\')
       OR (LOWER(COALESCE(s.task_name, '')) LIKE LOWER(sqlc.arg(search)) ESCAPE '\\')
       OR (LOWER(f.error) LIKE LOWER(sqlc.arg(search)) ESCAPE '\\')
       OR (LOWER(f.cancel_reason) LIKE LOWER(sqlc.arg(search)) ESCAPE '\\'))
ORDER BY f.flow_id DESC
LIMIT ?;

-- name: SelectPurgeCandidates :many
-- Root, non-running flow ids matching a purge query, oldest first.
SELECT flow_id
FROM dwarf_flows
WHERE surgraph_flow_id = 0 AND status <> 'running'
  AND (CAST(sqlc.arg(status) AS CHAR) = '' OR status = sqlc.arg(status))
  AND (CAST(sqlc.arg(workflow_name) AS CHAR) = '' OR workflow_name = sqlc.arg(workflow_name))
  AND (CAST(sqlc.arg(older_than_ms) AS SIGNED) <= 0
       OR updated_at <= (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND - INTERVAL 1000 * CAST(sqlc.arg(older_than_ms) AS SIGNED) MICROSECOND))
ORDER BY flow_id
LIMIT ?;

-- name: SelectReapableFlows :many
-- The reaper's batch: root flows created with delete_on_completion that completed at least
-- grace_ms ago and (window_ms > 0) at most window_ms ago, oldest first. idx_dwarf_flows_status
-- serves the range; the window keeps a routine round off the older completed flows.
SELECT flow_id
FROM dwarf_flows
WHERE status = 'completed' AND delete_on_completion = 1 AND surgraph_flow_id = 0
  AND CAST(sqlc.arg(grace_ms) AS SIGNED) >= 0
  AND updated_at <= (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND - INTERVAL 1000 * CAST(sqlc.arg(grace_ms) AS SIGNED) MICROSECOND)
  AND (CAST(sqlc.arg(window_ms) AS SIGNED) <= 0
       OR updated_at >= (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND - INTERVAL 1000 * CAST(sqlc.arg(window_ms) AS SIGNED) MICROSECOND))
ORDER BY updated_at
LIMIT ?;

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
SELECT COUNT(*) AS step_count, CAST(COALESCE(MAX(updated_at), '') AS CHAR) AS max_updated_at
FROM dwarf_steps
WHERE flow_id IN (sqlc.slice(flow_ids));
