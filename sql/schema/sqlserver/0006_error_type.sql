-- The type name of the exception a failed task raised ("KeyError"), beside its message in
-- error: FlowOutcome.error_type and FlowStep.error_type. Empty for a failure the engine found
-- itself and for rows written before this migration. See docs/internals/storage.md.
-- Statements end with ';' at the end of a line: the migrator splits on that.
ALTER TABLE dwarf_flows ADD error_type NVARCHAR(200) NOT NULL DEFAULT N'';
ALTER TABLE dwarf_steps ADD error_type NVARCHAR(200) NOT NULL DEFAULT N'';
