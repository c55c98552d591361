-- dwarf_replicas: one row per dispatching replica, refreshed about every second (its heartbeat).
-- A running step whose lease_owner has no fresh row here belongs to a dead replica and is
-- recovered without waiting for its lease. See docs/internals/liveness.md.
-- Statements end with ';' at the end of a line: the migrator splits on that.
CREATE TABLE IF NOT EXISTS dwarf_replicas (
    replica_id   TEXT     NOT NULL PRIMARY KEY,
    started_at   DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now')),
    heartbeat_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now'))
);
