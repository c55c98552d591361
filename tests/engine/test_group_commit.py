"""Group commit on PostgreSQL and MariaDB (the dialects that batch): advances, finishes and
creates of several flows written as one batch, through the engine's own store.

Each item of a batch keeps its own fencing: an item whose lease was lost, or whose flow was
cancelled under it, writes nothing (not even its successor row), and its neighbours in the same
batch still commit everything they wrote. The steps are claimed by hand on an engine that runs
no workers, so the test decides what each write carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from dwarf._storage import ClaimedStep, Completion, FlowRow, NewStep, StepRow, Store
from dwarf._storage._group_commit import GroupCommit
from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.databases import SERVER_FIXTURES

LOWEST_BAND = -(2**31)


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def batching_dsn(request: pytest.FixtureRequest) -> str:
    """A fresh database of each dialect that batches its hot-path writes in turn."""
    dsn: str = request.getfixturevalue(SERVER_FIXTURES[request.param])
    return dsn


def proxy() -> TestProxy:
    """``two``: a -> b -> END; ``one``: a -> END (tasks never run: no workers)."""
    p = TestProxy()
    two = Graph("two")
    two.add_transition_chain("a", "b", END)
    one = Graph("one")
    one.add_transition("a", END)
    p.handle_graph("two", two)
    p.handle_graph("one", one)

    @p.task("a")
    async def a(flow: Flow) -> None:
        """Never called here."""

    @p.task("b")
    async def b(flow: Flow) -> None:
        """Never called here."""

    return p


@contextlib.asynccontextmanager
async def idle_engine(dsn: str) -> AsyncIterator[Engine]:
    """A started engine on ``dsn`` that dispatches nothing (no workers)."""
    p = proxy()
    engine = (
        Engine()
        .with_dsn(dsn)
        .with_graph_loader(p.load_graph)
        .with_task_executor(p.execute_task)
        .with_workers(0)
    )
    async with engine:
        yield engine


def batches_of(store: Store, writes: str) -> GroupCommit[Any, Any]:
    """The store's ``GroupCommit`` of one kind of write (``_advances``, ``_creates``...)."""
    group = getattr(store, writes, None)
    assert isinstance(group, GroupCommit), f"{store.dialect} does not batch {writes}"
    return group


async def claim_entries(engine: Engine, workflow: str, n: int) -> tuple[Store, list[ClaimedStep]]:
    """Create and start ``n`` flows, then claim their entry steps as this engine's owner."""
    keys = [await engine.create(workflow, {"i": i}) for i in range(n)]
    for key in keys:
        await engine.start(key)
    rt = engine._rt
    assert rt is not None
    shard = rt.shards[0]
    due = await shard.read(lambda db: db.select_due_band(above_priority=LOWEST_BAND, row_limit=100))
    claimed = await shard.claim([row.step_id for row in due], rt.owner, 30_000)
    assert len(claimed) == n
    return shard, sorted(claimed, key=lambda c: c.row.step_id)


def batch_sizes(monkeypatch: pytest.MonkeyPatch, store: Store, writes: str) -> list[int]:
    """Record the size of every batch of several items the store's ``writes`` group commits."""
    sizes: list[int] = []
    group = batches_of(store, writes)
    original: Callable[[Sequence[Any]], Awaitable[list[Any]]] = group._many

    async def spy(items: Sequence[Any]) -> list[Any]:
        sizes.append(len(items))
        return await original(items)

    monkeypatch.setattr(group, "_many", spy)
    return sizes


def completion(claimed: ClaimedStep, *, lease_seq: int | None = None) -> Completion:
    row = claimed.row
    return Completion(row.step_id, row.lease_seq if lease_seq is None else lease_seq, "{}", "")


def successor_of(claimed: ClaimedStep) -> NewStep:
    row = claimed.row
    return NewStep(
        flow_id=row.flow_id,
        depth=row.step_depth + 1,
        token="00000000000000b" + str(row.step_id % 10),
        task_name="b",
        state='{"next": true}',
        time_budget_ms=30_000,
        lineage_id=0,
        ordinal=0,
        predecessor_id=row.step_id,
        priority=row.priority,
        fairness_key=row.fairness_key,
        fairness_weight=row.fairness_weight,
        delay_ms=0,
    )


async def step_row(store: Store, step_id: int) -> StepRow:
    row = await store.read(lambda db: db.get_step_by_id(step_id=step_id))
    assert row is not None
    return row


async def flow_row(store: Store, flow_id: int) -> FlowRow:
    row = await store.read(lambda db: db.get_flow_by_id(flow_id=flow_id))
    assert row is not None
    return row


async def steps_of_flow(store: Store, flow_id: int) -> int:
    rows = await store.read(lambda db: db.list_steps_of_flows(flow_ids=[flow_id]))
    return len(rows)


async def test_a_batch_of_advances_fences_each_item_on_its_own(
    batching_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with idle_engine(batching_dsn) as engine:
        store, claimed = await claim_entries(engine, "two", 6)
        sizes = batch_sizes(monkeypatch, store, "_advances")
        lost, cancelled, good = claimed[1], claimed[4], [claimed[i] for i in (0, 2, 3, 5)]
        flow = await flow_row(store, cancelled.row.flow_id)
        await engine.cancel(f"{store.index}-{flow.flow_id}-{flow.flow_token}")

        results = await asyncio.gather(
            *(
                store.advance_to_successor(
                    completion(c, lease_seq=c.row.lease_seq + 1 if c is lost else None),
                    successor_of(c),
                )
                for c in claimed
            )
        )

        assert max(sizes) > 1, "the writes were never batched"
        by_step = dict(zip((c.row.step_id for c in claimed), results, strict=True))
        assert by_step[lost.row.step_id] == 0
        assert by_step[cancelled.row.step_id] == 0
        for c in good:
            successor_id = by_step[c.row.step_id]
            assert successor_id
            step = await step_row(store, c.row.step_id)
            assert (step.status, step.successor_id) == (Status.COMPLETED, successor_id)
            after = await step_row(store, successor_id)
            assert (after.status, after.task_name, after.flow_id) == (
                Status.PENDING,
                "b",
                c.row.flow_id,
            )
            assert (await flow_row(store, c.row.flow_id)).step_id == successor_id
        # The fenced-out items wrote nothing, not even an orphan successor.
        assert (await step_row(store, lost.row.step_id)).status is Status.RUNNING
        assert await steps_of_flow(store, lost.row.flow_id) == 1
        assert await steps_of_flow(store, cancelled.row.flow_id) == 1


async def test_a_batch_of_finishes_fences_each_item_on_its_own(
    batching_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with idle_engine(batching_dsn) as engine:
        store, claimed = await claim_entries(engine, "one", 5)
        sizes = batch_sizes(monkeypatch, store, "_finishes")
        lost, good = claimed[2], [claimed[i] for i in (0, 1, 3, 4)]

        results = await asyncio.gather(
            *(
                store.finish_flow(
                    completion(c, lease_seq=c.row.lease_seq + 1 if c is lost else None),
                    c.row.flow_id,
                    json.dumps({"done": c.row.step_id}),
                )
                for c in claimed
            )
        )

        assert max(sizes) > 1, "the writes were never batched"
        assert results == [c is not lost for c in claimed]
        for c in good:
            flow = await flow_row(store, c.row.flow_id)
            assert flow.status is Status.COMPLETED
            assert json.loads(flow.final_state) == {"done": c.row.step_id}
        assert (await flow_row(store, lost.row.flow_id)).status is Status.RUNNING


async def test_a_batch_of_creates_is_written_once_though_its_caller_is_cancelled(
    batching_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with idle_engine(batching_dsn) as engine:
        rt = engine._rt
        assert rt is not None
        store = rt.shards[0]
        group = batches_of(store, "_creates")
        alone, together = group._one, group._many
        committed = asyncio.Event()

        async def slow_alone(item: Any) -> Any:
            written = await alone(item)
            await asyncio.sleep(0.05)  # the next creates queue meanwhile, into one batch
            return written

        async def linger_after_commit(items: Sequence[Any]) -> list[Any]:
            written = await together(items)
            committed.set()
            await asyncio.sleep(0.2)  # committed; the caller running the batch is cancelled now
            return written

        monkeypatch.setattr(group, "_one", slow_alone)
        monkeypatch.setattr(group, "_many", linger_after_commit)
        first = asyncio.create_task(engine.create("one", {"i": 0}))
        await asyncio.sleep(0.01)
        queued = [asyncio.create_task(engine.create("one", {"i": i})) for i in range(1, 5)]
        await committed.wait()
        runner = next(task for task in queued if not task.done())
        runner.cancel()
        keys = [await first] + [await task for task in queued if task is not runner]

        assert len(keys) == 4
        # Five creates, each written once: the cancelled caller's flow committed with its batch,
        # and its neighbours were not sent to insert theirs again.
        assert await store.read(lambda db: db.count_flows()) == 5
        for key in keys:
            assert (await engine.snapshot(key)).status is Status.CREATED
