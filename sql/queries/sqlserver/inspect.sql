-- Read-only inspection: subgraph trees, whole-tree step history, and listing with key search
-- (SQL Server, hand-written T-SQL). Trees are walked one level per query (parents as an id
-- list), never one query per flow or per step. SearchFlows follows ListFlows' conventions,
-- including OPTION (RECOMPILE) for its catch-all predicate.

-- name: ListSubgraphLinks :many
-- Subgraph children of a set of flows: id, parent, caller step and workflow name, oldest first.
SELECT flow_id, surgraph_flow_id, surgraph_step_id, workflow_name
FROM dwarf_flows
WHERE surgraph_flow_id IN (/*SLICE:surgraph_flow_ids*/@surgraph_flow_ids) AND surgraph_flow_id > 0
ORDER BY flow_id;

-- name: ListStepsOfFlows :many
-- History of a set of flows without state/changes, by flow, then depth, then id.
SELECT step_id, step_token, flow_id, step_depth, task_name, status, error, error_type, goto_next, attempt,
       lineage_id, fan_out_ordinal, predecessor_id, successor_id, interrupt_payload,
       breakpoint_hit, interrupt_done, subgraph_done, parked, created_at, started_at, updated_at
FROM dwarf_steps
WHERE flow_id IN (/*SLICE:flow_ids*/@flow_ids)
ORDER BY flow_id, step_depth, step_id;

-- name: SearchFlows :many
-- ListFlows whose search also matches the rendered flow key (key_prefix is "{shard}-").
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
       OR LOWER(f.cancel_reason) LIKE LOWER(@search) ESCAPE '\'
       OR LOWER(CONCAT(@key_prefix, f.flow_id, N'-', f.flow_token)) LIKE LOWER(@search) ESCAPE '\')
ORDER BY f.flow_id DESC
OFFSET 0 ROWS FETCH NEXT @row_limit ROWS ONLY
OPTION (RECOMPILE);
