-- Fast paths: statements that stand in for several portable queries on the hot path.
-- MySQL/MariaDB can write two tables in one statement with a multi-table UPDATE (an inner
-- join: both rows match and change, or neither does), so the start needs no transaction: it
-- and the read after it go as one script without BEGIN/COMMIT (storage.md, S12b).
-- A create and a step-to-successor transition are scripts (storage.md, S12b): their
-- statements, BEGIN and COMMIT go to the server as one multi-statement query, one round trip,
-- so each statement after the first finds what it needs on the server, not in the client: the
-- row the INSERT before it made (LAST_INSERT_ID()), and a guard that takes that row back when
-- the fenced write before it matched nothing. No multi-table UPDATE here writes a text column
-- of a table but its first: MariaDB buffers such values in an on-disk temporary table, a file
-- created and removed per statement (a flow's last step is why: it writes a text column of
-- both tables, so its script is the portable CompleteStep and CompleteFlow).
-- Matched rows are counted (CLIENT.FOUND_ROWS): 0 means nothing was written. Every query here
-- opens with "Fast path", which makes it optional for the other dialects.

-- name: StartFlowAndSteps :execrows
-- Fast path for StartFlow + ActivateFlowSteps: the created flow with this key starts and its
-- created steps become pending, in one statement. 0: no created flow (or no created step).
UPDATE dwarf_flows f
JOIN dwarf_steps s ON s.flow_id = f.flow_id AND s.status = 'created'
SET f.status = 'running', f.notify_hostname = sqlc.arg(notify_hostname),
    f.started_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    f.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    s.status = 'pending',
    s.lease_expires = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    s.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
WHERE f.flow_id = sqlc.arg(flow_id) AND f.flow_token = sqlc.arg(flow_token)
  AND f.status = 'created';

-- name: GetEntrySchedule :one
-- Fast path for GetFlow + GetStepSchedule after a start: the flow's current step and the ms
-- until its not_before (<= 0 = due).
SELECT f.step_id, f.workflow_name,
CAST(TIMESTAMPDIFF(MICROSECOND, (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND), s.not_before) DIV 1000 AS SIGNED) AS delay_ms
FROM dwarf_flows f
JOIN dwarf_steps s ON s.step_id = f.step_id
WHERE f.flow_id = sqlc.arg(flow_id);

-- name: InsertEntryStepOfLastFlow :execlastid
-- Fast path for InsertStep in a create's script, right after InsertFlow: the entry step of the
-- flow just inserted (LAST_INSERT_ID()); not_before = NOW + delay_ms, lease_expires = NOW.
INSERT INTO dwarf_steps (
    flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
    lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight, parked,
    state_base,
    not_before, lease_expires, created_at, started_at, updated_at
) VALUES (
    LAST_INSERT_ID(), sqlc.arg(step_depth), sqlc.arg(step_token), sqlc.arg(task_name),
    sqlc.arg(state), '{}', sqlc.arg(status), sqlc.arg(time_budget_ms),
    0, 0, 0, sqlc.arg(priority), sqlc.arg(fairness_key), sqlc.arg(fairness_weight), 0, 0,
    (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND + INTERVAL 1000 * CAST(sqlc.arg(delay_ms) AS SIGNED) MICROSECOND),
    (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
);

-- name: AdoptFlowIdentityOfLastStep :exec
-- Fast path for AdoptFlowIdentity in a create's script, right after InsertEntryStepOfLastFlow:
-- the flow of the step just inserted takes it as its current step and becomes its own thread
-- and root (unless it joined a thread or has a root). MySQL assigns left to right, each
-- assignment seeing the ones before it: the token is copied before thread_id changes.
UPDATE dwarf_flows
SET step_id = LAST_INSERT_ID(),
    thread_token = CASE WHEN thread_id = 0 THEN flow_token ELSE thread_token END,
    thread_id = CASE WHEN thread_id = 0 THEN flow_id ELSE thread_id END,
    root_flow_id = CASE WHEN root_flow_id = 0 THEN flow_id ELSE root_flow_id END
WHERE flow_id = (SELECT s.flow_id FROM dwarf_steps s WHERE s.step_id = LAST_INSERT_ID());

-- name: CompleteStepLinkedToLastStep :execrows
-- Fast path for CompleteStepLinked + TouchFlow in a step-to-successor script, right after the
-- successor's InsertStep: the claimed step (fenced on its lease, and only while its flow is
-- live) completes and links to the step just inserted, which becomes the flow's current step.
-- 0: nothing was written (DropUnlinkedLastStep then takes the successor back).
UPDATE dwarf_steps s
JOIN dwarf_flows f ON f.flow_id = s.flow_id
SET s.status = 'completed', s.changes = sqlc.arg(changes), s.goto_next = sqlc.arg(goto_next),
    s.successor_id = LAST_INSERT_ID(), s.parked = 0,
    s.lease_expires = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    s.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    f.step_id = LAST_INSERT_ID(),
    f.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
WHERE s.step_id = sqlc.arg(step_id) AND s.lease_seq = sqlc.arg(lease_seq) AND s.status = 'running'
  AND f.status NOT IN ('completed', 'failed', 'cancelled');

-- name: DropUnlinkedLastStep :execrows
-- Fast path closing a step-to-successor script: the step just inserted is deleted again unless
-- its flow now points at it, that is, unless CompleteStepLinkedToLastStep wrote (lease lost,
-- flow ended or gone: nothing of the transition stays). 1: the successor was taken back.
DELETE FROM dwarf_steps
WHERE step_id = LAST_INSERT_ID()
  AND NOT EXISTS (
    SELECT 1 FROM dwarf_flows f
    WHERE f.flow_id = dwarf_steps.flow_id AND f.step_id = dwarf_steps.step_id
  );
