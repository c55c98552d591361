-- The hot path's transactions as stored procedures: a create (dwarf_create), a step to its one
-- successor (dwarf_advance) and a flow's last step (dwarf_finish). MariaDB's server is the
-- bottleneck of the MySQL hot path, and it parses and plans every statement it is sent; a
-- procedure's statements are parsed once per connection and run again from its cache. Each
-- procedure runs its own transaction with the fences of the statements it replaces (storage.md
-- S12c): a lost lease or an ended flow writes nothing and answers 0 in its OUT parameter (a
-- create has no fence). An error rolls the transaction back before it reaches the caller.
-- A procedure runs with the sql_mode of the session that created it (the migrator's, the
-- server's default). String parameters are LONGTEXT in utf8mb4, so a value too long for its
-- column fails on the column, as the statement it replaces did. A later migration that changes
-- a column these write must create them again.
-- Statements end with ';' at the end of a line, and with '$$' between the DELIMITER lines: the
-- migrator splits on that, as the mysql client does.
DROP PROCEDURE IF EXISTS dwarf_create;
DROP PROCEDURE IF EXISTS dwarf_advance;
DROP PROCEDURE IF EXISTS dwarf_finish;
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
    OUT p_flow_id BIGINT,
    OUT p_step_id BIGINT
)
MODIFIES SQL DATA
BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
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
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
    );
    SET p_flow_id = LAST_INSERT_ID();
    INSERT INTO dwarf_steps (
        flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
        lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight,
        parked, state_base,
        not_before, lease_expires, created_at, started_at, updated_at
    ) VALUES (
        p_flow_id, p_step_depth, p_step_token, p_task_name, p_state, '{}', p_step_status,
        p_step_time_budget_ms, 0, 0, 0, p_priority, p_fairness_key, p_fairness_weight, 0, 0,
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND + INTERVAL 1000 * p_delay_ms MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
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
CREATE PROCEDURE dwarf_advance(
    IN p_step_id BIGINT,
    IN p_lease_seq BIGINT,
    IN p_changes LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_goto_next LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_flow_id BIGINT,
    IN p_step_depth BIGINT,
    IN p_step_token LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_task_name LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_state LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_state_base BIGINT,
    IN p_time_budget_ms BIGINT,
    IN p_lineage_id BIGINT,
    IN p_fan_out_ordinal BIGINT,
    IN p_predecessor_id BIGINT,
    IN p_priority BIGINT,
    IN p_fairness_key LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_fairness_weight DOUBLE,
    IN p_delay_ms BIGINT,
    OUT p_successor_id BIGINT
)
MODIFIES SQL DATA
BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    START TRANSACTION;
    INSERT INTO dwarf_steps (
        flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
        lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight,
        parked, state_base,
        not_before, lease_expires, created_at, started_at, updated_at
    ) VALUES (
        p_flow_id, p_step_depth, p_step_token, p_task_name, p_state, '{}', 'pending',
        p_time_budget_ms, p_lineage_id, p_fan_out_ordinal, p_predecessor_id, p_priority,
        p_fairness_key, p_fairness_weight, 0, p_state_base,
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND + INTERVAL 1000 * p_delay_ms MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
    );
    SET p_successor_id = LAST_INSERT_ID();
    UPDATE dwarf_steps s
    JOIN dwarf_flows f ON f.flow_id = s.flow_id
    SET s.status = 'completed', s.changes = p_changes, s.goto_next = p_goto_next,
        s.successor_id = p_successor_id, s.parked = 0,
        s.lease_expires = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        s.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        f.step_id = p_successor_id,
        f.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
    WHERE s.step_id = p_step_id AND s.lease_seq = p_lease_seq AND s.status = 'running'
      AND f.flow_id = p_flow_id AND f.status NOT IN ('completed', 'failed', 'cancelled');
    IF ROW_COUNT() > 0 THEN
        COMMIT;
    ELSE
        ROLLBACK;
        SET p_successor_id = 0;
    END IF;
END $$
CREATE PROCEDURE dwarf_finish(
    IN p_step_id BIGINT,
    IN p_lease_seq BIGINT,
    IN p_changes LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_goto_next LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_flow_id BIGINT,
    IN p_final_state LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    OUT p_finished BIGINT
)
MODIFIES SQL DATA
BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET p_finished = 0;
    START TRANSACTION;
    UPDATE dwarf_steps
    SET status = 'completed', changes = p_changes, goto_next = p_goto_next, parked = 0,
        lease_expires = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
        updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
    WHERE step_id = p_step_id AND lease_seq = p_lease_seq AND status = 'running';
    IF ROW_COUNT() = 1 THEN
        UPDATE dwarf_flows
        SET status = 'completed', final_state = p_final_state,
            updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
        WHERE flow_id = p_flow_id AND status NOT IN ('completed', 'failed', 'cancelled');
        IF ROW_COUNT() = 1 THEN
            SET p_finished = 1;
        END IF;
    END IF;
    IF p_finished = 1 THEN
        COMMIT;
    ELSE
        ROLLBACK;
    END IF;
END $$
DELIMITER ;
