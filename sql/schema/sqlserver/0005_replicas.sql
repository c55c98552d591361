-- dwarf_replicas: one row per dispatching replica, refreshed about every second (its heartbeat).
-- A running step whose lease_owner has no fresh row here belongs to a dead replica and is
-- recovered without waiting for its lease. See docs/internals/liveness.md.
-- Statements end with ';' at the end of a line: the migrator splits on that (no GO batches).
CREATE TABLE dwarf_replicas (
    replica_id   NVARCHAR(32)  NOT NULL,
    started_at   DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    heartbeat_at DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    CONSTRAINT pk_dwarf_replicas PRIMARY KEY (replica_id)
);
