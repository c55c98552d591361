-- Read-only inspection: subgraph trees, whole-tree step history, and listing with key search
-- (SQLite). Trees are walked one level per query (parents as an id list), never one query per
-- flow or per step. SearchFlows follows ListFlows' conventions: the first use of a reused
-- parameter is CAST, and each LIKE ... ESCAPE term is parenthesized for sqlc's grammar.

-- name: ListSubgraphLinks :many
-- Subgraph children of a set of flows: id, parent, caller step and workflow name, oldest first.
SELECT flow_id, surgraph_flow_id, surgraph_step_id, workflow_name
FROM dwarf_flows
WHERE surgraph_flow_id IN (sqlc.slice(surgraph_flow_ids)) AND surgraph_flow_id > 0
ORDER BY flow_id;

-- name: ListStepsOfFlows :many
-- History of a set of flows without state/changes, by flow, then depth, then id.
SELECT step_id, step_token, flow_id, step_depth, task_name, status, error, error_type, goto_next, attempt,
       lineage_id, fan_out_ordinal, predecessor_id, successor_id, interrupt_payload,
       breakpoint_hit, interrupt_done, subgraph_done, parked, created_at, started_at, updated_at
FROM dwarf_steps
WHERE flow_id IN (sqlc.slice(flow_ids))
ORDER BY flow_id, step_depth, step_id;

-- name: SearchFlows :many
-- ListFlows whose search also matches the rendered flow key (key_prefix is "{shard}-").
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
       OR (LOWER(f.cancel_reason) LIKE LOWER(sqlc.arg(search)) ESCAPE '\')
       OR (LOWER(CAST(sqlc.arg(key_prefix) AS TEXT) || f.flow_id || '-' || f.flow_token)
           LIKE LOWER(sqlc.arg(search)) ESCAPE '\'))
ORDER BY f.flow_id DESC
LIMIT sqlc.arg(row_limit);
