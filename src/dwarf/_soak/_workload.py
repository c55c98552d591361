"""The soak's workload: ``split`` fans out to ``BRANCHES`` two-step branches folded by reducers at
``join``, then a last step ``tail``.

Branch ``i`` runs ``b{i}``, which contributes ``[i]`` to ``items`` (APPEND) and ``i + 1`` to
``total`` (ADD), then ``c{i}``, which contributes ``[i]`` to ``seconds`` (APPEND). So a flow that
ran right ends with every branch's item exactly once, in branch order, in both lists, and the
total ``BRANCHES * (BRANCHES + 1) / 2``; a branch folded twice shows up as a duplicate item. The
steps from ``b{i}`` to ``c{i}`` and from ``join`` to ``tail`` each have one successor: there a
successor may be claimed by its predecessor's advance (docs/internals/dispatch.md#d13), so kills
land on those claims too.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from dwarf.engine import TestProxy
from dwarf.workflow import END, Flow, FlowOutcome, Graph, Reducer, Status

__all__ = ["BRANCHES", "WORKFLOW", "Verdict", "proxy", "verdict"]

WORKFLOW = "soak"
BRANCHES = 4
TASK_SECONDS = 0.05
"""Longest random pause in a task, so kills land in the middle of steps."""


def graph() -> Graph:
    """split -> b{i} -> c{i} for each branch -> join (fan-in) -> tail -> END, with the reducers."""
    g = Graph(WORKFLOW)
    g.add_task("split", "split")
    branches = [f"b{i}" for i in range(BRANCHES)]
    for i, name in enumerate(branches):
        g.add_task(name, name)
        g.add_task(f"c{i}", f"c{i}")
    g.add_task("join", "join")
    g.add_task("tail", "tail")
    g.set_fan_in("join")
    g.add_transition_fan_out("split", *branches)
    for i, name in enumerate(branches):
        g.add_transition(name, f"c{i}")
        g.add_transition(f"c{i}", "join")
    g.add_transition("join", "tail")
    g.add_transition("tail", END)
    g.set_reducer("items", Reducer.APPEND)
    g.set_reducer("seconds", Reducer.APPEND)
    g.set_reducer("total", Reducer.ADD)
    return g


async def _pause() -> None:
    await asyncio.sleep(random.uniform(0, TASK_SECONDS))


async def _split(flow: Flow) -> None:
    await _pause()
    flow.set_int("split", flow.get_int("n"))


async def _join(flow: Flow) -> None:
    await _pause()
    flow.set_bool("joined", True)


async def _tail(flow: Flow) -> None:
    await _pause()
    flow.set_bool("tailed", True)


def proxy() -> TestProxy:
    """A TestProxy serving the soak's graph and tasks."""
    p = TestProxy()
    p.handle_graph(WORKFLOW, graph())
    p.handle_task("split", _split)
    p.handle_task("join", _join)
    p.handle_task("tail", _tail)
    for i in range(BRANCHES):

        async def first(flow: Flow, i: int = i) -> None:
            await _pause()
            flow.set("items", [i])
            flow.set_int("total", i + 1)

        async def second(flow: Flow, i: int = i) -> None:
            await _pause()
            flow.set("seconds", [i])

        p.handle_task(f"b{i}", first)
        p.handle_task(f"c{i}", second)
    return p


@dataclass
class Verdict:
    """What one soak's flows came to."""

    flows: int = 0
    completed: int = 0
    lost: int = 0
    failed: int = 0
    stuck: int = 0
    wrong_state: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


def verdict(expected: dict[str, int], outcomes: dict[str, FlowOutcome | None]) -> Verdict:
    """Check every flow's outcome: ``expected`` maps flow keys to their ``n``; None = not found."""
    result = Verdict(flows=len(expected))
    want_items = list(range(BRANCHES))
    want_total = BRANCHES * (BRANCHES + 1) // 2
    for key, n in expected.items():
        outcome = outcomes.get(key)
        if outcome is None:
            result.lost += 1
            continue
        if outcome.status is Status.FAILED:
            result.failed += 1
            result.errors.append(f"{key}: {outcome.error}")
            continue
        if outcome.status is not Status.COMPLETED:
            result.stuck += 1
            continue
        result.completed += 1
        items, seconds = outcome.state.get("items"), outcome.state.get("seconds")
        for folded in (items, seconds):
            if isinstance(folded, list):
                result.duplicates += len(folded) - len(set(folded))
        right = (
            items == want_items
            and seconds == want_items
            and outcome.state.get("total") == want_total
            and outcome.state.get("split") == n
            and outcome.state.get("joined") is True
            and outcome.state.get("tailed") is True
        )
        if not right:
            result.wrong_state += 1
            result.errors.append(f"{key}: state {outcome.state}")
    return result
