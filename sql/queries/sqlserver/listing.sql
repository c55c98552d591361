-- Listing, purge selection, counts and liveness (SQL Server, hand-written T-SQL).
-- ListFlows filters are switched off by their zero value ('' / 0 / negative) so one prepared
-- statement serves every Query; OPTION (RECOMPILE) plans each call for the filters actually set
-- (a catch-all predicate otherwise keeps the plan of whichever call compiled first).
-- search is a ready-made LIKE pattern escaped with '\', compared through LOWER().
-- Relative times are added as seconds plus the millisecond remainder: DATEADD takes an INT.

-- name: ListFlows :many
-- List root flows newest first; each filter is off at its zero value.
SELECT f.flow_id, f.flow_token, f.thread_id, f.thread_token, f.workflow_name, f.status,
       COALESCE(s.task_name, N'') AS task_name, f.error, f.cancel_reason,
       f.priority, f.fairness_key, f.created_at, f.started_at, f.updated_at
FROM dwarf_flows f
LEFT JOIN dwarf_steps s ON s.step_id = f.step_id AND f.step_id > 0
WHERE f.surgraph_flow_id = 0
  AND (@status = N'' OR f.status = @status)
  AND (@workflow_name = N'' OR f.workflow_name = @workflow_name)
  AND (@thread_id <= 0 OR f.thread_id = @thread_id)
  AND (@task_name = N'' OR s.task_name = @task_name)
  AND (@fairness_key = N'' OR f.fairness_key = @fairness_key)
  AND (@priority <= 0 OR f.priority = @priority)
  AND (@older_than_ms <= 0
       OR f.updated_at <= DATEADD(MILLISECOND, -(@older_than_ms % 1000),
                                  DATEADD(SECOND, -(@older_than_ms / 1000), SYSUTCDATETIME())))
  AND (@newer_than_ms <= 0
       OR f.updated_at >= DATEADD(MILLISECOND, -(@newer_than_ms % 1000),
                                  DATEADD(SECOND, -(@newer_than_ms / 1000), SYSUTCDATETIME())))
  AND (@before_flow_id <= 0 OR f.flow_id < @before_flow_id)
  AND (@search = N''
       OR LOWER(f.workflow_name) LIKE LOWER(@search) ESCAPE '\'
       OR LOWER(COALESCE(s.task_name, N'')) LIKE LOWER(@search) ESCAPE '\'
       OR LOWER(f.error) LIKE LOWER(@search) ESCAPE '\'
       OR LOWER(f.cancel_reason) LIKE LOWER(@search) ESCAPE '\')
ORDER BY f.flow_id DESC
OFFSET 0 ROWS FETCH NEXT @row_limit ROWS ONLY
OPTION (RECOMPILE);

-- name: SelectPurgeCandidates :many
-- Root, non-running flow ids matching a purge query, oldest first.
SELECT flow_id
FROM dwarf_flows
WHERE surgraph_flow_id = 0 AND status <> 'running'
  AND (@status = N'' OR status = @status)
  AND (@workflow_name = N'' OR workflow_name = @workflow_name)
  AND (@older_than_ms <= 0
       OR updated_at <= DATEADD(MILLISECOND, -(@older_than_ms % 1000),
                                DATEADD(SECOND, -(@older_than_ms / 1000), SYSUTCDATETIME())))
ORDER BY flow_id
OFFSET 0 ROWS FETCH NEXT @row_limit ROWS ONLY
OPTION (RECOMPILE);

-- name: SelectReapableFlows :many
-- The reaper's batch: root flows created with delete_on_completion that completed at least
-- grace_ms ago and (window_ms > 0) at most window_ms ago, oldest first. idx_dwarf_flows_status
-- serves the range; the window keeps a routine round off the older completed flows.
SELECT flow_id
FROM dwarf_flows
WHERE status = 'completed' AND delete_on_completion = 1 AND surgraph_flow_id = 0
  AND updated_at <= DATEADD(MILLISECOND, -(@grace_ms % 1000),
                            DATEADD(SECOND, -(@grace_ms / 1000), SYSUTCDATETIME()))
  AND (@window_ms <= 0
       OR updated_at >= DATEADD(MILLISECOND, -(@window_ms % 1000),
                                DATEADD(SECOND, -(@window_ms / 1000), SYSUTCDATETIME())))
ORDER BY updated_at
OFFSET 0 ROWS FETCH NEXT @row_limit ROWS ONLY
OPTION (RECOMPILE);

-- name: CountFlows :one
-- Count flow rows (shard info).
SELECT COUNT_BIG(*) AS flow_count FROM dwarf_flows;

-- name: CountSteps :one
-- Count step rows (shard info).
SELECT COUNT_BIG(*) AS step_count FROM dwarf_steps;

-- name: Ping :one
-- Liveness probe (shard latency).
SELECT 1 AS ping;

-- name: FlowsProgress :one
-- Fingerprint input over a set of flows: step count and newest step update.
SELECT COUNT_BIG(*) AS step_count,
       COALESCE(CONVERT(NVARCHAR(30), MAX(updated_at), 126), N'') AS max_updated_at
FROM dwarf_steps
WHERE flow_id IN (/*SLICE:flow_ids*/@flow_ids);
