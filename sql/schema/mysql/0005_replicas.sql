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
