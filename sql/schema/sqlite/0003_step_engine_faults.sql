-- dwarf_steps.engine_faults: how often the engine itself failed processing a step (not its task).
-- After MAX_ENGINE_FAULTS such faults the step and its flow fail instead of being handed back
-- forever. See docs/internals/dispatch.md#d11.
-- Statements end with ';' at the end of a line: the migrator splits on that.
ALTER TABLE dwarf_steps ADD COLUMN engine_faults INTEGER NOT NULL DEFAULT 0;
