"""Deep state is a BadRequestError naming its path, on every dialect (docs/internals/state.md#c9).

State nests at most ``MAX_STATE_DEPTH`` levels (MariaDB refuses JSON 32 deep), checked where state
enters: create, create_task, continue_thread, resume, the rewind overrides, and ``flow.set`` in a
task (which fails the task). 10,000 levels give the same error, never a RecursionError.
"""

from __future__ import annotations

import pytest

from dwarf.errors import BadRequestError
from dwarf.workflow import Status
from dwarf.workflow._json import MAX_STATE_DEPTH
from tests.fixtures.engines import MakeEngine
from tests.fixtures.flows import ask_then_deep_proxy, nested_state


async def test_state_at_the_depth_limit_round_trips_on_every_dialect(
    make_engine: MakeEngine,
) -> None:
    state = nested_state(MAX_STATE_DEPTH)
    async with make_engine(ask_then_deep_proxy()) as engine:
        key = await engine.create("wf", state)
        await engine.start(key)
        await engine.await_flow(key, timeout=30)
        await engine.resume(key, {"r": nested_state(MAX_STATE_DEPTH - 1)})
        outcome = await engine.await_flow(key, timeout=30)
    assert outcome.status is Status.COMPLETED
    assert outcome.state["a"] == state["a"]


@pytest.mark.parametrize("levels", [MAX_STATE_DEPTH + 1, 10_000])
async def test_state_deeper_than_the_limit_is_refused_where_it_enters(
    make_engine: MakeEngine, levels: int
) -> None:
    deep = nested_state(levels)
    async with make_engine(ask_then_deep_proxy()) as engine:
        with pytest.raises(BadRequestError, match=r"initial_state\.a\.a\.a.*nested deeper than"):
            await engine.create("wf", deep)
        with pytest.raises(BadRequestError, match=r"initial_state\.a.*nested deeper than"):
            await engine.create_task("ask", deep)
        key = await engine.create("wf", {})
        await engine.start(key)
        await engine.await_flow(key, timeout=30)
        with pytest.raises(BadRequestError, match=r"resume_data\.a.*nested deeper than"):
            await engine.resume(key, deep)
        await engine.resume(key, {})
        assert (await engine.await_flow(key, timeout=30)).status is Status.COMPLETED
        with pytest.raises(BadRequestError, match=r"overrides\.a.*nested deeper than"):
            await engine.restart(key, deep)
        with pytest.raises(BadRequestError, match=r"additional_state\.a.*nested deeper than"):
            await engine.continue_thread(key, deep)
        steps = await engine.history(key)
        with pytest.raises(BadRequestError, match=r"overrides\.a.*nested deeper than"):
            await engine.fork(steps[-1].step_key, deep)


async def test_a_task_setting_too_deep_a_value_fails_with_the_path(make_engine: MakeEngine) -> None:
    async with make_engine(ask_then_deep_proxy()) as engine:
        key = await engine.create("wf", {"levels": 10_000})
        await engine.start(key)
        await engine.await_flow(key, timeout=30)
        await engine.resume(key, {})
        outcome = await engine.await_flow(key, timeout=30)
    assert outcome.status is Status.FAILED
    assert "deep.a.a" in outcome.error
    assert f"nested deeper than {MAX_STATE_DEPTH} levels" in outcome.error
