-- dwarf_flows: one row per flow (root or subgraph child). See docs/internals/storage.md.
-- Hand-written T-SQL (sqlc has no SQL Server engine). Plain CREATE TABLE / CREATE INDEX:
-- idempotence comes from the migrator's version table. Filtered indexes stand in for partial ones.
-- Every text column is NVARCHAR: drivers bind a Python str as NVARCHAR, and comparing a VARCHAR
-- column with an NVARCHAR parameter converts the column row by row, which defeats its index.
-- JSON payloads are NVARCHAR(MAX) text, bound as str (see storage.md for the VARBINARY option).
-- Statements end with ';' at the end of a line: the migrator splits on that (no GO batches).
CREATE TABLE dwarf_flows (
    flow_id              BIGINT        NOT NULL IDENTITY(1, 1),
    flow_token           NVARCHAR(16)  NOT NULL,
    workflow_name        NVARCHAR(512) NOT NULL,
    graph                NVARCHAR(MAX) NOT NULL,
    baggage              NVARCHAR(MAX) NOT NULL DEFAULT N'{}',
    status               NVARCHAR(16)  NOT NULL,
    step_id              BIGINT        NOT NULL DEFAULT 0,
    surgraph_flow_id     BIGINT        NOT NULL DEFAULT 0,
    surgraph_step_depth  INT           NOT NULL DEFAULT 0,
    surgraph_step_id     BIGINT        NOT NULL DEFAULT 0,
    root_flow_id         BIGINT        NOT NULL DEFAULT 0,
    thread_id            BIGINT        NOT NULL DEFAULT 0,
    thread_token         NVARCHAR(16)  NOT NULL DEFAULT N'',
    forked_from_step     BIGINT        NOT NULL DEFAULT 0,
    trace_parent         NVARCHAR(128) NOT NULL DEFAULT N'',
    notify_hostname      NVARCHAR(256) NOT NULL DEFAULT N'',
    final_state          NVARCHAR(MAX) NOT NULL DEFAULT N'{}',
    breakpoints          NVARCHAR(MAX) NOT NULL DEFAULT N'{}',
    error                NVARCHAR(MAX) NOT NULL DEFAULT N'',
    cancel_reason        NVARCHAR(MAX) NOT NULL DEFAULT N'',
    priority             INT           NOT NULL DEFAULT 5,
    fairness_key         NVARCHAR(256) NOT NULL DEFAULT N'',
    fairness_weight      FLOAT         NOT NULL DEFAULT 1,
    time_budget_ms       INT           NOT NULL DEFAULT 0,
    delete_on_completion TINYINT       NOT NULL DEFAULT 0,
    created_at           DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    started_at           DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    updated_at           DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    CONSTRAINT pk_dwarf_flows PRIMARY KEY (flow_id)
);
CREATE INDEX idx_dwarf_flows_status ON dwarf_flows (status, updated_at);
CREATE INDEX idx_dwarf_flows_workflow_name ON dwarf_flows (workflow_name);
CREATE INDEX idx_dwarf_flows_surgraph ON dwarf_flows (surgraph_flow_id) WHERE surgraph_flow_id > 0;
CREATE INDEX idx_dwarf_flows_surgraph_step ON dwarf_flows (surgraph_step_id) WHERE surgraph_step_id > 0;
CREATE INDEX idx_dwarf_flows_thread ON dwarf_flows (thread_id, flow_id);
