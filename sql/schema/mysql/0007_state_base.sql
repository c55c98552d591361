-- A forEach branch stores only its bindings in state; state_base names the step whose successor
-- snapshot (its input overlaid by its changes, tombstones dropped) is the rest of its input, so a
-- fan-out of N elements stores its array once instead of N times. 0: state is the whole input.
-- See docs/internals/state.md#c2.
-- Statements end with ';' at the end of a line: the migrator splits on that.
ALTER TABLE dwarf_steps ADD COLUMN state_base BIGINT NOT NULL DEFAULT 0;
-- idx_dwarf_steps_saturation (status, parked, task_name) goes: it matches every live-step scan
-- as well as the selection index does, so a planner without fresh statistics (autovacuum off, or
-- a bulk insert it has not seen yet) may scan it for SelectDueBand and visit every pending row:
-- 250 ms per dispatcher poll with 84,000 branches pending. The breaker's rare task_name queries
-- use the selection index's (status, parked) prefix instead.
ALTER TABLE dwarf_steps DROP INDEX idx_dwarf_steps_saturation;
