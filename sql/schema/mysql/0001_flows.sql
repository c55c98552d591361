-- dwarf_flows: one row per flow (root or subgraph child). See docs/internals/storage.md.
-- MySQL 8.0.13+ / MariaDB 10.4+: JSON and TEXT defaults must be parenthesized expressions.
-- Indexes are declared inline (MySQL has no CREATE INDEX IF NOT EXISTS and no partial indexes).
-- The table collation is binary (utf8mb4_bin): keys and tokens compare byte-exact, and no
-- PAD SPACE or case folding makes 'a' equal 'A ' in a lookup.
-- Statements end with ';' at the end of a line: the migrator splits on that.
CREATE TABLE IF NOT EXISTS dwarf_flows (
    flow_id              BIGINT       NOT NULL AUTO_INCREMENT,
    flow_token           VARCHAR(16)  NOT NULL,
    workflow_name        VARCHAR(512) NOT NULL,
    graph                JSON         NOT NULL,
    baggage              JSON         NOT NULL DEFAULT ('{}'),
    status               VARCHAR(16)  NOT NULL,
    step_id              BIGINT       NOT NULL DEFAULT 0,
    surgraph_flow_id     BIGINT       NOT NULL DEFAULT 0,
    surgraph_step_depth  INT          NOT NULL DEFAULT 0,
    surgraph_step_id     BIGINT       NOT NULL DEFAULT 0,
    root_flow_id         BIGINT       NOT NULL DEFAULT 0,
    thread_id            BIGINT       NOT NULL DEFAULT 0,
    thread_token         VARCHAR(16)  NOT NULL DEFAULT '',
    forked_from_step     BIGINT       NOT NULL DEFAULT 0,
    trace_parent         VARCHAR(128) NOT NULL DEFAULT '',
    notify_hostname      VARCHAR(256) NOT NULL DEFAULT '',
    final_state          JSON         NOT NULL DEFAULT ('{}'),
    breakpoints          JSON         NOT NULL DEFAULT ('{}'),
    error                TEXT         NOT NULL DEFAULT (''),
    cancel_reason        TEXT         NOT NULL DEFAULT (''),
    priority             INT          NOT NULL DEFAULT 5,
    fairness_key         VARCHAR(256) NOT NULL DEFAULT '',
    fairness_weight      DOUBLE       NOT NULL DEFAULT 1,
    time_budget_ms       INT          NOT NULL DEFAULT 0,
    delete_on_completion TINYINT      NOT NULL DEFAULT 0,
    created_at           DATETIME(3)  NOT NULL,
    started_at           DATETIME(3)  NOT NULL,
    updated_at           DATETIME(3)  NOT NULL,
    PRIMARY KEY (flow_id),
    INDEX idx_dwarf_flows_status (status, updated_at),
    INDEX idx_dwarf_flows_workflow_name (workflow_name),
    INDEX idx_dwarf_flows_surgraph (surgraph_flow_id),
    INDEX idx_dwarf_flows_surgraph_step (surgraph_step_id),
    INDEX idx_dwarf_flows_thread (thread_id, flow_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
