"""current_baggage() inside and outside baggage_scope."""

from __future__ import annotations

import asyncio

import pytest

from dwarf.workflow._baggage import baggage_scope, current_baggage


def test_baggage_is_none_outside_a_scope() -> None:
    assert current_baggage() is None


def test_baggage_is_the_scope_value_inside_and_restored_after() -> None:
    with baggage_scope({"tenant": "t1"}):
        assert current_baggage() == {"tenant": "t1"}
    assert current_baggage() is None


def test_nested_scopes_restore_the_outer_value() -> None:
    with baggage_scope("outer"):
        with baggage_scope("inner"):
            assert current_baggage() == "inner"
        assert current_baggage() == "outer"


def test_baggage_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), baggage_scope("doomed"):
        raise RuntimeError("task failed")
    assert current_baggage() is None


async def test_asyncio_tasks_created_inside_the_scope_see_the_baggage() -> None:
    async def read_later() -> object:
        await asyncio.sleep(0)
        return current_baggage()

    with baggage_scope({"tenant": "t1"}):
        task = asyncio.create_task(read_later())
        in_thread = asyncio.to_thread(current_baggage)
        from_thread = await in_thread
    # The scope has closed, but the task kept the context it was created with.
    assert await task == {"tenant": "t1"}
    assert from_thread == {"tenant": "t1"}
    assert current_baggage() is None


async def test_concurrent_flows_each_see_their_own_baggage() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def run_task(baggage: str) -> object:
        with baggage_scope(baggage):
            started.set()
            await release.wait()
            return current_baggage()

    first = asyncio.create_task(run_task("flow-a"))
    await started.wait()
    second = asyncio.create_task(run_task("flow-b"))
    await asyncio.sleep(0)
    release.set()
    assert list(await asyncio.gather(first, second)) == ["flow-a", "flow-b"]
    assert current_baggage() is None


async def test_a_task_created_outside_the_scope_does_not_see_it() -> None:
    gate = asyncio.Event()

    async def read_after_gate() -> object:
        await gate.wait()
        return current_baggage()

    task = asyncio.create_task(read_after_gate())
    with baggage_scope("private"):
        gate.set()
        await asyncio.sleep(0)
        assert await task is None
