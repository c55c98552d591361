-- Fast paths: SQLite's steps claimed as they are inserted (docs/internals/dispatch.md#d13).
-- A statement here is a local call, not a round trip, so these are not fewer statements than
-- the portable writes: they are the same writes with the inserted step claimed, each returning
-- what a claim's read-back would have read (RETURNING), so a step claimed on insert costs no
-- claim, no read-back and no refill. Every query here opens with "Fast path", which makes it
-- optional for the other dialects.

-- name: InsertClaimedStep :one
-- Fast path for InsertStep of a step due at once, inserted claimed by lease_owner as ClaimSteps
-- would claim it (running, lease_seq 1, lease = NOW + budget + margin; dispatch D13). Returns
-- its id and its timestamp.
INSERT INTO dwarf_steps (
    flow_id, step_depth, step_token, task_name, state, changes, status, time_budget_ms,
    lineage_id, fan_out_ordinal, predecessor_id, priority, fairness_key, fairness_weight, parked,
    state_base, lease_seq, lease_owner,
    not_before, lease_expires, created_at, started_at, updated_at
) VALUES (
    sqlc.arg(flow_id), sqlc.arg(step_depth), sqlc.arg(step_token), sqlc.arg(task_name),
    sqlc.arg(state), '{}', 'running', sqlc.arg(time_budget_ms),
    sqlc.arg(lineage_id), sqlc.arg(fan_out_ordinal), sqlc.arg(predecessor_id), sqlc.arg(priority),
    sqlc.arg(fairness_key), sqlc.arg(fairness_weight), 0, sqlc.arg(state_base),
    1, sqlc.arg(lease_owner),
    STRFTIME('%Y-%m-%d %H:%M:%f', 'now'),
    STRFTIME('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', (CAST(sqlc.arg(time_budget_ms) AS INTEGER) + CAST(sqlc.arg(lease_margin_ms) AS INTEGER)) / 1000.0)),
    STRFTIME('%Y-%m-%d %H:%M:%f', 'now'), STRFTIME('%Y-%m-%d %H:%M:%f', 'now'),
    STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
)
RETURNING step_id, created_at;

-- name: GetBaseLeaseSeq :one
-- Fast path for the base_lease_seq SelectClaimedSteps reads of a step inserted claimed whose
-- state builds on a forEach snapshot (state_base > 0): that step's lease_seq.
SELECT lease_seq FROM dwarf_steps WHERE step_id = sqlc.arg(step_id);

-- name: TouchFlowReturning :one
-- Fast path for TouchFlow when its step was inserted claimed: the same write, returning the
-- flow's status, breakpoints and updated_at as it left them (no row: nothing was written).
UPDATE dwarf_flows
SET step_id = sqlc.arg(step_id), updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
WHERE flow_id = sqlc.arg(flow_id) AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING status, breakpoints, updated_at;
