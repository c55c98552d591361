-- dwarf_replicas: one row per dispatching replica, refreshed about every second (its heartbeat).
-- A running step whose lease_owner has no fresh row here belongs to a dead replica and is
-- recovered without waiting for its lease. See docs/internals/liveness.md.
-- Statements end with ';' at the end of a line: the migrator splits on that.
CREATE TABLE IF NOT EXISTS dwarf_replicas (
    replica_id   VARCHAR(32)  NOT NULL,
    started_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (replica_id)
);
