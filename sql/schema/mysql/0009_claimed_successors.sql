-- dwarf_advance again, with a lease: a lease owner other than '' inserts the successor already
-- claimed by that replica, as ClaimSteps would claim it (running, lease_seq 1, lease = now +
-- budget + margin; docs/internals/dispatch.md#d13), and leaves in user variables what the
-- claim's read-back would have read that the caller does not know: the successor's created_at
-- (@dwarf_created_at), its base's lease_seq (@dwarf_base_lease_seq), and the flow's status,
-- breakpoints and updated_at after the commit (@dwarf_flow_*). Those are set at the start of every
-- call, so the read after a claiming call that wrote nothing never finds them unset (NULL); they
-- mean something only when the successor's id is not 0. Otherwise as version 0008 made it.
-- Statements end with ';' at the end of a line, and with '$$' between the DELIMITER lines: the
-- migrator splits on that, as the mysql client does.
DROP PROCEDURE IF EXISTS dwarf_advance;
DELIMITER $$
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
    IN p_lease_owner LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    IN p_lease_margin_ms BIGINT,
    OUT p_successor_id BIGINT
)
MODIFIES SQL DATA
BEGIN
    DECLARE v_now DATETIME(6) DEFAULT (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND);
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET @dwarf_created_at = v_now, @dwarf_base_lease_seq = 0, @dwarf_flow_status = 'running',
        @dwarf_flow_breakpoints = '{}', @dwarf_flow_updated_at = v_now;
    START TRANSACTION;
    INSERT INTO dwarf_steps (
        flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
        lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight,
        parked, state_base, lease_seq, lease_owner,
        not_before, lease_expires, created_at, started_at, updated_at
    ) VALUES (
        p_flow_id, p_step_depth, p_step_token, p_task_name, p_state, '{}',
        CASE WHEN p_lease_owner = '' THEN 'pending' ELSE 'running' END,
        p_time_budget_ms, p_lineage_id, p_fan_out_ordinal, p_predecessor_id, p_priority,
        p_fairness_key, p_fairness_weight, 0, p_state_base,
        CASE WHEN p_lease_owner = '' THEN 0 ELSE 1 END, p_lease_owner,
        v_now + INTERVAL 1000 * p_delay_ms MICROSECOND,
        CASE WHEN p_lease_owner = '' THEN v_now
             ELSE v_now + INTERVAL 1000 * (p_time_budget_ms + p_lease_margin_ms) MICROSECOND END,
        v_now, v_now, v_now
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
        IF p_lease_owner <> '' THEN
            SET @dwarf_created_at = v_now;
            SET @dwarf_base_lease_seq = COALESCE(
                (SELECT lease_seq FROM dwarf_steps WHERE step_id = p_state_base AND p_state_base > 0), 0);
            SELECT status, breakpoints, updated_at
            INTO @dwarf_flow_status, @dwarf_flow_breakpoints, @dwarf_flow_updated_at
            FROM dwarf_flows WHERE flow_id = p_flow_id;
        END IF;
    ELSE
        ROLLBACK;
        SET p_successor_id = 0;
    END IF;
END $$
DELIMITER ;
