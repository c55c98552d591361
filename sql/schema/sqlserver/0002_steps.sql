-- dwarf_steps: one row per step; fan-out siblings share step_depth. See docs/internals/storage.md.
-- Filtered indexes only match queries whose predicate carries the literal statuses, which is
-- why every query inlines them. Sessions need ANSI_NULLS and QUOTED_IDENTIFIER ON (the ODBC
-- default) to write a table with filtered indexes.
-- Statements end with ';' at the end of a line: the migrator splits on that (no GO batches).
CREATE TABLE dwarf_steps (
    step_id           BIGINT        NOT NULL IDENTITY(1, 1),
    flow_id           BIGINT        NOT NULL,
    step_depth        INT           NOT NULL,
    step_token        NVARCHAR(16)  NOT NULL,
    task_name         NVARCHAR(512) NOT NULL,
    state             NVARCHAR(MAX) NOT NULL DEFAULT N'{}',
    changes           NVARCHAR(MAX) NOT NULL DEFAULT N'{}',
    interrupt_payload NVARCHAR(MAX) NOT NULL DEFAULT N'{}',
    status            NVARCHAR(16)  NOT NULL,
    goto_next         NVARCHAR(512) NOT NULL DEFAULT N'',
    error             NVARCHAR(MAX) NOT NULL DEFAULT N'',
    time_budget_ms    INT           NOT NULL,
    breakpoint_hit    TINYINT       NOT NULL DEFAULT 0,
    attempt           INT           NOT NULL DEFAULT 0,
    lineage_id        BIGINT        NOT NULL DEFAULT 0,
    cohort_size       INT           NOT NULL DEFAULT 0,
    cohort_arrivals   INT           NOT NULL DEFAULT 0,
    cohort_failures   INT           NOT NULL DEFAULT 0,
    fan_out_ordinal   INT           NOT NULL DEFAULT 0,
    predecessor_id    BIGINT        NOT NULL DEFAULT 0,
    successor_id      BIGINT        NOT NULL DEFAULT 0,
    priority          INT           NOT NULL DEFAULT 5,
    fairness_key      NVARCHAR(256) NOT NULL DEFAULT N'',
    fairness_weight   FLOAT         NOT NULL DEFAULT 1,
    interrupt_done    TINYINT       NOT NULL DEFAULT 0,
    resume_data       NVARCHAR(MAX) NOT NULL DEFAULT N'{}',
    subgraph_done     TINYINT       NOT NULL DEFAULT 0,
    subgraph_result   NVARCHAR(MAX) NOT NULL DEFAULT N'{}',
    subgraph_error    NVARCHAR(MAX) NOT NULL DEFAULT N'',
    parked            TINYINT       NOT NULL DEFAULT 0,
    lease_seq         BIGINT        NOT NULL DEFAULT 0,
    lease_owner       NVARCHAR(32)  NOT NULL DEFAULT N'',
    not_before        DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    lease_expires     DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    created_at        DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    started_at        DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    updated_at        DATETIME2(3)  NOT NULL DEFAULT SYSUTCDATETIME(),
    CONSTRAINT pk_dwarf_steps PRIMARY KEY (step_id)
);
CREATE INDEX idx_dwarf_steps_flow_id ON dwarf_steps (flow_id, step_id);
CREATE INDEX idx_dwarf_steps_selection ON dwarf_steps (status, parked, priority, step_id) WHERE status IN ('pending', 'running');
CREATE INDEX idx_dwarf_steps_saturation ON dwarf_steps (status, parked, task_name) WHERE status IN ('pending', 'running');
CREATE INDEX idx_dwarf_steps_lineage ON dwarf_steps (lineage_id) WHERE lineage_id > 0;
