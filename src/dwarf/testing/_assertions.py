"""Assertions on a flow's history whose failure messages say what ran instead.

They take any iterable of ``FlowStep`` (a ``FlowRun`` from ``run_to_end``, or
``engine.history()``), read the top level only (a subgraph's steps are in its caller's
``sub_history``), and raise ``AssertionError`` so pytest reports them as failed assertions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dwarf.workflow import FlowStep

__all__ = ["assert_changes", "assert_ran"]


def assert_ran(history: Iterable[FlowStep], expected: Sequence[str]) -> None:
    """The flow ran exactly the steps ``expected`` (task names), in that order."""
    ran = [step.task_name for step in history]
    if ran == list(expected):
        return
    at = next(
        (i for i, (got, want) in enumerate(zip(ran, expected, strict=False)) if got != want),
        min(len(ran), len(expected)),
    )
    got = repr(ran[at]) if at < len(ran) else "nothing more"
    want = repr(expected[at]) if at < len(expected) else "nothing more"
    raise AssertionError(
        f"steps ran: {_names(ran)}\n"
        f"expected:  {_names(expected)}\n"
        f"first difference at step {at + 1}: {got} ran where {want} was expected"
    )


def assert_changes(
    history: Iterable[FlowStep], task: str, expected: Mapping[str, Any], *, nth: int = 1
) -> None:
    """The ``nth`` step of ``task`` (1 = its first) wrote exactly the changes ``expected``.

    Changes are what the step set or deleted (a deleted key shows as ``None``). Only a detailed
    history carries them: a ``FlowRun`` has them, ``engine.history()`` does not.
    """
    steps = list(history)
    runs = [step for step in steps if step.task_name == task]
    if len(runs) < nth:
        raise AssertionError(
            f"task {task!r} ran {len(runs)} time(s), so it has no step number {nth}; "
            f"steps ran: {_names([step.task_name for step in steps])}"
        )
    changes = runs[nth - 1].changes
    if dict(changes) == dict(expected):
        return
    lines = [f"step {nth} of task {task!r} wrote {changes!r}, expected {dict(expected)!r}:"]
    lines += [f"  missing {key!r}" for key in expected if key not in changes]
    lines += [f"  unexpected {key!r} = {changes[key]!r}" for key in changes if key not in expected]
    lines += [
        f"  {key!r}: wrote {changes[key]!r}, expected {expected[key]!r}"
        for key in expected
        if key in changes and changes[key] != expected[key]
    ]
    if not changes and all(not step.state for step in steps):
        lines.append("  (this history carries no changes: use run_to_end's FlowRun or engine.step)")
    raise AssertionError("\n".join(lines))


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "(none)"
