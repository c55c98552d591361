-- Read-only inspection: subgraph trees, whole-tree step history, and listing with key search
-- (PostgreSQL). Trees are walked one level per query (parents as an id array), never one query
-- per flow or per step.

-- name: ListSubgraphLinks :many
-- Subgraph children of a set of flows: id, parent, caller step and workflow name, oldest first.
SELECT flow_id, surgraph_flow_id, surgraph_step_id, workflow_name
FROM dwarf_flows
WHERE surgraph_flow_id = ANY(sqlc.arg(surgraph_flow_ids)::bigint[]) AND surgraph_flow_id > 0
ORDER BY flow_id;

-- name: ListStepsOfFlows :many
-- History of a set of flows without state/changes, by flow, then depth, then id.
SELECT step_id, step_token, flow_id, step_depth, task_name, status, error, error_type, goto_next, attempt,
       lineage_id, fan_out_ordinal, predecessor_id, successor_id, interrupt_payload,
       breakpoint_hit, interrupt_done, subgraph_done, parked, created_at, started_at, updated_at
FROM dwarf_steps
WHERE flow_id = ANY(sqlc.arg(flow_ids)::bigint[])
ORDER BY flow_id, step_depth, step_id;

-- name: SearchFlows :many
-- ListFlows whose search also matches the rendered flow key (key_prefix is "{shard}-").
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
       OR f.cancel_reason ILIKE sqlc.arg(search)::varchar ESCAPE '\'
       OR (sqlc.arg(key_prefix)::varchar || f.flow_id::varchar || '-' || f.flow_token)
          ILIKE sqlc.arg(search)::varchar ESCAPE '\')
ORDER BY f.flow_id DESC
LIMIT sqlc.arg(row_limit)::integer;
