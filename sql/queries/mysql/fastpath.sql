-- Fast paths: single statements that stand in for several portable queries on the hot path.
-- MySQL/MariaDB can write two tables in one statement with a multi-table UPDATE (an inner
-- join: both rows match and change, or neither does), so the start and the flow's last step
-- need no transaction, and a step-to-successor transition is one write after the insert.
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

-- name: CompleteStepLinkedAndTouch :execrows
-- Fast path for CompleteStepLinked + TouchFlow: the claimed step (fenced on its lease, and only
-- while its flow is live) completes and links to its already inserted successor, which becomes
-- the flow's current step. 0: nothing was written (the caller rolls the insert back).
UPDATE dwarf_steps s
JOIN dwarf_flows f ON f.flow_id = s.flow_id
SET s.status = 'completed', s.changes = sqlc.arg(changes), s.goto_next = sqlc.arg(goto_next),
    s.successor_id = sqlc.arg(successor_id), s.parked = 0,
    s.lease_expires = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    s.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    f.step_id = sqlc.arg(successor_id),
    f.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
WHERE s.step_id = sqlc.arg(step_id) AND s.lease_seq = sqlc.arg(lease_seq) AND s.status = 'running'
  AND f.status NOT IN ('completed', 'failed', 'cancelled');

-- name: CompleteStepAndFlow :execrows
-- Fast path for CompleteStep + CompleteFlow: the claimed step (fenced on its lease, and only
-- while its flow is live) completes, and with it the flow, with the final state the caller
-- computed, in one statement. 0: nothing was written.
UPDATE dwarf_steps s
JOIN dwarf_flows f ON f.flow_id = s.flow_id
SET s.status = 'completed', s.changes = sqlc.arg(changes), s.goto_next = sqlc.arg(goto_next),
    s.parked = 0, s.lease_expires = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    s.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
    f.status = 'completed', f.final_state = CAST(sqlc.arg(final_state) AS CHAR),
    f.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
WHERE s.step_id = sqlc.arg(step_id) AND s.lease_seq = sqlc.arg(lease_seq) AND s.status = 'running'
  AND f.status NOT IN ('completed', 'failed', 'cancelled');
