-- Fast paths: statements that stand in for several portable queries on the hot path.
-- MySQL/MariaDB can write two tables in one statement with a multi-table UPDATE (an inner
-- join: both rows match and change, or neither does), so the start needs no transaction: it
-- and the read after it go as one script without BEGIN/COMMIT (storage.md, S12b).
-- A create, a step-to-successor transition and a flow's last step are stored procedures
-- (sql/schema/mysql/0008_hot_path_procedures.sql, storage.md S12c), each a CALL and the read of
-- the answer it leaves in a user variable, sent as one script without BEGIN/COMMIT: the
-- procedure runs its own transaction. No multi-table UPDATE here writes a text column of a table
-- but its first: MariaDB buffers such values in an on-disk temporary table, a file created and
-- removed per statement.
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

-- name: CreateByProcedure :exec
-- Fast path for a create's transaction (storage.md S12c): the stored procedure dwarf_create
-- inserts the flow and its entry step and makes the flow its own thread and root (unless it
-- joined a thread or has a root), in its own transaction; the ids it gave are left in
-- @dwarf_flow_id and @dwarf_entry_step_id for CreatedFlow. A lease_owner other than '' inserts
-- a started flow's entry already claimed by that replica (dispatch D13). Each argument is cast
-- so that sqlc can type it.
CALL dwarf_create(
    CAST(sqlc.arg(flow_token) AS CHAR), CAST(sqlc.arg(workflow_name) AS CHAR),
    CAST(sqlc.arg(graph) AS CHAR), CAST(sqlc.arg(baggage) AS CHAR),
    CAST(sqlc.arg(flow_status) AS CHAR), CAST(sqlc.arg(surgraph_flow_id) AS SIGNED),
    CAST(sqlc.arg(surgraph_step_depth) AS SIGNED), CAST(sqlc.arg(surgraph_step_id) AS SIGNED),
    CAST(sqlc.arg(root_flow_id) AS SIGNED), CAST(sqlc.arg(thread_id) AS SIGNED),
    CAST(sqlc.arg(thread_token) AS CHAR), CAST(sqlc.arg(trace_parent) AS CHAR),
    CAST(sqlc.arg(breakpoints) AS CHAR), CAST(sqlc.arg(priority) AS SIGNED),
    CAST(sqlc.arg(fairness_key) AS CHAR), CAST(sqlc.arg(fairness_weight) AS DOUBLE),
    CAST(sqlc.arg(time_budget_ms) AS SIGNED), CAST(sqlc.arg(delete_on_completion) AS SIGNED),
    CAST(sqlc.arg(step_depth) AS SIGNED), CAST(sqlc.arg(step_token) AS CHAR),
    CAST(sqlc.arg(task_name) AS CHAR), CAST(sqlc.arg(state) AS CHAR),
    CAST(sqlc.arg(step_status) AS CHAR), CAST(sqlc.arg(step_time_budget_ms) AS SIGNED),
    CAST(sqlc.arg(delay_ms) AS SIGNED), CAST(sqlc.arg(lease_owner) AS CHAR),
    CAST(sqlc.arg(lease_margin_ms) AS SIGNED),
    @dwarf_flow_id, @dwarf_entry_step_id
);

-- name: CreatedFlow :one
-- Fast path: what CreateByProcedure left, on the same connection: the new flow's id, its entry
-- step's, and the instant both rows were written at.
SELECT CAST(@dwarf_flow_id AS SIGNED) AS flow_id, CAST(@dwarf_entry_step_id AS SIGNED) AS step_id,
       CAST(@dwarf_created_at AS DATETIME(6)) AS created_at;

-- name: FindClaimedEntry :one
-- Fast path for the read-back of a lost claiming CreateByProcedure reply: the entry step it
-- inserted (dispatch D13), found by the token its caller gave it among the steps running under
-- the caller's lease (the selection index's running rows: a replica's few).
SELECT step_id
FROM dwarf_steps
WHERE status = 'running' AND lease_owner = sqlc.arg(lease_owner)
  AND step_token = sqlc.arg(step_token) AND predecessor_id = 0;

-- name: AdvanceByProcedure :exec
-- Fast path for a step-to-successor transaction (storage.md S12c): the stored procedure
-- dwarf_advance inserts the successor, completes the claimed step linked to it (fenced on its
-- lease, and only while its flow is live) and makes it the flow's current step, in its own
-- transaction; the successor's id, or 0 when nothing was written, is left in
-- @dwarf_successor_id for ClaimedSuccessor. A lease_owner other than '' inserts the successor
-- already claimed by that replica (dispatch D13). Each argument is cast so that sqlc can type it.
CALL dwarf_advance(
    CAST(sqlc.arg(step_id) AS SIGNED), CAST(sqlc.arg(lease_seq) AS SIGNED),
    CAST(sqlc.arg(changes) AS CHAR), CAST(sqlc.arg(goto_next) AS CHAR),
    CAST(sqlc.arg(flow_id) AS SIGNED), CAST(sqlc.arg(step_depth) AS SIGNED),
    CAST(sqlc.arg(step_token) AS CHAR), CAST(sqlc.arg(task_name) AS CHAR),
    CAST(sqlc.arg(state) AS CHAR), CAST(sqlc.arg(state_base) AS SIGNED),
    CAST(sqlc.arg(time_budget_ms) AS SIGNED), CAST(sqlc.arg(lineage_id) AS SIGNED),
    CAST(sqlc.arg(fan_out_ordinal) AS SIGNED), CAST(sqlc.arg(predecessor_id) AS SIGNED),
    CAST(sqlc.arg(priority) AS SIGNED), CAST(sqlc.arg(fairness_key) AS CHAR),
    CAST(sqlc.arg(fairness_weight) AS DOUBLE), CAST(sqlc.arg(delay_ms) AS SIGNED),
    CAST(sqlc.arg(lease_owner) AS CHAR), CAST(sqlc.arg(lease_margin_ms) AS SIGNED),
    @dwarf_successor_id
);

-- name: ClaimedSuccessor :one
-- Fast path: what an AdvanceByProcedure left, on the same connection: the successor's id (0:
-- nothing written), and, after a claiming CALL (dispatch D13), what the claim's read-back would
-- have read that the caller does not know (a CALL without a lease leaves their defaults).
SELECT CAST(@dwarf_successor_id AS SIGNED) AS successor_id,
       CAST(@dwarf_created_at AS DATETIME(6)) AS created_at,
       CAST(@dwarf_base_lease_seq AS SIGNED) AS base_lease_seq,
       CAST(@dwarf_flow_status AS CHAR) AS flow_status,
       CAST(@dwarf_flow_breakpoints AS CHAR) AS flow_breakpoints,
       CAST(@dwarf_flow_updated_at AS DATETIME(6)) AS flow_updated_at;

-- name: FindClaimedSuccessor :one
-- Fast path for the read-back of a lost claiming AdvanceByProcedure reply: the successor it
-- inserted (dispatch D13), found by the token its caller gave it, only if it is still running
-- under the caller's lease. By the flow's index.
SELECT step_id
FROM dwarf_steps
WHERE flow_id = sqlc.arg(flow_id) AND predecessor_id = sqlc.arg(predecessor_id)
  AND step_token = sqlc.arg(step_token) AND status = 'running'
  AND lease_owner = sqlc.arg(lease_owner);

-- name: FinishByProcedure :exec
-- Fast path for a flow's last step (storage.md S12c): the stored procedure dwarf_finish
-- completes the claimed step (fenced on its lease) and then its flow with its final state
-- (only while live), in its own transaction that commits only when both matched; 1 when it
-- wrote, 0 when it wrote nothing, is left in @dwarf_finished for Finished.
CALL dwarf_finish(
    CAST(sqlc.arg(step_id) AS SIGNED), CAST(sqlc.arg(lease_seq) AS SIGNED),
    CAST(sqlc.arg(changes) AS CHAR), CAST(sqlc.arg(goto_next) AS CHAR),
    CAST(sqlc.arg(flow_id) AS SIGNED), CAST(sqlc.arg(final_state) AS CHAR),
    @dwarf_finished
);

-- name: Finished :one
-- Fast path: what FinishByProcedure left, on the same connection: 1 when the step and its flow
-- completed, 0 when nothing was written.
SELECT CAST(@dwarf_finished AS SIGNED) AS finished;

-- name: CreateManyByProcedure :exec
-- Fast path for a batch of CreateByProcedure (storage.md S12d): the stored procedure
-- dwarf_create_many does what dwarf_create does for each item of a JSON array of items (one
-- array of dwarf_create's values per item), in one transaction; the ids it gave are left in
-- @dwarf_answers, one [flow_id, step_id] per item, for BatchAnswers.
CALL dwarf_create_many(CAST(sqlc.arg(items) AS CHAR));

-- name: AdvanceManyByProcedure :exec
-- Fast path for a batch of AdvanceByProcedure (storage.md S12d): dwarf_advance_many does what
-- dwarf_advance does for each item (one array of dwarf_advance's values per item), in one
-- transaction, an item whose fence matched nothing rolled back to its own savepoint; left in
-- @dwarf_answers, one [successor_id, base_lease_seq, flow_status, flow_breakpoints,
-- flow_updated_at] per item (successor_id 0: nothing written; the rest as ClaimedSuccessor).
CALL dwarf_advance_many(CAST(sqlc.arg(items) AS CHAR));

-- name: FinishManyByProcedure :exec
-- Fast path for a batch of FinishByProcedure (storage.md S12d): dwarf_finish_many does what
-- dwarf_finish does for each item (one array of dwarf_finish's values per item), in one
-- transaction; left in @dwarf_answers, 1 (written) or 0 (nothing) per item.
CALL dwarf_finish_many(CAST(sqlc.arg(items) AS CHAR));

-- name: BatchAnswers :one
-- Fast path: what a batch procedure left, on the same connection: its answers (a JSON array,
-- an element per item in input order) and the instant the batch began, at which its creates
-- and transitions wrote their rows.
SELECT CAST(@dwarf_answers AS CHAR) AS answers,
       CAST(@dwarf_created_at AS DATETIME(6)) AS created_at;
