-- The type name of the exception a failed task raised ("KeyError"), beside its message in
-- error: FlowOutcome.error_type and FlowStep.error_type. Empty for a failure the engine found
-- itself and for rows written before this migration. See docs/internals/storage.md.
-- Statements end with ';' at the end of a line: the migrator splits on that.
ALTER TABLE dwarf_flows ADD COLUMN error_type TEXT NOT NULL DEFAULT '';
ALTER TABLE dwarf_steps ADD COLUMN error_type TEXT NOT NULL DEFAULT '';
