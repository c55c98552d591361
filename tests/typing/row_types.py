"""Static checks: the storage boundary hands out exact domain types.

Flags are ``bool``, statuses ``Status``, and the rows carry domain names (``FlowRow``, ``StepRow``,
``ClaimedStepRow``): ``assert_type`` fails ``mypy --strict tests`` (CI) the moment a generated
annotation drifts (say a flag back to ``int``). Nothing here runs; the runtime twin, which reads
real rows on every backend, is ``tests/storage/test_domain_types.py``.
"""

from __future__ import annotations

from typing import assert_type

from dwarf._storage import ClaimedStepRow, FlowRow, FlowSummaryRow, StepRow, Tx
from dwarf._storage._gen.queries import PostgresqlFastPaths
from dwarf._storage._gen.rows import AdvanceToSuccessorRow, FinishWithStepRow
from dwarf.workflow import Status


async def flows_read_as_flow_rows(db: Tx) -> None:
    """Every query returning the full flow row returns ``FlowRow``, typed field by field."""
    flow = await db.get_flow(flow_id=1, flow_token="t")
    assert_type(flow, FlowRow | None)
    assert_type(await db.get_flow_by_id(flow_id=1), FlowRow | None)
    assert_type(await db.get_latest_thread_flow(thread_id=1, thread_token="t"), FlowRow | None)
    assert_type(await db.get_child_flow_of_step(surgraph_step_id=1), FlowRow | None)
    assert_type(await db.list_child_flows(surgraph_flow_id=1), list[FlowRow])
    assert_type(await db.list_flows_of_batch(flow_ids=[1]), list[FlowRow])
    assert flow is not None
    assert_type(flow.status, Status)
    assert_type(flow.delete_on_completion, bool)


async def steps_read_with_bool_flags_and_status(db: Tx) -> None:
    """Step rows: flags are ``bool`` and the status is a ``Status`` in every shape."""
    step = await db.get_step_by_id(step_id=1)
    assert_type(step, StepRow | None)
    assert step is not None
    assert_type(step.status, Status)
    assert_type(step.parked, int)
    assert_type(step.breakpoint_hit, bool)
    assert_type(step.interrupt_done, bool)
    assert_type(step.subgraph_done, bool)
    claimed = await db.select_claimed_steps(step_ids=[1], lease_owner="w")
    assert_type(claimed, list[ClaimedStepRow])
    assert_type(claimed[0].breakpoint_hit, bool)
    for node in await db.list_step_dag(flow_id=1):
        assert_type(node.status, Status)
        assert_type(node.parked, int)


async def writes_take_bool_and_status(db: Tx) -> None:
    """Flag and status params take the domain types; a listing's status filter stays ``str``."""
    assert_type(
        await db.set_step_status_from_flow(status=Status.CANCELLED, step_id=1, lease_seq=1), int
    )
    assert_type(
        await db.insert_flow(
            flow_token="t",
            workflow_name="wf",
            graph="{}",
            baggage="{}",
            status=Status.CREATED,
            surgraph_flow_id=0,
            surgraph_step_depth=0,
            surgraph_step_id=0,
            root_flow_id=0,
            thread_id=0,
            thread_token="",
            forked_from_step=0,
            trace_parent="",
            breakpoints="{}",
            priority=5,
            fairness_key="",
            fairness_weight=1.0,
            time_budget_ms=0,
            delete_on_completion=True,
        ),
        int,
    )
    listed = await db.list_flows(
        status="",  # '' switches the filter off, so it is a str, not a Status
        workflow_name="",
        thread_id=0,
        task_name="",
        fairness_key="",
        priority=0,
        older_than_ms=0,
        newer_than_ms=0,
        before_flow_id=0,
        search="",
        row_limit=10,
    )
    assert_type(listed, list[FlowSummaryRow])
    assert_type(listed[0].status, Status)


async def fast_path_results_are_bool(
    fast: PostgresqlFastPaths, conn: object, advanced: AdvanceToSuccessorRow
) -> None:
    """The fast paths' computed 0/1 results come back as ``bool``."""
    done = await fast.finish_with_step(
        conn, changes="{}", goto_next="", step_id=1, lease_seq=1, flow_id=1, final_state="{}"
    )
    assert_type(done, FinishWithStepRow | None)
    assert done is not None
    assert_type(done.completed, bool)
    assert_type(done.finished, bool)
    assert_type(advanced.completed, bool)
    assert_type(advanced.touched, bool)
