-- dwarf_flows: one row per flow (root or subgraph child). See docs/internals/storage.md.
-- Statements end with ';' at the end of a line: the migrator splits on that.
CREATE TABLE IF NOT EXISTS dwarf_flows (
    flow_id              BIGSERIAL        NOT NULL,
    flow_token           VARCHAR(16)      NOT NULL,
    workflow_name        VARCHAR(512)     NOT NULL,
    graph                JSONB            NOT NULL,
    baggage              JSONB            NOT NULL DEFAULT '{}',
    status               VARCHAR(16)      NOT NULL,
    step_id              BIGINT           NOT NULL DEFAULT 0,
    surgraph_flow_id     BIGINT           NOT NULL DEFAULT 0,
    surgraph_step_depth  INTEGER          NOT NULL DEFAULT 0,
    surgraph_step_id     BIGINT           NOT NULL DEFAULT 0,
    root_flow_id         BIGINT           NOT NULL DEFAULT 0,
    thread_id            BIGINT           NOT NULL DEFAULT 0,
    thread_token         VARCHAR(16)      NOT NULL DEFAULT '',
    forked_from_step     BIGINT           NOT NULL DEFAULT 0,
    trace_parent         VARCHAR(128)     NOT NULL DEFAULT '',
    notify_hostname      VARCHAR(256)     NOT NULL DEFAULT '',
    final_state          JSONB            NOT NULL DEFAULT '{}',
    breakpoints          JSONB            NOT NULL DEFAULT '{}',
    error                TEXT             NOT NULL DEFAULT '',
    cancel_reason        TEXT             NOT NULL DEFAULT '',
    priority             INTEGER          NOT NULL DEFAULT 5,
    fairness_key         VARCHAR(256)     NOT NULL DEFAULT '',
    fairness_weight      DOUBLE PRECISION NOT NULL DEFAULT 1,
    time_budget_ms       INTEGER          NOT NULL DEFAULT 0,
    delete_on_completion SMALLINT         NOT NULL DEFAULT 0,
    created_at           TIMESTAMPTZ      NOT NULL DEFAULT now(),
    started_at           TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id)
);
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_status ON dwarf_flows (status, updated_at);
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_workflow_name ON dwarf_flows (workflow_name);
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_surgraph ON dwarf_flows (surgraph_flow_id) WHERE surgraph_flow_id > 0;
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_surgraph_step ON dwarf_flows (surgraph_step_id) WHERE surgraph_step_id > 0;
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_thread ON dwarf_flows (thread_id, flow_id);
