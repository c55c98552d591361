"""Flow rows on live databases: lifecycle guards, identity links, deletes, listing and purge.

Each test runs on every backend (SQLite file and memory, PostgreSQL, MariaDB) against a fresh
migrated database; the harness is in tests/fixtures/storage.py. A guard is shown both ways: the
write applies (rows = 1 and the change is visible) and, once the guard no longer holds, the same
write reports 0 and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from dwarf.workflow import Status
from tests.fixtures.storage import (
    LIST_FILTERS_OFF,
    TOKEN,
    Db,
    near_now,
)


async def test_start_touch_interrupt_and_resume_follow_the_flow_status(db: Db) -> None:
    q, conn = db.q, db.conn
    flow_id = await db.flow(status=Status.CREATED)
    assert await q.interrupt_flow(conn, flow_id=flow_id) == 0  # not started yet
    assert await q.start_flow(conn, flow_id=flow_id, notify_hostname="host-1") == 1
    assert await q.start_flow(conn, flow_id=flow_id, notify_hostname="host-2") == 0
    row = await db.get_flow(flow_id)
    assert (row.status, row.notify_hostname) == ("running", "host-1")
    assert row.started_at >= row.created_at

    step_id = await db.step(flow_id, status=Status.INTERRUPTED)
    # two touches in a row both report the live flow (matched rows, also on MariaDB)
    assert await q.touch_flow(conn, step_id=step_id, flow_id=flow_id) == 1
    assert await q.touch_flow(conn, step_id=step_id, flow_id=flow_id) == 1
    assert (await db.get_flow(flow_id)).step_id == step_id

    assert await q.interrupt_flow(conn, flow_id=flow_id) == 1
    assert await q.interrupt_flow(conn, flow_id=flow_id) == 1  # idempotent while interrupted
    assert (await db.get_flow(flow_id)).status == "interrupted"
    # ResumeFlow waits until no step of the flow is interrupted
    assert await q.resume_flow(conn, flow_id=flow_id) == 0
    assert (await db.get_flow(flow_id)).status == "interrupted"
    assert await q.reset_step(conn, state="{}", step_id=step_id) == 1
    assert await q.resume_flow(conn, flow_id=flow_id) == 1
    assert (await db.get_flow(flow_id)).status == "running"
    assert await q.resume_flow(conn, flow_id=flow_id) == 0  # not interrupted any more


async def test_a_terminal_flow_stays_terminal_and_keeps_the_first_outcome(db: Db) -> None:
    q, conn = db.q, db.conn
    done = await db.flow()
    assert await q.complete_flow(conn, final_state='{"n": 1}', flow_id=done) == 1
    assert await q.complete_flow(conn, final_state='{"n": 2}', flow_id=done) == 0
    assert await q.fail_flow(conn, error_type="", error="late", final_state="{}", flow_id=done) == 0
    assert await q.cancel_flow(conn, cancel_reason="late", final_state="{}", flow_id=done) == 0
    assert await q.touch_flow(conn, step_id=1, flow_id=done) == 0
    assert await q.interrupt_flow(conn, flow_id=done) == 0
    row = await db.get_flow(done)
    assert (row.status, row.error, row.cancel_reason, row.step_id) == ("completed", "", "", 0)
    assert json.loads(row.final_state) == {"n": 1}

    failed = await db.flow()
    assert (
        await q.fail_flow(
            conn, error_type="", error="boom", final_state='{"at": "a"}', flow_id=failed
        )
        == 1
    )
    assert (
        await q.fail_flow(conn, error_type="", error="again", final_state="{}", flow_id=failed) == 0
    )
    row = await db.get_flow(failed)
    assert (row.status, row.error, json.loads(row.final_state)) == ("failed", "boom", {"at": "a"})

    # CancelFlow applies to created, running and interrupted flows; the first reason wins
    reasons = {}
    for status in (Status.CREATED, Status.RUNNING, Status.INTERRUPTED):
        flow_id = await db.flow(status=status)
        assert (
            await q.cancel_flow(
                conn, cancel_reason=f"stop {status}", final_state='{"c": true}', flow_id=flow_id
            )
            == 1
        )
        assert await q.cancel_flow(conn, cancel_reason="x", final_state="{}", flow_id=flow_id) == 0
        reasons[flow_id] = f"stop {status}"
    for flow_id, reason in reasons.items():
        row = await db.get_flow(flow_id)
        assert (row.status, row.cancel_reason) == ("cancelled", reason)
        assert json.loads(row.final_state) == {"c": True}


async def test_restart_and_revive_reopen_only_flows_that_are_not_running(db: Db) -> None:
    q, conn = db.q, db.conn
    running = await db.flow()
    assert await q.restart_flow(conn, flow_id=running) == 0
    assert await q.revive_flow(conn, flow_id=running) == 0

    for status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED):
        flow_id = await db.flow(status=status)
        await db.backdate("dwarf_flows", flow_id, "created_at", 3600)
        old = await db.get_flow(flow_id)
        assert await q.restart_flow(conn, flow_id=flow_id) == 1, status
        assert await q.restart_flow(conn, flow_id=flow_id) == 0, status
        row = await db.get_flow(flow_id)
        assert row.status == "running"
        assert row.created_at > old.created_at
        assert near_now(row.created_at)
        assert row.started_at >= row.created_at

    failed = await db.flow()
    await q.fail_flow(conn, error_type="", error="boom", final_state='{"a": 1}', flow_id=failed)
    assert await q.revive_flow(conn, flow_id=failed) == 1
    assert await q.revive_flow(conn, flow_id=failed) == 0
    row = await db.get_flow(failed)
    assert (row.status, row.error, row.cancel_reason) == ("running", "", "")
    assert json.loads(row.final_state) == {}
    cancelled = await db.flow()
    await q.cancel_flow(conn, cancel_reason="why", final_state='{"b": 2}', flow_id=cancelled)
    assert await q.restart_flow(conn, flow_id=cancelled) == 1
    row = await db.get_flow(cancelled)
    assert (row.status, row.cancel_reason, json.loads(row.final_state)) == ("running", "", {})


async def test_breakpoints_are_replaced_whole(db: Db) -> None:
    flow_id = await db.flow(breakpoints='{"a": true}')
    value = '{"b": true, "c": {"when": "x > 1"}}'
    assert await db.q.set_flow_breakpoints(db.conn, breakpoints=value, flow_id=flow_id) == 1
    assert json.loads((await db.get_flow(flow_id)).breakpoints) == json.loads(value)
    # writing the same map again still reports the row (matched rows)
    assert await db.q.set_flow_breakpoints(db.conn, breakpoints=value, flow_id=flow_id) == 1
    assert await db.q.set_flow_breakpoints(db.conn, breakpoints="{}", flow_id=flow_id + 99) == 0


async def test_adopt_identity_fills_only_unset_thread_and_root(db: Db) -> None:
    q, conn = db.q, db.conn
    first = await db.flow()
    row = await db.get_flow(first)
    assert (row.thread_id, row.thread_token, row.root_flow_id) == (first, TOKEN, first)

    sequel = await db.flow(flow_token="1" * 16, thread_id=first, thread_token=TOKEN)
    row = await db.get_flow(sequel)
    assert (row.thread_id, row.thread_token, row.root_flow_id) == (first, TOKEN, sequel)
    child = await db.flow(
        flow_token="2" * 16, surgraph_flow_id=sequel, root_flow_id=first, thread_id=sequel
    )
    row = await db.get_flow(child)
    assert (row.thread_id, row.thread_token, row.root_flow_id) == (sequel, "", first)
    # A second adoption keeps the identity and records the entry step it is given.
    await q.adopt_flow_identity(conn, flow_id=first, step_id=42)
    adopted = await db.get_flow(first)
    assert (adopted.thread_id, adopted.root_flow_id, adopted.step_id) == (first, first, 42)

    latest = await q.get_latest_thread_flow(conn, thread_id=first, thread_token=TOKEN)
    assert latest is not None
    assert latest.flow_id == sequel
    assert await q.get_latest_thread_flow(conn, thread_id=first, thread_token="1" * 16) is None
    assert await q.get_latest_thread_flow(conn, thread_id=child + 1, thread_token="") is None


async def test_child_flows_are_found_by_parent_and_by_caller_step(db: Db) -> None:
    q, conn = db.q, db.conn
    parent = await db.flow()
    caller = await db.step(parent)
    other_caller = await db.step(parent)
    links = {"surgraph_flow_id": parent, "surgraph_step_depth": 1, "root_flow_id": parent}
    first = await db.flow(flow_token="1" * 16, surgraph_step_id=caller, **links)
    second = await db.flow(flow_token="2" * 16, surgraph_step_id=caller, **links)
    third = await db.flow(flow_token="3" * 16, surgraph_step_id=other_caller, **links)

    children = await q.list_child_flows(conn, surgraph_flow_id=parent)
    assert [c.flow_id for c in children] == [first, second, third]
    assert {(c.surgraph_step_depth, c.root_flow_id) for c in children} == {(1, parent)}
    # root flows have surgraph_flow_id = 0, but 0 is not a parent
    assert await q.list_child_flows(conn, surgraph_flow_id=0) == []
    assert await q.list_child_flows(conn, surgraph_flow_id=first) == []

    newest = await q.get_child_flow_of_step(conn, surgraph_step_id=caller)
    assert newest is not None
    assert newest.flow_id == second
    other = await q.get_child_flow_of_step(conn, surgraph_step_id=other_caller)
    assert other is not None
    assert other.flow_id == third
    assert await q.get_child_flow_of_step(conn, surgraph_step_id=0) is None


async def test_deletes_never_strand_the_steps_of_a_running_flow(db: Db) -> None:
    q, conn = db.q, db.conn
    running = await db.flow()
    done = await db.flow(status=Status.COMPLETED)
    orphaned = await db.flow(status=Status.FAILED)
    for flow_id in (running, done, done, orphaned):
        await db.step(flow_id)
    assert await q.delete_flow(conn, flow_id=running) == 0
    assert await q.delete_flow(conn, flow_id=orphaned) == 1
    assert await q.delete_flow(conn, flow_id=orphaned) == 0
    # steps of the running flow stay; those of a finished or already deleted flow go
    assert await q.delete_steps_of_flows(conn, flow_ids=[running, done, orphaned]) == 3
    assert [s.flow_id for s in await q.list_steps_of_flows(conn, flow_ids=[running])] == [running]
    assert await q.count_steps(conn) == 1
    # DeleteFlowSteps has no guard: Restart clears a flow's steps itself
    assert await q.delete_flow_steps(conn, flow_id=running) == 1
    assert await q.delete_flow_steps(conn, flow_id=running) == 0

    cancelled = await db.flow(status=Status.CANCELLED)
    assert await q.delete_flows(conn, flow_ids=[running, done, cancelled, orphaned]) == 2
    assert await q.count_flows(conn) == 1
    assert (await db.get_flow(running)).status == "running"


async def test_list_flows_applies_each_filter_and_ignores_zero_values(db: Db) -> None:
    q, conn = db.q, db.conn
    alpha = await db.flow(workflow_name="alpha", priority=3, fairness_key="t1")
    beta = await db.flow(flow_token="b" * 16, workflow_name="beta", status=Status.COMPLETED)
    sequel = await db.flow(
        flow_token="c" * 16, workflow_name="alpha", thread_id=alpha, thread_token=TOKEN
    )
    await q.fail_flow(conn, error_type="", error="Disk Full", final_state="{}", flow_id=sequel)
    aborted = await db.flow(flow_token="d" * 16, workflow_name="gamma")
    await q.cancel_flow(conn, cancel_reason="user_abort", final_state="{}", flow_id=aborted)
    await db.flow(flow_token="e" * 16, workflow_name="alpha", surgraph_flow_id=alpha)  # a child
    step_id = await db.step(alpha, task_name="Fetch_URL")
    await q.touch_flow(conn, step_id=step_id, flow_id=alpha)
    await db.backdate("dwarf_flows", beta, "updated_at", 7200)
    everything = [aborted, sequel, beta, alpha]

    assert await db.listed() == everything  # root flows only, newest first
    assert await db.listed(status="running") == [alpha]
    assert await db.listed(status="completed") == [beta]
    assert await db.listed(workflow_name="alpha") == [sequel, alpha]
    assert await db.listed(workflow_name="alpha", status="failed") == [sequel]
    assert await db.listed(thread_id=alpha) == [sequel, alpha]
    assert await db.listed(thread_id=-1) == everything
    assert await db.listed(task_name="Fetch_URL") == [alpha]
    assert await db.listed(task_name="fetch_url") == []  # exact match, not folded
    assert await db.listed(fairness_key="t1") == [alpha]
    assert await db.listed(priority=3) == [alpha]
    assert await db.listed(priority=-1) == everything
    assert await db.listed(older_than_ms=3_600_000) == [beta]
    assert await db.listed(newer_than_ms=3_600_000) == [aborted, sequel, alpha]
    assert await db.listed(older_than_ms=-5, newer_than_ms=-5) == everything
    assert await db.listed(before_flow_id=sequel) == [beta, alpha]
    assert await db.listed(row_limit=2) == [aborted, sequel]
    assert await db.listed(before_flow_id=sequel, row_limit=1) == [beta]
    # search: workflow name, current task, error and cancel reason, case-insensitively
    assert await db.listed(search="%disk full%") == [sequel]
    assert await db.listed(search="%USER\\_ABORT%") == [aborted]
    assert await db.listed(search="%fetch\\_%") == [alpha]
    assert await db.listed(search="%ALP%") == [sequel, alpha]
    assert await db.listed(search="%nothing%") == []
    rows = {r.flow_id: r for r in await db.list_flows()}
    assert rows[alpha].task_name == "Fetch_URL"
    assert (rows[alpha].priority, rows[alpha].fairness_key) == (3, "t1")
    assert (rows[sequel].thread_id, rows[sequel].thread_token) == (alpha, TOKEN)
    assert (rows[sequel].status, rows[sequel].error) == ("failed", "Disk Full")
    assert rows[aborted].cancel_reason == "user_abort"


async def test_purge_candidates_are_finished_root_flows_oldest_first(db: Db) -> None:
    q, conn = db.q, db.conn
    await db.flow()  # running: never a candidate
    done = await db.flow(status=Status.COMPLETED)
    failed = await db.flow(status=Status.FAILED)
    other = await db.flow(workflow_name="other", status=Status.COMPLETED)
    await db.flow(status=Status.COMPLETED, surgraph_flow_id=done)  # a child: purged with its root
    for flow_id in (done, failed):
        await db.backdate("dwarf_flows", flow_id, "updated_at", 7200)

    async def candidates(
        status: str = "", name: str = "", older: int = 0, limit: int = 10
    ) -> list[int]:
        rows = await q.select_purge_candidates(
            conn, status=status, workflow_name=name, older_than_ms=older, row_limit=limit
        )
        return [r.flow_id for r in rows]

    assert await candidates() == [done, failed, other]
    assert await candidates(status="completed") == [done, other]
    assert await candidates(status="running") == []
    assert await candidates(name="other") == [other]
    assert await candidates(older=3_600_000) == [done, failed]
    assert await candidates(limit=1) == [done]


async def test_reapable_flows_are_completed_disposable_roots_past_the_grace_oldest_first(
    db: Db,
) -> None:
    q, conn = db.q, db.conn
    old = await db.flow(status=Status.COMPLETED, delete_on_completion=True)
    older = await db.flow(status=Status.COMPLETED, delete_on_completion=True)
    fresh = await db.flow(status=Status.COMPLETED, delete_on_completion=True)
    await db.flow(status=Status.COMPLETED)  # no option: kept
    failed = await db.flow(status=Status.FAILED, delete_on_completion=True)
    await db.flow(delete_on_completion=True)  # running
    child = await db.flow(status=Status.COMPLETED, delete_on_completion=True, surgraph_flow_id=old)
    for flow_id, seconds in ((old, 600), (older, 7200), (failed, 7200), (child, 7200)):
        await db.backdate("dwarf_flows", flow_id, "updated_at", seconds)

    async def due(grace_ms: int, window_ms: int = 0, limit: int = 10) -> list[int]:
        rows = await q.select_reapable_flows(
            conn, grace_ms=grace_ms, window_ms=window_ms, row_limit=limit
        )
        return [r.flow_id for r in rows]

    assert await due(0) == [older, old, fresh]
    assert await due(60_000) == [older, old]
    assert await due(60_000, window_ms=3_600_000) == [old]
    assert await due(60_000, limit=1) == [older]


async def test_counts_ping_and_the_progress_fingerprint(db: Db) -> None:
    q, conn = db.q, db.conn
    assert (await q.count_flows(conn), await q.count_steps(conn), await q.ping(conn)) == (0, 0, 1)
    busy = await db.flow()
    other = await db.flow()
    idle = await db.flow()
    first = await db.step(busy)
    second = await db.step(busy)
    await db.step(other)
    assert (await q.count_flows(conn), await q.count_steps(conn)) == (3, 3)

    async def progress(*flow_ids: int) -> tuple[int, str]:
        row = await q.flows_progress(conn, flow_ids=list(flow_ids))
        assert row is not None
        return row.step_count, row.max_updated_at

    assert await progress(idle) == (0, "")
    assert (await progress(busy, other))[0] == 3
    for step_id in (first, second):
        await db.backdate("dwarf_steps", step_id, "updated_at", 3600)
    count, before = await progress(busy)
    assert count == 2
    assert before
    assert await progress(busy) == (2, before)  # stable while nothing changes
    assert await db.claim(second) == 1  # any step write moves the fingerprint
    count, after = await progress(busy)
    assert count == 2
    assert after != before


async def test_search_folds_ascii_case_everywhere_and_other_letters_except_on_sqlite(
    db: Db,
) -> None:
    umlaut = await db.flow(workflow_name="Ärger-Report")
    greek = await db.flow(flow_token="1" * 16, workflow_name="ΣΟΦΊΑ")
    assert await db.listed(search="%ÄRGER-REPORT%") == [umlaut]  # exact non-ASCII letters
    assert await db.listed(search="%r-rep%") == [umlaut]  # ASCII letters fold everywhere
    folded = await db.listed(search="%ärger%") + await db.listed(search="%σοφ%")
    # SQLite's LOWER() folds ASCII only (no ICU); PostgreSQL folds by the database's LC_CTYPE
    # (every UTF-8 locale folds these letters; the C/POSIX locale only ASCII); MariaDB by Unicode.
    folds = db.dialect != "sqlite"
    if db.dialect == "postgresql":
        cur = await db.conn.execute("SHOW lc_ctype")
        folds = (await cur.fetchone())[0] not in ("C", "POSIX")
    assert folded == ([umlaut, greek] if folds else [])


async def test_batch_and_tree_reads_and_the_flow_key_search(db: Db) -> None:
    q, conn = db.q, db.conn
    root = await db.flow(workflow_name="root")
    other = await db.flow(flow_token="AbCdEf0123456789", workflow_name="other")
    child = await db.flow(
        flow_token="2" * 16, workflow_name="sub", surgraph_flow_id=root, surgraph_step_id=7
    )
    grandchild = await db.flow(flow_token="3" * 16, workflow_name="subsub", surgraph_flow_id=child)
    await db.flow(flow_token="4" * 16, surgraph_flow_id=other)

    level = await q.list_subgraph_links(conn, surgraph_flow_ids=[root])
    assert [
        (r.flow_id, r.surgraph_flow_id, r.surgraph_step_id, r.workflow_name) for r in level
    ] == [(child, root, 7, "sub")]
    below = await q.list_subgraph_links(conn, surgraph_flow_ids=[child, grandchild])
    assert [r.flow_id for r in below] == [grandchild]
    assert await q.list_subgraph_links(conn, surgraph_flow_ids=[0]) == []  # root flows are no links
    assert await q.list_subgraph_links(conn, surgraph_flow_ids=[]) == []

    late = await db.step(root, step_depth=1, task_name="late")
    deep = await db.step(root, step_depth=2, task_name="deep")
    early = await db.step(root, step_depth=1, task_name="early")
    sub = await db.step(child, step_depth=1)
    await db.step(other)
    history = await q.list_steps_of_flows(conn, flow_ids=[child, root])
    assert [s.step_id for s in history] == [late, early, deep, sub]  # flow, depth, id
    assert await q.list_steps_of_flows(conn, flow_ids=[]) == []

    async def search(pattern: str, prefix: str = "3-", **filters: Any) -> list[int]:
        arguments = {**LIST_FILTERS_OFF, "search": pattern, "key_prefix": prefix, **filters}
        return [r.flow_id for r in await q.search_flows(conn, **arguments)]

    key = f"3-{other}-AbCdEf0123456789"
    assert await search(f"%{key}%") == [other]  # the rendered flow key
    assert await search(key.lower()) == [other]  # the whole key, case-insensitively
    assert await search(f"%{key}%", prefix="4-") == []  # another shard's key
    assert await search("%ROO%") == [root]  # and everything ListFlows searches
    assert await search("") == [other, root]  # root flows only, newest first
    assert await search("", status="running", row_limit=1) == [other]
    assert await search("", workflow_name="root", before_flow_id=other) == [root]

    # the flows of a claimed batch in one read, by id, skipping ids that are gone
    batch = await q.list_flows_of_batch(conn, flow_ids=[other, other + 99, root])
    assert [f.flow_id for f in batch] == [root, other]
    assert batch[0] == await db.get_flow(root)
    assert await q.list_flows_of_batch(conn, flow_ids=[]) == []


async def test_names_and_tokens_differing_by_trailing_spaces_are_distinct(db: Db) -> None:
    # MariaDB/MySQL: 0004_nopad_keys moved the key columns to a NO PAD binary collation.
    q, conn = db.q, db.conn
    plain = await db.flow(workflow_name="wf", fairness_key="k")
    padded = await db.flow(flow_token="1" * 16, workflow_name="wf ", fairness_key="k ")
    for flow_id, task_name in ((plain, "t"), (padded, "t ")):
        step_id = await db.step(flow_id, task_name=task_name)
        await q.touch_flow(conn, step_id=step_id, flow_id=flow_id)  # ListFlows shows its task
    assert await db.listed(workflow_name="wf") == [plain]
    assert await db.listed(fairness_key="k ") == [padded]
    assert await q.get_flow(conn, flow_id=plain, flow_token=TOKEN + " ") is None
    assert await db.listed(task_name="t") == [plain]
    await q.cancel_flow(conn, cancel_reason="", final_state="{}", flow_id=plain)
    await q.cancel_flow(conn, cancel_reason="", final_state="{}", flow_id=padded)
    purge = await q.select_purge_candidates(
        conn, status="", workflow_name="wf ", older_than_ms=0, row_limit=10
    )
    assert [r.flow_id for r in purge] == [padded]
