-- dwarf_flows: one row per flow (root or subgraph child). See docs/internals/storage.md.
-- Timestamps are TEXT 'YYYY-MM-DD HH:MM:SS.SSS' (UTC) written by STRFTIME('%Y-%m-%d %H:%M:%f','now'):
-- one fixed width, so text comparison orders them and SQLite's date functions parse them.
-- AUTOINCREMENT: ids are never reused after a delete (a reused id would revive an old key).
-- Statements end with ';' at the end of a line: the migrator splits on that.
CREATE TABLE IF NOT EXISTS dwarf_flows (
    flow_id              INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    flow_token           TEXT     NOT NULL,
    workflow_name        TEXT     NOT NULL,
    graph                TEXT     NOT NULL,
    baggage              TEXT     NOT NULL DEFAULT '{}',
    status               TEXT     NOT NULL,
    step_id              INTEGER  NOT NULL DEFAULT 0,
    surgraph_flow_id     INTEGER  NOT NULL DEFAULT 0,
    surgraph_step_depth  INTEGER  NOT NULL DEFAULT 0,
    surgraph_step_id     INTEGER  NOT NULL DEFAULT 0,
    root_flow_id         INTEGER  NOT NULL DEFAULT 0,
    thread_id            INTEGER  NOT NULL DEFAULT 0,
    thread_token         TEXT     NOT NULL DEFAULT '',
    forked_from_step     INTEGER  NOT NULL DEFAULT 0,
    trace_parent         TEXT     NOT NULL DEFAULT '',
    notify_hostname      TEXT     NOT NULL DEFAULT '',
    final_state          TEXT     NOT NULL DEFAULT '{}',
    breakpoints          TEXT     NOT NULL DEFAULT '{}',
    error                TEXT     NOT NULL DEFAULT '',
    cancel_reason        TEXT     NOT NULL DEFAULT '',
    priority             INTEGER  NOT NULL DEFAULT 5,
    fairness_key         TEXT     NOT NULL DEFAULT '',
    fairness_weight      REAL     NOT NULL DEFAULT 1,
    time_budget_ms       INTEGER  NOT NULL DEFAULT 0,
    delete_on_completion INTEGER  NOT NULL DEFAULT 0,
    created_at           DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now')),
    started_at           DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at           DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_status ON dwarf_flows (status, updated_at);
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_workflow_name ON dwarf_flows (workflow_name);
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_surgraph ON dwarf_flows (surgraph_flow_id) WHERE surgraph_flow_id > 0;
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_surgraph_step ON dwarf_flows (surgraph_step_id) WHERE surgraph_step_id > 0;
CREATE INDEX IF NOT EXISTS idx_dwarf_flows_thread ON dwarf_flows (thread_id, flow_id);
