-- dwarf_replicas: one row per dispatching replica, refreshed about every second (its heartbeat).
-- A running step whose lease_owner has no fresh row here belongs to a dead replica and is
-- recovered without waiting for its lease. See docs/internals/liveness.md.
-- Statements end with ';' at the end of a line: the migrator splits on that.
CREATE TABLE IF NOT EXISTS dwarf_replicas (
    replica_id   VARCHAR(32)  NOT NULL,
    started_at   DATETIME(3)  NOT NULL,
    heartbeat_at DATETIME(3)  NOT NULL,
    PRIMARY KEY (replica_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
-- replica_id is compared with dwarf_steps.lease_owner, which 0004 moved to the server's NO PAD
-- binary collation: the two must match, or the server refuses to compare them.
SET @dwarf_nopad = IF(VERSION() LIKE '%MariaDB%', 'utf8mb4_nopad_bin', 'utf8mb4_0900_bin');
SET @dwarf_alter = CONCAT(
    'ALTER TABLE dwarf_replicas MODIFY replica_id VARCHAR(32) NOT NULL COLLATE ', @dwarf_nopad);
PREPARE dwarf_stmt FROM @dwarf_alter;
EXECUTE dwarf_stmt;
DEALLOCATE PREPARE dwarf_stmt;
