-- dwarf_steps: one row per step; fan-out siblings share step_depth. See docs/internals/storage.md.
-- Statements end with ';' at the end of a line: the migrator splits on that.
CREATE TABLE IF NOT EXISTS dwarf_steps (
    step_id           BIGSERIAL        NOT NULL,
    flow_id           BIGINT           NOT NULL,
    step_depth        INTEGER          NOT NULL,
    step_token        VARCHAR(16)      NOT NULL,
    task_name         VARCHAR(512)     NOT NULL,
    state             JSONB            NOT NULL DEFAULT '{}',
    changes           JSONB            NOT NULL DEFAULT '{}',
    interrupt_payload JSONB            NOT NULL DEFAULT '{}',
    status            VARCHAR(16)      NOT NULL,
    goto_next         VARCHAR(512)     NOT NULL DEFAULT '',
    error             TEXT             NOT NULL DEFAULT '',
    time_budget_ms    INTEGER          NOT NULL,
    breakpoint_hit    SMALLINT         NOT NULL DEFAULT 0,
    attempt           INTEGER          NOT NULL DEFAULT 0,
    lineage_id        BIGINT           NOT NULL DEFAULT 0,
    cohort_size       INTEGER          NOT NULL DEFAULT 0,
    cohort_arrivals   INTEGER          NOT NULL DEFAULT 0,
    cohort_failures   INTEGER          NOT NULL DEFAULT 0,
    fan_out_ordinal   INTEGER          NOT NULL DEFAULT 0,
    predecessor_id    BIGINT           NOT NULL DEFAULT 0,
    successor_id      BIGINT           NOT NULL DEFAULT 0,
    priority          INTEGER          NOT NULL DEFAULT 5,
    fairness_key      VARCHAR(256)     NOT NULL DEFAULT '',
    fairness_weight   DOUBLE PRECISION NOT NULL DEFAULT 1,
    interrupt_done    SMALLINT         NOT NULL DEFAULT 0,
    resume_data       JSONB            NOT NULL DEFAULT '{}',
    subgraph_done     SMALLINT         NOT NULL DEFAULT 0,
    subgraph_result   JSONB            NOT NULL DEFAULT '{}',
    subgraph_error    TEXT             NOT NULL DEFAULT '',
    parked            SMALLINT         NOT NULL DEFAULT 0,
    lease_seq         BIGINT           NOT NULL DEFAULT 0,
    lease_owner       VARCHAR(32)      NOT NULL DEFAULT '',
    not_before        TIMESTAMPTZ      NOT NULL DEFAULT now(),
    lease_expires     TIMESTAMPTZ      NOT NULL DEFAULT now(),
    created_at        TIMESTAMPTZ      NOT NULL DEFAULT now(),
    started_at        TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (step_id)
);
CREATE INDEX IF NOT EXISTS idx_dwarf_steps_flow_id ON dwarf_steps (flow_id, step_id);
CREATE INDEX IF NOT EXISTS idx_dwarf_steps_selection ON dwarf_steps (status, parked, priority, step_id) WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS idx_dwarf_steps_saturation ON dwarf_steps (status, parked, task_name) WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS idx_dwarf_steps_lineage ON dwarf_steps (lineage_id) WHERE lineage_id > 0;
