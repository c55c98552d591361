-- dwarf_steps: one row per step; fan-out siblings share step_depth. See docs/internals/storage.md.
-- Statements end with ';' at the end of a line: the migrator splits on that.
CREATE TABLE IF NOT EXISTS dwarf_steps (
    step_id           INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    flow_id           INTEGER  NOT NULL,
    step_depth        INTEGER  NOT NULL,
    step_token        TEXT     NOT NULL,
    task_name         TEXT     NOT NULL,
    state             TEXT     NOT NULL DEFAULT '{}',
    changes           TEXT     NOT NULL DEFAULT '{}',
    interrupt_payload TEXT     NOT NULL DEFAULT '{}',
    status            TEXT     NOT NULL,
    goto_next         TEXT     NOT NULL DEFAULT '',
    error             TEXT     NOT NULL DEFAULT '',
    time_budget_ms    INTEGER  NOT NULL,
    breakpoint_hit    INTEGER  NOT NULL DEFAULT 0,
    attempt           INTEGER  NOT NULL DEFAULT 0,
    lineage_id        INTEGER  NOT NULL DEFAULT 0,
    cohort_size       INTEGER  NOT NULL DEFAULT 0,
    cohort_arrivals   INTEGER  NOT NULL DEFAULT 0,
    cohort_failures   INTEGER  NOT NULL DEFAULT 0,
    fan_out_ordinal   INTEGER  NOT NULL DEFAULT 0,
    predecessor_id    INTEGER  NOT NULL DEFAULT 0,
    successor_id      INTEGER  NOT NULL DEFAULT 0,
    priority          INTEGER  NOT NULL DEFAULT 5,
    fairness_key      TEXT     NOT NULL DEFAULT '',
    fairness_weight   REAL     NOT NULL DEFAULT 1,
    interrupt_done    INTEGER  NOT NULL DEFAULT 0,
    resume_data       TEXT     NOT NULL DEFAULT '{}',
    subgraph_done     INTEGER  NOT NULL DEFAULT 0,
    subgraph_result   TEXT     NOT NULL DEFAULT '{}',
    subgraph_error    TEXT     NOT NULL DEFAULT '',
    parked            INTEGER  NOT NULL DEFAULT 0,
    lease_seq         INTEGER  NOT NULL DEFAULT 0,
    lease_owner       TEXT     NOT NULL DEFAULT '',
    not_before        DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now')),
    lease_expires     DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now')),
    created_at        DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now')),
    started_at        DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at        DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX IF NOT EXISTS idx_dwarf_steps_flow_id ON dwarf_steps (flow_id, step_id);
CREATE INDEX IF NOT EXISTS idx_dwarf_steps_selection ON dwarf_steps (status, parked, priority, step_id) WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS idx_dwarf_steps_saturation ON dwarf_steps (status, parked, task_name) WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS idx_dwarf_steps_lineage ON dwarf_steps (lineage_id) WHERE lineage_id > 0;
