-- Batches of the hot path's writes in one CALL and one transaction (storage.md S12d):
-- dwarf_create_many, dwarf_advance_many and dwarf_finish_many each take a JSON array of items,
-- one array of positional values per item (the parameters of dwarf_create, dwarf_advance and
-- dwarf_finish, in their order), and do for each item, in input order, what that procedure
-- does, with the same fences: an item whose fence matched nothing is rolled back to its own
-- savepoint and its neighbours still write. Everything commits once, at the end. Their answer,
-- a JSON array with one element per item in input order, is left in @dwarf_answers, and the
-- instant the batch began in @dwarf_created_at (every row a create or a transition inserts is
-- written at that instant). An error rolls the whole
-- batch back before it reaches the caller, who then writes each item alone.
-- Items are counted, not fetched to NOT FOUND: a NOT FOUND handler would also catch a SELECT
-- INTO that found nothing and silently end the batch.
-- Statements end with ';' at the end of a line, and with '$$' between the DELIMITER lines: the
-- migrator splits on that, as the mysql client does.
DROP PROCEDURE IF EXISTS dwarf_create_many;
DROP PROCEDURE IF EXISTS dwarf_advance_many;
DROP PROCEDURE IF EXISTS dwarf_finish_many;
DELIMITER $$
CREATE PROCEDURE dwarf_create_many(
    IN p_items LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)
MODIFIES SQL DATA
BEGIN
    DECLARE v_now DATETIME(6) DEFAULT (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND);
    DECLARE v_count, v_index BIGINT DEFAULT 0;
    DECLARE v_answers LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT '';
    DECLARE v_flow_token, v_workflow_name, v_graph, v_baggage, v_flow_status, v_thread_token,
        v_trace_parent, v_breakpoints, v_fairness_key, v_step_token, v_task_name, v_state,
        v_step_status, v_lease_owner LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_surgraph_flow_id, v_surgraph_step_depth, v_surgraph_step_id, v_root_flow_id,
        v_thread_id, v_priority, v_time_budget_ms, v_delete_on_completion, v_step_depth,
        v_step_time_budget_ms, v_delay_ms, v_lease_margin_ms, v_flow_id, v_step_id BIGINT;
    DECLARE v_fairness_weight DOUBLE;
    DECLARE v_items CURSOR FOR
        SELECT * FROM JSON_TABLE(p_items, '$[*]' COLUMNS (
            flow_token LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[0]',
            workflow_name LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]',
            graph LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[2]',
            baggage LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[3]',
            flow_status LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[4]',
            surgraph_flow_id BIGINT PATH '$[5]',
            surgraph_step_depth BIGINT PATH '$[6]',
            surgraph_step_id BIGINT PATH '$[7]',
            root_flow_id BIGINT PATH '$[8]',
            thread_id BIGINT PATH '$[9]',
            thread_token LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[10]',
            trace_parent LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[11]',
            breakpoints LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[12]',
            priority BIGINT PATH '$[13]',
            fairness_key LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[14]',
            fairness_weight DOUBLE PATH '$[15]',
            time_budget_ms BIGINT PATH '$[16]',
            delete_on_completion BIGINT PATH '$[17]',
            step_depth BIGINT PATH '$[18]',
            step_token LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[19]',
            task_name LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[20]',
            state LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[21]',
            step_status LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[22]',
            step_time_budget_ms BIGINT PATH '$[23]',
            delay_ms BIGINT PATH '$[24]',
            lease_owner LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[25]',
            lease_margin_ms BIGINT PATH '$[26]'
        )) AS item;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET @dwarf_created_at = v_now, @dwarf_answers = NULL;
    SET v_count = JSON_LENGTH(p_items);
    START TRANSACTION;
    OPEN v_items;
    WHILE v_index < v_count DO
        FETCH v_items INTO v_flow_token, v_workflow_name, v_graph, v_baggage, v_flow_status,
            v_surgraph_flow_id, v_surgraph_step_depth, v_surgraph_step_id, v_root_flow_id,
            v_thread_id, v_thread_token, v_trace_parent, v_breakpoints, v_priority,
            v_fairness_key, v_fairness_weight, v_time_budget_ms, v_delete_on_completion,
            v_step_depth, v_step_token, v_task_name, v_state, v_step_status,
            v_step_time_budget_ms, v_delay_ms, v_lease_owner, v_lease_margin_ms;
        INSERT INTO dwarf_flows (
            flow_token, workflow_name, graph, baggage, status,
            surgraph_flow_id, surgraph_step_depth, surgraph_step_id, root_flow_id,
            thread_id, thread_token, forked_from_step, trace_parent, breakpoints,
            priority, fairness_key, fairness_weight, time_budget_ms, delete_on_completion,
            created_at, started_at, updated_at
        ) VALUES (
            v_flow_token, v_workflow_name, v_graph, v_baggage, v_flow_status,
            v_surgraph_flow_id, v_surgraph_step_depth, v_surgraph_step_id, v_root_flow_id,
            v_thread_id, v_thread_token, 0, v_trace_parent, v_breakpoints,
            v_priority, v_fairness_key, v_fairness_weight, v_time_budget_ms,
            v_delete_on_completion, v_now, v_now, v_now
        );
        SET v_flow_id = LAST_INSERT_ID();
        INSERT INTO dwarf_steps (
            flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
            lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight,
            parked, state_base, lease_seq, lease_owner,
            not_before, lease_expires, created_at, started_at, updated_at
        ) VALUES (
            v_flow_id, v_step_depth, v_step_token, v_task_name, v_state, '{}',
            CASE WHEN v_lease_owner = '' THEN v_step_status ELSE 'running' END,
            v_step_time_budget_ms, 0, 0, 0, v_priority, v_fairness_key, v_fairness_weight, 0, 0,
            CASE WHEN v_lease_owner = '' THEN 0 ELSE 1 END, v_lease_owner,
            v_now + INTERVAL 1000 * v_delay_ms MICROSECOND,
            CASE WHEN v_lease_owner = '' THEN v_now
                 ELSE v_now + INTERVAL 1000 * (v_step_time_budget_ms + v_lease_margin_ms) MICROSECOND END,
            v_now, v_now, v_now
        );
        SET v_step_id = LAST_INSERT_ID();
        -- As dwarf_create: MySQL assigns left to right, so the token is copied before thread_id.
        UPDATE dwarf_flows
        SET step_id = v_step_id,
            thread_token = CASE WHEN thread_id = 0 THEN flow_token ELSE thread_token END,
            thread_id = CASE WHEN thread_id = 0 THEN flow_id ELSE thread_id END,
            root_flow_id = CASE WHEN root_flow_id = 0 THEN flow_id ELSE root_flow_id END
        WHERE flow_id = v_flow_id;
        SET v_answers = CONCAT(v_answers, IF(v_index = 0, '', ','), JSON_ARRAY(v_flow_id, v_step_id));
        SET v_index = v_index + 1;
    END WHILE;
    CLOSE v_items;
    COMMIT;
    SET @dwarf_answers = CONCAT('[', v_answers, ']');
END $$
CREATE PROCEDURE dwarf_advance_many(
    IN p_items LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)
MODIFIES SQL DATA
BEGIN
    DECLARE v_now DATETIME(6) DEFAULT (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND);
    DECLARE v_count, v_index BIGINT DEFAULT 0;
    DECLARE v_answers LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT '';
    DECLARE v_changes, v_goto_next, v_step_token, v_task_name, v_state, v_fairness_key,
        v_lease_owner, v_flow_status, v_flow_breakpoints
        LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_step_id, v_lease_seq, v_flow_id, v_step_depth, v_state_base, v_time_budget_ms,
        v_lineage_id, v_fan_out_ordinal, v_predecessor_id, v_priority, v_delay_ms,
        v_lease_margin_ms, v_successor_id, v_base_lease_seq BIGINT;
    DECLARE v_fairness_weight DOUBLE;
    DECLARE v_flow_updated_at DATETIME(6);
    DECLARE v_items CURSOR FOR
        SELECT * FROM JSON_TABLE(p_items, '$[*]' COLUMNS (
            step_id BIGINT PATH '$[0]',
            lease_seq BIGINT PATH '$[1]',
            changes LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[2]',
            goto_next LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[3]',
            flow_id BIGINT PATH '$[4]',
            step_depth BIGINT PATH '$[5]',
            step_token LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[6]',
            task_name LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[7]',
            state LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[8]',
            state_base BIGINT PATH '$[9]',
            time_budget_ms BIGINT PATH '$[10]',
            lineage_id BIGINT PATH '$[11]',
            fan_out_ordinal BIGINT PATH '$[12]',
            predecessor_id BIGINT PATH '$[13]',
            priority BIGINT PATH '$[14]',
            fairness_key LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[15]',
            fairness_weight DOUBLE PATH '$[16]',
            delay_ms BIGINT PATH '$[17]',
            lease_owner LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[18]',
            lease_margin_ms BIGINT PATH '$[19]'
        )) AS item;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET @dwarf_created_at = v_now, @dwarf_answers = NULL;
    SET v_count = JSON_LENGTH(p_items);
    START TRANSACTION;
    OPEN v_items;
    WHILE v_index < v_count DO
        FETCH v_items INTO v_step_id, v_lease_seq, v_changes, v_goto_next, v_flow_id,
            v_step_depth, v_step_token, v_task_name, v_state, v_state_base, v_time_budget_ms,
            v_lineage_id, v_fan_out_ordinal, v_predecessor_id, v_priority, v_fairness_key,
            v_fairness_weight, v_delay_ms, v_lease_owner, v_lease_margin_ms;
        SET v_base_lease_seq = 0, v_flow_status = 'running', v_flow_breakpoints = '{}',
            v_flow_updated_at = v_now;
        SAVEPOINT dwarf_item;
        INSERT INTO dwarf_steps (
            flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
            lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight,
            parked, state_base, lease_seq, lease_owner,
            not_before, lease_expires, created_at, started_at, updated_at
        ) VALUES (
            v_flow_id, v_step_depth, v_step_token, v_task_name, v_state, '{}',
            CASE WHEN v_lease_owner = '' THEN 'pending' ELSE 'running' END,
            v_time_budget_ms, v_lineage_id, v_fan_out_ordinal, v_predecessor_id, v_priority,
            v_fairness_key, v_fairness_weight, 0, v_state_base,
            CASE WHEN v_lease_owner = '' THEN 0 ELSE 1 END, v_lease_owner,
            v_now + INTERVAL 1000 * v_delay_ms MICROSECOND,
            CASE WHEN v_lease_owner = '' THEN v_now
                 ELSE v_now + INTERVAL 1000 * (v_time_budget_ms + v_lease_margin_ms) MICROSECOND END,
            v_now, v_now, v_now
        );
        SET v_successor_id = LAST_INSERT_ID();
        UPDATE dwarf_steps s
        JOIN dwarf_flows f ON f.flow_id = s.flow_id
        SET s.status = 'completed', s.changes = v_changes, s.goto_next = v_goto_next,
            s.successor_id = v_successor_id, s.parked = 0,
            s.lease_expires = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
            s.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
            f.step_id = v_successor_id,
            f.updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
        WHERE s.step_id = v_step_id AND s.lease_seq = v_lease_seq AND s.status = 'running'
          AND f.flow_id = v_flow_id AND f.status NOT IN ('completed', 'failed', 'cancelled');
        IF ROW_COUNT() > 0 THEN
            IF v_lease_owner <> '' THEN
                -- Under this transaction's lock on the flow row: what the commit will leave.
                SET v_base_lease_seq = COALESCE(
                    (SELECT lease_seq FROM dwarf_steps WHERE step_id = v_state_base AND v_state_base > 0), 0);
                SELECT status, breakpoints, updated_at
                INTO v_flow_status, v_flow_breakpoints, v_flow_updated_at
                FROM dwarf_flows WHERE flow_id = v_flow_id;
            END IF;
        ELSE
            ROLLBACK TO SAVEPOINT dwarf_item;
            SET v_successor_id = 0;
        END IF;
        SET v_answers = CONCAT(v_answers, IF(v_index = 0, '', ','), JSON_ARRAY(
            v_successor_id, v_base_lease_seq, v_flow_status, v_flow_breakpoints,
            DATE_FORMAT(v_flow_updated_at, '%Y-%m-%d %H:%i:%s.%f')));
        SET v_index = v_index + 1;
    END WHILE;
    CLOSE v_items;
    COMMIT;
    SET @dwarf_answers = CONCAT('[', v_answers, ']');
END $$
CREATE PROCEDURE dwarf_finish_many(
    IN p_items LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
)
MODIFIES SQL DATA
BEGIN
    DECLARE v_now DATETIME(6) DEFAULT (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND);
    DECLARE v_count, v_index BIGINT DEFAULT 0;
    DECLARE v_answers LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT '';
    DECLARE v_changes, v_goto_next, v_final_state LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_step_id, v_lease_seq, v_flow_id, v_finished BIGINT;
    DECLARE v_items CURSOR FOR
        SELECT * FROM JSON_TABLE(p_items, '$[*]' COLUMNS (
            step_id BIGINT PATH '$[0]',
            lease_seq BIGINT PATH '$[1]',
            changes LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[2]',
            goto_next LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[3]',
            flow_id BIGINT PATH '$[4]',
            final_state LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[5]'
        )) AS item;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SET @dwarf_created_at = v_now, @dwarf_answers = NULL;
    SET v_count = JSON_LENGTH(p_items);
    START TRANSACTION;
    OPEN v_items;
    WHILE v_index < v_count DO
        FETCH v_items INTO v_step_id, v_lease_seq, v_changes, v_goto_next, v_flow_id,
            v_final_state;
        SET v_finished = 0;
        SAVEPOINT dwarf_item;
        UPDATE dwarf_steps
        SET status = 'completed', changes = v_changes, goto_next = v_goto_next, parked = 0,
            lease_expires = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND),
            updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
        WHERE step_id = v_step_id AND lease_seq = v_lease_seq AND status = 'running';
        IF ROW_COUNT() = 1 THEN
            UPDATE dwarf_flows
            SET status = 'completed', final_state = v_final_state,
                updated_at = (UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)
            WHERE flow_id = v_flow_id AND status NOT IN ('completed', 'failed', 'cancelled');
            IF ROW_COUNT() = 1 THEN
                SET v_finished = 1;
            END IF;
        END IF;
        IF v_finished = 0 THEN
            ROLLBACK TO SAVEPOINT dwarf_item;
        END IF;
        SET v_answers = CONCAT(v_answers, IF(v_index = 0, '', ','), v_finished);
        SET v_index = v_index + 1;
    END WHILE;
    CLOSE v_items;
    COMMIT;
    SET @dwarf_answers = CONCAT('[', v_answers, ']');
END $$
DELIMITER ;
