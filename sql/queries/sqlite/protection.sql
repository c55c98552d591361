-- Protection: the circuit breaker's parking (docs/internals/protection.md#parking).
-- parked = 2 is the breaker backlog: pending, invisible to selection until unparked.

-- name: ParkStepForBreaker :execrows
-- The step that tripped the breaker goes back to pending, parked (fenced by its claim).
UPDATE dwarf_steps
SET status = 'pending', parked = 2, not_before = STRFTIME('%Y-%m-%d %H:%M:%f', 'now'), lease_expires = STRFTIME('%Y-%m-%d %H:%M:%f', 'now'), updated_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now')
WHERE step_id = sqlc.arg(step_id) AND lease_seq = sqlc.arg(lease_seq) AND status = 'running';

-- name: ParkPendingStepsOfTask :execrows
-- Bulk park: every visible pending step of a tripped task.
UPDATE dwarf_steps
SET parked = 2
WHERE task_name = sqlc.arg(task_name) AND status = 'pending' AND status IN ('pending', 'running') AND parked = 0;

-- name: ParkPendingStepsOfFlowTask :execrows
-- Park one flow's visible pending steps of a tripped task (a start, a new successor).
UPDATE dwarf_steps
SET parked = 2
WHERE flow_id = sqlc.arg(flow_id) AND task_name = sqlc.arg(task_name) AND status = 'pending' AND parked = 0;

-- name: SelectProbeCandidate :one
-- The step a due probe would run: a visible pending or running step of the task first, else
-- the oldest parked one; no row means nothing of the task is waiting on this shard.
SELECT step_id, parked
FROM dwarf_steps
WHERE status IN ('pending', 'running') AND task_name = sqlc.arg(task_name)
  AND ((status = 'pending' AND parked IN (0, 2)) OR (status = 'running' AND parked = 0))
ORDER BY parked, created_at, step_id
LIMIT 1;

-- name: UnparkStep :execrows
-- Make one parked step visible again (a probe).
UPDATE dwarf_steps
SET parked = 0
WHERE step_id = sqlc.arg(step_id) AND status = 'pending' AND parked = 2;

-- name: UnparkStepsOfTask :execrows
-- The breaker closed on this shard: release the task's backlog.
UPDATE dwarf_steps
SET parked = 0
WHERE task_name = sqlc.arg(task_name) AND status = 'pending' AND status IN ('pending', 'running') AND parked = 2;

-- name: SelectParkedTasks :many
-- Tasks with a breaker backlog (reconstitution at startup).
SELECT DISTINCT task_name
FROM dwarf_steps
WHERE status = 'pending' AND status IN ('pending', 'running') AND parked = 2
ORDER BY task_name;
