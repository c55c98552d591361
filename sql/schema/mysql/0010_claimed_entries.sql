-- dwarf_create again, with a lease: a lease owner other than '' inserts a started flow's entry
-- step already claimed by that replica, as ClaimSteps would claim it (running, lease_seq 1, lease
-- = now + budget + margin; docs/internals/dispatch.md#d13). The caller passes one only for a
-- started flow with no start_at. Every timestamp of the call is one instant, left in
-- @dwarf_created_at for the read after the call (CreatedFlow): with the ids, it is all that
-- the claimed rows hold that the caller does not know. Otherwise as version 0008 made it.
-- Statements end with ';' at the end of a line, and with '$$' between the DELIMITER lines: the
-- migrator splits on that, as the mysql client does.
DROP PROCEDURE IF EXISTS dwarf_create;
DELIMITER $$
CREATE PROCEDURE dwarf_create(
    IN p_flow_token LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_workflow_name LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_graph LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_baggage LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_flow_status LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_surgraph_flow_id BIGINT,
    IN p_surgraph_step_depth BIGINT,
    IN p_surgraph_step_id BIGINT,
    IN p_root_flow_id BIGINT,
    IN p_thread_id BIGINT,
    IN p_thread_token LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_trace_parent LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_breakpoints LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_priority BIGINT,
    IN p_fairness_key LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_fairness_weight DOUBLE,
    IN p_time_budget_ms BIGINT,
    IN p_delete_on_completion BIGINT,
    IN p_step_depth BIGINT,
    IN p_step_token LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_task_name LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_state LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_step_status LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_step_time_budget_ms BIGINT,
    IN p_delay_ms BIGINT,
    IN p_lease_owner LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_lease_margin_ms BIGINT,
    OUT p_flow_id BIGINT,
    OUT p_step_id BIGINT
)
MODIFIES SQL DATA
BEGIN
    DECLARE v_now DATETIME(6) DEFAULT (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND);
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET @dwarf_created_at = v_now;
    START TRANSACTION;
    INSERT INTO dwarf_flows (
        flow_token, workflow_name, graph, baggage, status,
        surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
        thread_id, thread_token, forked_from_step, trace_parent, breakpoints,
        priority, fairness_key, fairness_weight, time_budget_ms, delete_on_completion,
        created_at, started_at, updated_at
    ) VALUES (
        p_flow_token, p_workflow_name, p_graph, p_baggage, p_flow_status,
        p_surgraph_flow_id, p_surgraph_step_depth, p_surgraph_step_id, p_root_flow_id,
        p_thread_id, p_thread_token, 0, p_trace_parent, p_breakpoints,
        p_priority, p_fairness_key, p_fairness_weight, p_time_budget_ms, p_delete_on_completion,
        v_now, v_now, v_now
    );
    SET p_flow_id = LAST_INSERT_ID();
    INSERT INTO dwarf_steps (
        flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
        lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight,
        parked, state_base, lease_seq, lease_owner,
        not_before, lease_expires, created_at, started_at, updated_at
    ) VALUES (
        p_flow_id, p_step_depth, p_step_token, p_task_name, p_state, '{}',
        CASE WHEN p_lease_owner = '' THEN p_step_status ELSE 'running' END,
        p_step_time_budget_ms, 0, 0, 0, p_priority, p_fairness_key, p_fairness_weight, 0, 0,
        CASE WHEN p_lease_owner = '' THEN 0 ELSE 1 END, p_lease_owner,
        v_now + INTERVAL 1000 * p_delay_ms MICROSECOND,
        CASE WHEN p_lease_owner = '' THEN v_now
             ELSE v_now + INTERVAL 1000 * (p_step_time_budget_ms + p_lease_margin_ms) MICROSECOND END,
        v_now, v_now, v_now
    );
    SET p_step_id = LAST_INSERT_ID();
    -- The flow becomes its own thread and root unless it joined a thread or has a root; MySQL
    -- assigns left to right, so the token is copied before thread_id changes.
    UPDATE dwarf_flows
    SET step_id = p_step_id,
        thread_token = CASE WHEN thread_id = 0 THEN flow_token ELSE thread_token END,
        thread_id = CASE WHEN thread_id = 0 THEN flow_id ELSE thread_id END,
        root_flow_id = CASE WHEN root_flow_id = 0 THEN flow_id ELSE root_flow_id END
    WHERE flow_id = p_flow_id;
    COMMIT;
END $$
DELIMITER ;
