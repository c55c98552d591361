-- A forEach branch stores only its bindings in state; state_base names the step whose successor
-- snapshot (its input overlaid by its changes, tombstones dropped) is the rest of its input, so a
-- fan-out of N elements stores its array once instead of N times. 0: state is the whole input.
-- See docs/internals/state.md#c2.
-- Statements end with ';' at the end of a line: the migrator splits on that.
ALTER TABLE dwarf_steps ADD state_base BIGINT NOT NULL DEFAULT 0;
