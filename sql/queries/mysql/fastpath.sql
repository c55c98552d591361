-- Fast paths: single statements that stand in for several portable queries on the hot path.
-- MySQL/MariaDB can write two tables in one statement with a multi-table UPDATE (an inner
-- join: both rows match and change, or neither does), so the start needs no transaction, and a
-- step-to-successor transition is one write after the insert. A flow's last step has no fast
-- path here: a multi-table UPDATE buffers the new values of every table but the first in an
-- internal temporary table, and MariaDB puts one holding a text column (the flow's final
-- state, the step's changes) on disk, a file created and removed per statement, which cost
-- more than the portable transaction's three extra round trips (storage.md, S12b).
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
