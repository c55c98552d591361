-- Text keys compare byte-exact including trailing spaces: NO PAD binary collations.
-- utf8mb4_bin is a PAD SPACE collation, so 'wf' = 'wf ' in every lookup and filter. The NO PAD
-- binary collation is utf8mb4_nopad_bin on MariaDB and utf8mb4_0900_bin on MySQL 8, and neither
-- server knows the other's name, so the statement is built for the server it runs on.
-- See docs/internals/storage.md (the MySQL bullet of the schema decisions).
-- Statements end with ';' at the end of a line: the migrator splits on that.
SET @dwarf_nopad = IF(VERSION() LIKE '%MariaDB%', 'utf8mb4_nopad_bin', 'utf8mb4_0900_bin');
SET @dwarf_alter = CONCAT(
    'ALTER TABLE dwarf_flows',
    ' MODIFY flow_token VARCHAR(16) NOT NULL COLLATE ', @dwarf_nopad,
    ', MODIFY workflow_name VARCHAR(512) NOT NULL COLLATE ', @dwarf_nopad,
    ', MODIFY status VARCHAR(16) NOT NULL COLLATE ', @dwarf_nopad,
    ', MODIFY thread_token VARCHAR(16) NOT NULL DEFAULT '''' COLLATE ', @dwarf_nopad,
    ', MODIFY trace_parent VARCHAR(128) NOT NULL DEFAULT '''' COLLATE ', @dwarf_nopad,
    ', MODIFY notify_hostname VARCHAR(256) NOT NULL DEFAULT '''' COLLATE ', @dwarf_nopad,
    ', MODIFY fairness_key VARCHAR(256) NOT NULL DEFAULT '''' COLLATE ', @dwarf_nopad);
PREPARE dwarf_stmt FROM @dwarf_alter;
EXECUTE dwarf_stmt;
SET @dwarf_alter = CONCAT(
    'ALTER TABLE dwarf_steps',
    ' MODIFY step_token VARCHAR(16) NOT NULL COLLATE ', @dwarf_nopad,
    ', MODIFY task_name VARCHAR(512) NOT NULL COLLATE ', @dwarf_nopad,
    ', MODIFY status VARCHAR(16) NOT NULL COLLATE ', @dwarf_nopad,
    ', MODIFY goto_next VARCHAR(512) NOT NULL DEFAULT '''' COLLATE ', @dwarf_nopad,
    ', MODIFY fairness_key VARCHAR(256) NOT NULL DEFAULT '''' COLLATE ', @dwarf_nopad,
    ', MODIFY lease_owner VARCHAR(32) NOT NULL DEFAULT '''' COLLATE ', @dwarf_nopad);
PREPARE dwarf_stmt FROM @dwarf_alter;
EXECUTE dwarf_stmt;
DEALLOCATE PREPARE dwarf_stmt;
