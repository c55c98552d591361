-- Fast paths: single statements that each replace a whole transaction of the portable
-- queries on the hot path (create, start, advance, finish). PostgreSQL can chain writes in one
-- statement with data-modifying CTEs, so each runs in autocommit: one round trip instead of
-- BEGIN + three or four statements + COMMIT. Dialects without them use the portable queries.
-- Every query here opens with "Fast path", which makes it optional for the other dialects.

-- name: CreateFlowWithEntry :one
-- Fast path for InsertFlow + AdoptFlowIdentity + InsertStep + TouchFlow (+ StartFlow): both ids
-- are drawn from their sequences first, so the flow row carries its own identity and its entry
-- step from the start. started = 1 inserts a running flow with a pending entry step, or with
-- a lease_owner other than '' an entry step already claimed by that replica, as ClaimSteps
-- would claim it (running, lease_seq 1, lease = now + budget + margin; dispatch D13).
-- created_at is the new rows' timestamp (every one of them is now()).
WITH ids AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('dwarf_flows', 'flow_id'))::bigint AS flow_id,
           nextval(pg_get_serial_sequence('dwarf_steps', 'step_id'))::bigint AS step_id
), new_flow AS (
    INSERT INTO dwarf_flows (
        flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
        surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
        thread_id, thread_token, breakpoints, trace_parent,
        priority, fairness_key, fairness_weight, time_budget_ms, delete_on_completion,
        created_at, started_at, updated_at
    )
    SELECT ids.flow_id, sqlc.arg(flow_token)::varchar, sqlc.arg(workflow_name)::varchar,
           sqlc.arg(graph)::jsonb, sqlc.arg(baggage)::jsonb,
           CASE WHEN sqlc.arg(started)::integer = 1 THEN 'running' ELSE 'created' END,
           ids.step_id,
           sqlc.arg(surgraph_flow_id)::bigint, sqlc.arg(surgraph_step_depth)::integer,
           sqlc.arg(surgraph_step_id)::bigint,
           CASE WHEN sqlc.arg(root_flow_id)::bigint = 0 THEN ids.flow_id
                ELSE sqlc.arg(root_flow_id)::bigint END,
           CASE WHEN sqlc.arg(thread_id)::bigint = 0 THEN ids.flow_id
                ELSE sqlc.arg(thread_id)::bigint END,
           CASE WHEN sqlc.arg(thread_id)::bigint = 0 THEN sqlc.arg(flow_token)::varchar
                ELSE sqlc.arg(thread_token)::varchar END,
           sqlc.arg(breakpoints)::jsonb, sqlc.arg(trace_parent)::varchar,
           sqlc.arg(priority)::integer, sqlc.arg(fairness_key)::varchar,
           sqlc.arg(fairness_weight)::double precision, sqlc.arg(time_budget_ms)::integer,
           sqlc.arg(delete_on_completion)::smallint,
           now(), now(), now()
    FROM ids
), entry_step AS (
    INSERT INTO dwarf_steps (
        step_id, flow_id, step_depth, step_token, task_name, state, changes, status,
        time_budget_ms, priority, fairness_key, fairness_weight, lease_seq, lease_owner,
        not_before, lease_expires, created_at, started_at, updated_at
    )
    SELECT ids.step_id, ids.flow_id, sqlc.arg(step_depth)::integer,
           sqlc.arg(step_token)::varchar, sqlc.arg(task_name)::varchar, sqlc.arg(state)::jsonb,
           '{}',
           CASE WHEN sqlc.arg(started)::integer <> 1 THEN 'created'
                WHEN sqlc.arg(lease_owner)::varchar = '' THEN 'pending' ELSE 'running' END,
           sqlc.arg(entry_time_budget_ms)::integer, sqlc.arg(priority)::integer,
           sqlc.arg(fairness_key)::varchar, sqlc.arg(fairness_weight)::double precision,
           CASE WHEN sqlc.arg(lease_owner)::varchar = '' THEN 0 ELSE 1 END,
           sqlc.arg(lease_owner)::varchar,
           now() + sqlc.arg(delay_ms)::bigint * INTERVAL '1 millisecond',
           CASE WHEN sqlc.arg(lease_owner)::varchar = '' THEN now()
                ELSE now() + (sqlc.arg(entry_time_budget_ms)::integer
                              + sqlc.arg(lease_margin_ms)::bigint) * INTERVAL '1 millisecond'
           END,
           now(), now(), now()
    FROM ids
)
SELECT ids.flow_id, ids.step_id, now()::timestamptz AS created_at FROM ids;

-- name: CreateFlowsWithEntries :many
-- Fast path for a batch of CreateFlowWithEntry (the creates made at the same moment written
-- together, docs/internals/storage.md, S12): one array per field, one element per flow, and for
-- every flow what CreateFlowWithEntry does for one (a lease_owner per flow, a lease margin per
-- flow). One row per flow, in input order.
WITH items AS MATERIALIZED (
    SELECT i.ordinal,
           i.flow_token,
           (sqlc.arg(workflow_names)::varchar[])[i.ordinal] AS workflow_name,
           (sqlc.arg(graphs)::text[])[i.ordinal] AS graph,
           (sqlc.arg(baggages)::text[])[i.ordinal] AS baggage,
           (sqlc.arg(started_flags)::integer[])[i.ordinal] AS started,
           (sqlc.arg(surgraph_flow_ids)::bigint[])[i.ordinal] AS surgraph_flow_id,
           (sqlc.arg(surgraph_step_depths)::integer[])[i.ordinal] AS surgraph_step_depth,
           (sqlc.arg(surgraph_step_ids)::bigint[])[i.ordinal] AS surgraph_step_id,
           (sqlc.arg(root_flow_ids)::bigint[])[i.ordinal] AS root_flow_id,
           (sqlc.arg(thread_ids)::bigint[])[i.ordinal] AS thread_id,
           (sqlc.arg(thread_tokens)::varchar[])[i.ordinal] AS thread_token,
           (sqlc.arg(breakpoint_sets)::text[])[i.ordinal] AS breakpoints,
           (sqlc.arg(trace_parents)::varchar[])[i.ordinal] AS trace_parent,
           (sqlc.arg(priorities)::integer[])[i.ordinal] AS priority,
           (sqlc.arg(fairness_keys)::varchar[])[i.ordinal] AS fairness_key,
           (sqlc.arg(fairness_weights)::double precision[])[i.ordinal] AS fairness_weight,
           (sqlc.arg(time_budgets_ms)::integer[])[i.ordinal] AS time_budget_ms,
           (sqlc.arg(entry_time_budgets_ms)::integer[])[i.ordinal] AS entry_time_budget_ms,
           (sqlc.arg(deletes_on_completion)::smallint[])[i.ordinal] AS delete_on_completion,
           (sqlc.arg(step_depths)::integer[])[i.ordinal] AS step_depth,
           (sqlc.arg(step_tokens)::varchar[])[i.ordinal] AS step_token,
           (sqlc.arg(task_names)::varchar[])[i.ordinal] AS task_name,
           (sqlc.arg(states)::text[])[i.ordinal] AS state,
           (sqlc.arg(delays_ms)::bigint[])[i.ordinal] AS delay_ms,
           (sqlc.arg(lease_owners)::varchar[])[i.ordinal] AS lease_owner,
           (sqlc.arg(lease_margins_ms)::bigint[])[i.ordinal] AS lease_margin_ms,
           nextval(pg_get_serial_sequence('dwarf_flows', 'flow_id'))::bigint AS flow_id,
           nextval(pg_get_serial_sequence('dwarf_steps', 'step_id'))::bigint AS step_id
    FROM unnest(sqlc.arg(flow_tokens)::varchar[]) WITH ORDINALITY AS i(flow_token, ordinal)
), new_flows AS (
    INSERT INTO dwarf_flows (
        flow_id, flow_token, workflow_name, graph, baggage, status, step_id,
        surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
        thread_id, thread_token, breakpoints, trace_parent,
        priority, fairness_key, fairness_weight, time_budget_ms, delete_on_completion,
        created_at, started_at, updated_at
    )
    SELECT items.flow_id, items.flow_token, items.workflow_name, items.graph::jsonb,
           items.baggage::jsonb,
           CASE WHEN items.started = 1 THEN 'running' ELSE 'created' END,
           items.step_id, items.surgraph_flow_id, items.surgraph_step_depth,
           items.surgraph_step_id,
           CASE WHEN items.root_flow_id = 0 THEN items.flow_id ELSE items.root_flow_id END,
           CASE WHEN items.thread_id = 0 THEN items.flow_id ELSE items.thread_id END,
           CASE WHEN items.thread_id = 0 THEN items.flow_token ELSE items.thread_token END,
           items.breakpoints::jsonb, items.trace_parent, items.priority, items.fairness_key,
           items.fairness_weight, items.time_budget_ms, items.delete_on_completion,
           now(), now(), now()
    FROM items
), entry_steps AS (
    INSERT INTO dwarf_steps (
        step_id, flow_id, step_depth, step_token, task_name, state, changes, status,
        time_budget_ms, priority, fairness_key, fairness_weight, lease_seq, lease_owner,
        not_before, lease_expires, created_at, started_at, updated_at
    )
    SELECT items.step_id, items.flow_id, items.step_depth, items.step_token, items.task_name,
           items.state::jsonb, '{}',
           CASE WHEN items.started <> 1 THEN 'created'
                WHEN items.lease_owner = '' THEN 'pending' ELSE 'running' END,
           items.entry_time_budget_ms, items.priority, items.fairness_key,
           items.fairness_weight, CASE WHEN items.lease_owner = '' THEN 0 ELSE 1 END,
           items.lease_owner, now() + items.delay_ms * INTERVAL '1 millisecond',
           CASE WHEN items.lease_owner = '' THEN now()
                ELSE now() + (items.entry_time_budget_ms + items.lease_margin_ms)
                             * INTERVAL '1 millisecond'
           END,
           now(), now(), now()
    FROM items
)
SELECT items.ordinal::bigint AS ordinal, items.flow_id::bigint AS flow_id,
       items.step_id::bigint AS step_id, now()::timestamptz AS created_at
FROM items
ORDER BY items.ordinal;

-- name: StartCreatedFlow :one
-- Fast path for the start transaction (StartFlow + ActivateFlowSteps + GetStepSchedule): no row
-- when the key matches no created flow, and then nothing was written.
WITH started AS (
    UPDATE dwarf_flows
    SET status = 'running', notify_hostname = sqlc.arg(notify_hostname)::varchar,
        started_at = now(), updated_at = now()
    WHERE flow_id = sqlc.arg(flow_id)::bigint AND flow_token = sqlc.arg(flow_token)::varchar
      AND status = 'created'
    RETURNING flow_id, step_id, workflow_name
), activated AS (
    UPDATE dwarf_steps
    SET status = 'pending', lease_expires = now(), updated_at = now()
    WHERE flow_id = (SELECT started.flow_id FROM started) AND status = 'created'
    RETURNING step_id, not_before
)
SELECT started.step_id, started.workflow_name,
       COALESCE((SELECT (EXTRACT(EPOCH FROM activated.not_before - now()) * 1000)::bigint
                 FROM activated WHERE activated.step_id = started.step_id), 0)::bigint AS delay_ms
FROM started;

-- name: StartCreatedFlows :many
-- Fast path for a batch of StartCreatedFlow (the starts made at the same moment written
-- together, docs/internals/storage.md, S12): for every flow what StartCreatedFlow does for one.
-- Of several items naming the same flow only the first (in input order) may start it, as if
-- they were written one after the other. One row per item, in input order: started = 0, the key
-- matched no created flow and nothing was written for it.
WITH items AS MATERIALIZED (
    SELECT i.ordinal, i.flow_id,
           (sqlc.arg(flow_tokens)::varchar[])[i.ordinal] AS flow_token,
           (sqlc.arg(notify_hostnames)::varchar[])[i.ordinal] AS notify_hostname
    FROM unnest(sqlc.arg(flow_ids)::bigint[]) WITH ORDINALITY AS i(flow_id, ordinal)
), first_per_flow AS (
    SELECT DISTINCT ON (items.flow_id) items.ordinal, items.flow_id, items.flow_token,
           items.notify_hostname
    FROM items
    ORDER BY items.flow_id, items.ordinal
), started AS (
    UPDATE dwarf_flows
    SET status = 'running', notify_hostname = first_per_flow.notify_hostname,
        started_at = now(), updated_at = now()
    FROM first_per_flow
    WHERE dwarf_flows.flow_id = first_per_flow.flow_id
      AND dwarf_flows.flow_token = first_per_flow.flow_token
      AND dwarf_flows.status = 'created'
    RETURNING first_per_flow.ordinal, dwarf_flows.flow_id, dwarf_flows.step_id,
              dwarf_flows.workflow_name
), activated AS (
    UPDATE dwarf_steps
    SET status = 'pending', lease_expires = now(), updated_at = now()
    FROM started
    WHERE dwarf_steps.flow_id = started.flow_id AND dwarf_steps.status = 'created'
    RETURNING dwarf_steps.step_id, dwarf_steps.not_before
)
SELECT items.ordinal::bigint AS ordinal,
       (started.ordinal IS NOT NULL)::integer AS started,
       COALESCE(started.step_id, 0)::bigint AS step_id,
       COALESCE(started.workflow_name, '')::varchar AS workflow_name,
       COALESCE((EXTRACT(EPOCH FROM activated.not_before - now()) * 1000)::bigint,
                0)::bigint AS delay_ms
FROM items
LEFT JOIN started ON started.ordinal = items.ordinal
LEFT JOIN activated ON activated.step_id = started.step_id
ORDER BY items.ordinal;

-- name: AdvanceToSuccessor :one
-- Fast path for CompleteStepLinked + InsertStep + TouchFlow: the claimed step (fenced on its
-- lease, and only while its flow is live) completes and links to one pending successor. Each
-- write depends on the one before: the flow row is touched only if the completion matched,
-- the successor inserted only if the flow row was touched. completed = 0: nothing was written.
-- A lease_owner other than '' inserts the successor already claimed by that replica, as
-- ClaimSteps would claim it (running, lease_seq 1, lease = now + budget + margin; dispatch
-- D13); the row then also carries what the claim's read-back would: the successor's
-- created_at and base_lease_seq, and the flow row's status, breakpoints and updated_at as
-- this statement left them (NULL when touched = 0).
WITH next_step AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('dwarf_steps', 'step_id'))::bigint AS step_id
), done AS (
    UPDATE dwarf_steps
    SET status = 'completed', changes = sqlc.arg(changes)::jsonb,
        goto_next = sqlc.arg(goto_next)::varchar,
        successor_id = (SELECT next_step.step_id FROM next_step), parked = 0,
        lease_expires = now(), updated_at = now()
    WHERE step_id = sqlc.arg(step_id)::bigint AND lease_seq = sqlc.arg(lease_seq)::bigint
      AND status = 'running'
      AND EXISTS (
          SELECT 1 FROM dwarf_flows
          WHERE flow_id = sqlc.arg(flow_id)::bigint
            AND status NOT IN ('completed', 'failed', 'cancelled')
      )
    RETURNING step_id
), touched AS (
    UPDATE dwarf_flows
    SET step_id = (SELECT next_step.step_id FROM next_step), updated_at = now()
    WHERE flow_id = sqlc.arg(flow_id)::bigint
      AND status NOT IN ('completed', 'failed', 'cancelled')
      AND EXISTS (SELECT 1 FROM done)
    RETURNING flow_id, status, breakpoints, updated_at
), successor AS (
    INSERT INTO dwarf_steps (
        step_id, flow_id, step_depth, step_token, task_name, state, state_base, changes, status,
        time_budget_ms, lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key,
        fairness_weight, parked, lease_seq, lease_owner, not_before, lease_expires, created_at,
        started_at, updated_at
    )
    SELECT next_step.step_id, touched.flow_id, sqlc.arg(step_depth)::integer,
           sqlc.arg(step_token)::varchar, sqlc.arg(task_name)::varchar, sqlc.arg(state)::jsonb,
           sqlc.arg(state_base)::bigint, '{}',
           CASE WHEN sqlc.arg(lease_owner)::varchar = '' THEN 'pending' ELSE 'running' END,
           sqlc.arg(time_budget_ms)::integer, sqlc.arg(lineage_id)::bigint,
           sqlc.arg(fan_out_ordinal)::integer, sqlc.arg(step_id)::bigint,
           sqlc.arg(priority)::integer, sqlc.arg(fairness_key)::varchar,
           sqlc.arg(fairness_weight)::double precision, 0,
           CASE WHEN sqlc.arg(lease_owner)::varchar = '' THEN 0 ELSE 1 END,
           sqlc.arg(lease_owner)::varchar,
           now() + sqlc.arg(delay_ms)::bigint * INTERVAL '1 millisecond',
           CASE WHEN sqlc.arg(lease_owner)::varchar = '' THEN now()
                ELSE now() + (sqlc.arg(time_budget_ms)::integer
                              + sqlc.arg(lease_margin_ms)::bigint) * INTERVAL '1 millisecond'
           END,
           now(), now(), now()
    FROM next_step, touched
)
SELECT (SELECT count(*) FROM done)::integer AS completed,
       (SELECT count(*) FROM touched)::integer AS touched,
       next_step.step_id AS successor_id,
       now()::timestamptz AS created_at,
       COALESCE((SELECT b.lease_seq FROM dwarf_steps b
                 WHERE b.step_id = sqlc.arg(state_base)::bigint
                   AND sqlc.arg(state_base)::bigint > 0), 0)::bigint AS base_lease_seq,
       (SELECT touched.status FROM touched)::varchar AS flow_status,
       (SELECT touched.breakpoints FROM touched)::jsonb AS flow_breakpoints,
       (SELECT touched.updated_at FROM touched)::timestamptz AS flow_updated_at
FROM next_step;

-- name: FinishWithStep :one
-- Fast path for CompleteStep + CompleteFlow: the claimed step (fenced on its lease, and only
-- while its flow is live) completes, and with it the flow, with the final state the caller
-- computed. completed = 0: nothing was written.
WITH done AS (
    UPDATE dwarf_steps
    SET status = 'completed', changes = sqlc.arg(changes)::jsonb,
        goto_next = sqlc.arg(goto_next)::varchar, parked = 0, lease_expires = now(),
        updated_at = now()
    WHERE step_id = sqlc.arg(step_id)::bigint AND lease_seq = sqlc.arg(lease_seq)::bigint
      AND status = 'running'
      AND EXISTS (
          SELECT 1 FROM dwarf_flows
          WHERE flow_id = sqlc.arg(flow_id)::bigint
            AND status NOT IN ('completed', 'failed', 'cancelled')
      )
    RETURNING step_id
), finished AS (
    UPDATE dwarf_flows
    SET status = 'completed', final_state = sqlc.arg(final_state)::jsonb, updated_at = now()
    WHERE flow_id = sqlc.arg(flow_id)::bigint
      AND status NOT IN ('completed', 'failed', 'cancelled')
      AND EXISTS (SELECT 1 FROM done)
    RETURNING flow_id
)
SELECT (SELECT count(*) FROM done)::integer AS completed,
       (SELECT count(*) FROM finished)::integer AS finished;

-- name: ClaimStepsWithFlows :many
-- Fast path for ClaimSteps + SelectClaimedSteps + ListFlowsOfBatch: the claim CAS of a batch
-- returns the rows it won, each with its flow's row (flow_ columns, all null when the flow is
-- gone), so neither read-back is another statement. A re-run claim still reads back by owner
-- (its first run may have committed): the caller falls back to the portable read-back then.
-- By primary key, as ClaimSteps (status || '').
WITH claimed AS (
    UPDATE dwarf_steps
    SET status = 'running', lease_seq = lease_seq + 1, lease_owner = sqlc.arg(lease_owner),
        lease_expires = now() + (time_budget_ms + sqlc.arg(lease_margin_ms)::bigint) * INTERVAL '1 millisecond',
        started_at = CASE WHEN attempt > 0 OR subgraph_done = 1 OR interrupt_done = 1
                          THEN started_at ELSE now() END,
        updated_at = now()
    WHERE step_id = ANY(sqlc.arg(step_ids)::bigint[])
      AND status || '' = 'pending' AND parked = 0 AND not_before <= now() AND lease_expires <= now()
    RETURNING step_id, flow_id, step_depth, step_token, task_name, state, state_base, changes,
              breakpoint_hit, attempt, lineage_id, fan_out_ordinal, predecessor_id,
              time_budget_ms, interrupt_done, resume_data, subgraph_done, subgraph_result,
              subgraph_error, priority, fairness_key, fairness_weight, lease_seq, created_at,
              started_at, updated_at
)
SELECT c.step_id, c.flow_id, c.step_depth, c.step_token, c.task_name, c.state, c.state_base,
       c.changes, c.breakpoint_hit, c.attempt, c.lineage_id, c.fan_out_ordinal, c.predecessor_id,
       c.time_budget_ms, c.interrupt_done, c.resume_data, c.subgraph_done, c.subgraph_result,
       c.subgraph_error, c.priority, c.fairness_key, c.fairness_weight, c.lease_seq, c.created_at,
       c.started_at, c.updated_at, COALESCE(b.lease_seq, 0) AS base_lease_seq,
       f.flow_id AS flow_flow_id, f.flow_token AS flow_flow_token,
       f.workflow_name AS flow_workflow_name, f.graph AS flow_graph, f.baggage AS flow_baggage,
       f.status AS flow_status, f.step_id AS flow_step_id,
       f.surgraph_flow_id AS flow_surgraph_flow_id,
       f.surgraph_step_depth AS flow_surgraph_step_depth,
       f.surgraph_step_id AS flow_surgraph_step_id, f.root_flow_id AS flow_root_flow_id,
       f.thread_id AS flow_thread_id, f.thread_token AS flow_thread_token,
       f.forked_from_step AS flow_forked_from_step, f.trace_parent AS flow_trace_parent,
       f.notify_hostname AS flow_notify_hostname, f.final_state AS flow_final_state,
       f.breakpoints AS flow_breakpoints, f.error AS flow_error,
       f.error_type AS flow_error_type, f.cancel_reason AS flow_cancel_reason,
       f.priority AS flow_priority, f.fairness_key AS flow_fairness_key,
       f.fairness_weight AS flow_fairness_weight, f.time_budget_ms AS flow_time_budget_ms,
       f.delete_on_completion AS flow_delete_on_completion, f.created_at AS flow_created_at,
       f.started_at AS flow_started_at, f.updated_at AS flow_updated_at
FROM claimed c
LEFT JOIN dwarf_steps b ON b.step_id = c.state_base AND c.state_base > 0
LEFT JOIN dwarf_flows f ON f.flow_id = c.flow_id
ORDER BY c.step_id;

-- name: FindClaimedSuccessor :one
-- Fast path for the read-back of a lost AdvanceToSuccessor(s) reply: the successor a claiming AdvanceToSuccessor(s) inserted (dispatch D13), found by the token its
-- caller gave it, for when the statement's reply was lost: only if it is still running under
-- the caller's lease. By the flow's index.
SELECT step_id
FROM dwarf_steps
WHERE flow_id = sqlc.arg(flow_id) AND predecessor_id = sqlc.arg(predecessor_id)
  AND step_token = sqlc.arg(step_token) AND status = 'running'
  AND lease_owner = sqlc.arg(lease_owner);

-- name: ClaimDueBand :many
-- Fast path for SelectDueBand + ClaimStepsWithFlows when the best due band fits the idle
-- workers (docs/internals/dispatch.md#d12): the band's due rows, at most row_limit of them,
-- are claimed only when there are fewer than row_limit (the caller asks for one more than it
-- can start, so that a band the planner would have to choose from claims nothing and the
-- caller scans and plans instead). Each claimed row comes back as ClaimStepsWithFlows returns
-- it, with wait_ms: how long it had been due (the queue wait). The band is found as
-- SelectDueBand finds it (its first due priority in index order); the claim is by primary key
-- with ClaimSteps' guards, so a row a peer claimed meanwhile is skipped.
WITH band AS MATERIALIZED (
    SELECT step_id,
           (EXTRACT(EPOCH FROM now() - GREATEST(not_before, lease_expires)) * 1000)::bigint AS wait_ms
    FROM dwarf_steps
    WHERE status = 'pending' AND parked = 0 AND not_before <= now() AND lease_expires <= now()
      AND priority <= (
          SELECT b.priority
          FROM dwarf_steps b
          WHERE b.status = 'pending' AND b.parked = 0 AND b.not_before <= now()
            AND b.lease_expires <= now()
          ORDER BY b.priority
          LIMIT 1
      )
    ORDER BY priority, step_id
    LIMIT sqlc.arg(row_limit)::integer
), claimed AS (
    UPDATE dwarf_steps
    SET status = 'running', lease_seq = lease_seq + 1, lease_owner = sqlc.arg(lease_owner),
        lease_expires = now() + (time_budget_ms + sqlc.arg(lease_margin_ms)::bigint) * INTERVAL '1 millisecond',
        started_at = CASE WHEN attempt > 0 OR subgraph_done = 1 OR interrupt_done = 1
                          THEN started_at ELSE now() END,
        updated_at = now()
    WHERE step_id IN (SELECT step_id FROM band)
      AND (SELECT COUNT(*) FROM band) < sqlc.arg(row_limit)::integer
      AND status || '' = 'pending' AND parked = 0 AND not_before <= now() AND lease_expires <= now()
    RETURNING step_id, flow_id, step_depth, step_token, task_name, state, state_base, changes,
              breakpoint_hit, attempt, lineage_id, fan_out_ordinal, predecessor_id,
              time_budget_ms, interrupt_done, resume_data, subgraph_done, subgraph_result,
              subgraph_error, priority, fairness_key, fairness_weight, lease_seq, created_at,
              started_at, updated_at
)
SELECT c.step_id, c.flow_id, c.step_depth, c.step_token, c.task_name, c.state, c.state_base,
       c.changes, c.breakpoint_hit, c.attempt, c.lineage_id, c.fan_out_ordinal, c.predecessor_id,
       c.time_budget_ms, c.interrupt_done, c.resume_data, c.subgraph_done, c.subgraph_result,
       c.subgraph_error, c.priority, c.fairness_key, c.fairness_weight, c.lease_seq, c.created_at,
       c.started_at, c.updated_at, COALESCE(b.lease_seq, 0) AS base_lease_seq,
       f.flow_id AS flow_flow_id, f.flow_token AS flow_flow_token,
       f.workflow_name AS flow_workflow_name, f.graph AS flow_graph, f.baggage AS flow_baggage,
       f.status AS flow_status, f.step_id AS flow_step_id,
       f.surgraph_flow_id AS flow_surgraph_flow_id,
       f.surgraph_step_depth AS flow_surgraph_step_depth,
       f.surgraph_step_id AS flow_surgraph_step_id, f.root_flow_id AS flow_root_flow_id,
       f.thread_id AS flow_thread_id, f.thread_token AS flow_thread_token,
       f.forked_from_step AS flow_forked_from_step, f.trace_parent AS flow_trace_parent,
       f.notify_hostname AS flow_notify_hostname, f.final_state AS flow_final_state,
       f.breakpoints AS flow_breakpoints, f.error AS flow_error,
       f.error_type AS flow_error_type, f.cancel_reason AS flow_cancel_reason,
       f.priority AS flow_priority, f.fairness_key AS flow_fairness_key,
       f.fairness_weight AS flow_fairness_weight, f.time_budget_ms AS flow_time_budget_ms,
       f.delete_on_completion AS flow_delete_on_completion, f.created_at AS flow_created_at,
       f.started_at AS flow_started_at, f.updated_at AS flow_updated_at, d.wait_ms
FROM claimed c
JOIN band d ON d.step_id = c.step_id
LEFT JOIN dwarf_steps b ON b.step_id = c.state_base AND c.state_base > 0
LEFT JOIN dwarf_flows f ON f.flow_id = c.flow_id
ORDER BY c.step_id;

-- name: ListLeasedSteps :many
-- Fast path for the read-back of a ClaimDueBand or a claiming CreateFlowWithEntry whose reply
-- was lost: the steps lease_owner holds running and unparked, with their predecessors and
-- tokens. The caller leaves out those it knows it holds, and those claimed as they were
-- inserted (D13) that it may not know yet: a successor whose predecessor it holds, an entry
-- whose create is under way (by token); the rest are what the lost claim won
-- (docs/internals/dispatch.md#d12). By the saturation index (status, parked, lease_expires),
-- as RecoverExpiredLeases.
SELECT step_id, predecessor_id, step_token
FROM dwarf_steps
WHERE status = 'running' AND parked = 0 AND lease_owner = sqlc.arg(lease_owner)
ORDER BY step_id;

-- name: AdvanceToSuccessors :many
-- Fast path for a batch of AdvanceToSuccessor (the advances of many flows written together,
-- docs/internals/storage.md, S12): one array per field, one element per item, and for every
-- item what AdvanceToSuccessor does for one. Each item is fenced on its own (lease, running,
-- flow live): an item that matches nothing writes nothing and its neighbours still commit.
-- Several items may be branches of the same flow: each completes and inserts its successor,
-- and the flow row (touched once) points at the newest of them. One row per item, in input
-- order: completed = 0, nothing was written for it; touched = 0, no successor follows it.
-- An item's lease_owner claims its successor as AdvanceToSuccessor's does (dispatch D13), and
-- its row then carries the same read-back columns (the flow's are NULL when touched = 0).
-- The items come from unnest(...) WITH ORDINALITY, not generate_series over the length: the
-- planner guesses 10 rows for an unnested parameter and 1000 for the series, and with 1000 the
-- prepared statement never switches to its generic plan, so every batch was planned anew.
WITH items AS MATERIALIZED (
    SELECT i.ordinal,
           i.step_id,
           (sqlc.arg(lease_seqs)::bigint[])[i.ordinal] AS lease_seq,
           (sqlc.arg(flow_ids)::bigint[])[i.ordinal] AS flow_id,
           (sqlc.arg(step_changes)::text[])[i.ordinal] AS changes,
           (sqlc.arg(gotos)::varchar[])[i.ordinal] AS goto_next,
           (sqlc.arg(step_depths)::integer[])[i.ordinal] AS step_depth,
           (sqlc.arg(step_tokens)::varchar[])[i.ordinal] AS step_token,
           (sqlc.arg(task_names)::varchar[])[i.ordinal] AS task_name,
           (sqlc.arg(states)::text[])[i.ordinal] AS state,
           (sqlc.arg(state_bases)::bigint[])[i.ordinal] AS state_base,
           (sqlc.arg(time_budgets_ms)::integer[])[i.ordinal] AS time_budget_ms,
           (sqlc.arg(lineage_ids)::bigint[])[i.ordinal] AS lineage_id,
           (sqlc.arg(fan_out_ordinals)::integer[])[i.ordinal] AS fan_out_ordinal,
           (sqlc.arg(priorities)::integer[])[i.ordinal] AS priority,
           (sqlc.arg(fairness_keys)::varchar[])[i.ordinal] AS fairness_key,
           (sqlc.arg(fairness_weights)::double precision[])[i.ordinal] AS fairness_weight,
           (sqlc.arg(delays_ms)::bigint[])[i.ordinal] AS delay_ms,
           (sqlc.arg(lease_owners)::varchar[])[i.ordinal] AS lease_owner,
           (sqlc.arg(lease_margins_ms)::bigint[])[i.ordinal] AS lease_margin_ms,
           nextval(pg_get_serial_sequence('dwarf_steps', 'step_id'))::bigint AS successor_id
    FROM unnest(sqlc.arg(step_ids)::bigint[]) WITH ORDINALITY AS i(step_id, ordinal)
), done AS (
    UPDATE dwarf_steps
    SET status = 'completed', changes = items.changes::jsonb, goto_next = items.goto_next,
        successor_id = items.successor_id, parked = 0, lease_expires = now(), updated_at = now()
    FROM items
    WHERE dwarf_steps.step_id = items.step_id AND dwarf_steps.lease_seq = items.lease_seq
      AND dwarf_steps.status = 'running'
      AND EXISTS (
          SELECT 1 FROM dwarf_flows
          WHERE dwarf_flows.flow_id = items.flow_id
            AND dwarf_flows.status NOT IN ('completed', 'failed', 'cancelled')
      )
    RETURNING items.ordinal, items.flow_id, items.successor_id
), touched AS (
    UPDATE dwarf_flows
    SET step_id = newest.successor_id, updated_at = now()
    -- In flow_id order, as the planner joins a handful of rows (a nested loop over the sorted
    -- rows): two replicas' batches that share flows then lock them in the same order.
    FROM (SELECT done.flow_id, max(done.successor_id) AS successor_id
          FROM done GROUP BY done.flow_id ORDER BY done.flow_id) AS newest
    WHERE dwarf_flows.flow_id = newest.flow_id
      AND dwarf_flows.status NOT IN ('completed', 'failed', 'cancelled')
    RETURNING dwarf_flows.flow_id, dwarf_flows.status, dwarf_flows.breakpoints,
              dwarf_flows.updated_at
), successor AS (
    INSERT INTO dwarf_steps (
        step_id, flow_id, step_depth, step_token, task_name, state, state_base, changes, status,
        time_budget_ms, lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key,
        fairness_weight, parked, lease_seq, lease_owner, not_before, lease_expires, created_at,
        started_at, updated_at
    )
    SELECT items.successor_id, items.flow_id, items.step_depth, items.step_token,
           items.task_name, items.state::jsonb, items.state_base, '{}',
           CASE WHEN items.lease_owner = '' THEN 'pending' ELSE 'running' END,
           items.time_budget_ms,
           items.lineage_id, items.fan_out_ordinal, items.step_id, items.priority,
           items.fairness_key, items.fairness_weight, 0,
           CASE WHEN items.lease_owner = '' THEN 0 ELSE 1 END, items.lease_owner,
           now() + items.delay_ms * INTERVAL '1 millisecond',
           CASE WHEN items.lease_owner = '' THEN now()
                ELSE now() + (items.time_budget_ms + items.lease_margin_ms)
                             * INTERVAL '1 millisecond'
           END,
           now(), now(), now()
    FROM items
    JOIN done ON done.ordinal = items.ordinal
    JOIN touched ON touched.flow_id = items.flow_id
)
SELECT items.ordinal::bigint AS ordinal,
       (done.ordinal IS NOT NULL)::integer AS completed,
       (done.ordinal IS NOT NULL AND touched.flow_id IS NOT NULL)::integer AS touched,
       items.successor_id::bigint AS successor_id,
       now()::timestamptz AS created_at,
       COALESCE(b.lease_seq, 0)::bigint AS base_lease_seq,
       touched.status AS flow_status, touched.breakpoints AS flow_breakpoints,
       touched.updated_at AS flow_updated_at
FROM items
LEFT JOIN done ON done.ordinal = items.ordinal
LEFT JOIN touched ON touched.flow_id = items.flow_id
LEFT JOIN dwarf_steps b ON b.step_id = items.state_base AND items.state_base > 0
ORDER BY items.ordinal;

-- name: FinishWithSteps :many
-- Fast path for a batch of FinishWithStep (S12): for every item what FinishWithStep does for
-- one, each fenced on its own. Of several items of the same flow only the first (in input
-- order) that passes its fence finishes it, as if they were written one after the other: the
-- others write nothing. One row per item, in input order: completed = 0, nothing was written.
WITH items AS MATERIALIZED (
    SELECT i.ordinal,
           i.step_id,
           (sqlc.arg(lease_seqs)::bigint[])[i.ordinal] AS lease_seq,
           (sqlc.arg(flow_ids)::bigint[])[i.ordinal] AS flow_id,
           (sqlc.arg(step_changes)::text[])[i.ordinal] AS changes,
           (sqlc.arg(gotos)::varchar[])[i.ordinal] AS goto_next,
           (sqlc.arg(final_states)::text[])[i.ordinal] AS final_state
    FROM unnest(sqlc.arg(step_ids)::bigint[]) WITH ORDINALITY AS i(step_id, ordinal)
), first_per_flow AS (
    SELECT DISTINCT ON (items.flow_id) items.ordinal, items.step_id, items.lease_seq,
           items.flow_id, items.changes, items.goto_next, items.final_state
    FROM items
    JOIN dwarf_steps ON dwarf_steps.step_id = items.step_id
    WHERE dwarf_steps.lease_seq = items.lease_seq AND dwarf_steps.status = 'running'
    ORDER BY items.flow_id, items.ordinal
), done AS (
    UPDATE dwarf_steps
    SET status = 'completed', changes = first_per_flow.changes::jsonb,
        goto_next = first_per_flow.goto_next, parked = 0, lease_expires = now(),
        updated_at = now()
    FROM first_per_flow
    WHERE dwarf_steps.step_id = first_per_flow.step_id
      AND dwarf_steps.lease_seq = first_per_flow.lease_seq AND dwarf_steps.status = 'running'
      AND EXISTS (
          SELECT 1 FROM dwarf_flows
          WHERE dwarf_flows.flow_id = first_per_flow.flow_id
            AND dwarf_flows.status NOT IN ('completed', 'failed', 'cancelled')
      )
    RETURNING first_per_flow.ordinal, first_per_flow.flow_id, first_per_flow.final_state
), finished AS (
    UPDATE dwarf_flows
    SET status = 'completed', final_state = done.final_state::jsonb, updated_at = now()
    FROM done
    WHERE dwarf_flows.flow_id = done.flow_id
      AND dwarf_flows.status NOT IN ('completed', 'failed', 'cancelled')
    RETURNING dwarf_flows.flow_id
)
SELECT items.ordinal::bigint AS ordinal,
       (done.ordinal IS NOT NULL)::integer AS completed,
       (done.ordinal IS NOT NULL AND finished.flow_id IS NOT NULL)::integer AS finished
FROM items
LEFT JOIN done ON done.ordinal = items.ordinal
LEFT JOIN finished ON finished.flow_id = items.flow_id
ORDER BY items.ordinal;
