"""``dwarf flows list|show|history|mermaid``: read flows, change nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from dwarf._cli._common import EXIT_OK
from dwarf._cli._operator import operator_engine
from dwarf._cli._output import duration, print_json, print_table, timestamp
from dwarf.engine import Engine
from dwarf.errors import NotFoundError
from dwarf.workflow import FlowStep, FlowSummary, Query, Status

__all__ = ["query_of", "run_history", "run_list", "run_mermaid", "run_show"]


def query_of(args: argparse.Namespace, **extra: Any) -> Query:
    """The ``Query`` of the filter options present on ``args``."""
    fields = {
        "status": getattr(args, "status", None),
        "workflow_name": getattr(args, "workflow", None),
        "thread_key": getattr(args, "thread", None),
        "task_name": getattr(args, "task", None),
        "fairness_key": getattr(args, "fairness_key", None),
        "priority": getattr(args, "priority", None),
        "older_than": getattr(args, "older_than", None),
        "newer_than": getattr(args, "newer_than", None),
        "shard": getattr(args, "shard", None),
        "search": getattr(args, "search", None),
        **extra,
    }
    return Query(**{name: value for name, value in fields.items() if value is not None})


# --- list -------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    """``dwarf flows list``."""
    return asyncio.run(_list(args))


async def _list(args: argparse.Namespace) -> int:
    query = query_of(args, cursor=args.cursor or "", limit=args.limit or 0)
    flows: list[FlowSummary] = []
    async with operator_engine(args) as engine:
        while True:
            page, cursor = await engine.list_flows(query)
            flows.extend(page)
            if not (args.all and cursor):
                break
            query = query.model_copy(update={"cursor": cursor})
    if args.json:
        print_json(
            {"ok": True, "flows": [f.model_dump(mode="json") for f in flows], "next_cursor": cursor}
        )
        return EXIT_OK
    print_table(
        ("KEY", "WORKFLOW", "STATUS", "TASK", "CREATED", "UPDATED", "ERROR"),
        [
            (
                f.flow_key,
                f.workflow_name,
                f.status.value,
                f.task_name or "-",
                timestamp(f.created_at),
                timestamp(f.updated_at),
                f.error or f.cancel_reason,
            )
            for f in flows
        ],
    )
    if cursor:
        print(f"more: --cursor {cursor}")
    return EXIT_OK


# --- show -------------------------------------------------------------------------------------


def run_show(args: argparse.Namespace) -> int:
    """``dwarf flows show KEY``."""
    return asyncio.run(_show(args))


async def _show(args: argparse.Namespace) -> int:
    async with operator_engine(args) as engine:
        outcome = await engine.snapshot(args.key)
        summary = await _summary(engine, args.key)
    document: dict[str, Any] = outcome.model_dump(mode="json")
    if summary is not None:
        timings = summary.model_dump(mode="json", exclude={"flow_key", "status", "error"})
        document = {**timings, **document}
        document["duration_seconds"] = _seconds(_flow_span(summary))
    if args.json:
        print_json({"ok": True, "flow": document})
        return EXIT_OK
    fields = [
        ("key", outcome.flow_key),
        ("status", outcome.status.value),
    ]
    if summary is not None:
        fields += [
            ("workflow", summary.workflow_name),
            ("thread", summary.thread_key),
            ("task", summary.task_name or "-"),
            ("priority", str(summary.priority)),
            ("fairness key", summary.fairness_key or "-"),
            ("created", timestamp(summary.created_at)),
            ("started", timestamp(summary.started_at)),
            ("updated", timestamp(summary.updated_at)),
            ("duration", duration(_flow_span(summary))),
        ]
    if outcome.error:
        fields.append(("error", outcome.error))
    if outcome.cancel_reason:
        fields.append(("cancel reason", outcome.cancel_reason))
    if outcome.interrupt_payload:
        fields.append(("interrupt", json.dumps(outcome.interrupt_payload, sort_keys=True)))
    width = max(len(name) for name, _ in fields) + 2
    for name, value in fields:
        print(f"{name + ':':<{width}}{value}".rstrip())
    print("state:")
    print(json.dumps(outcome.state, indent=2, sort_keys=True, default=str))
    return EXIT_OK


async def _summary(engine: Engine, key: str) -> FlowSummary | None:
    """The list entry of a root flow (its timings); None for a subgraph's flow."""
    # Search matches a substring of the key; a limit of 1 could return only a longer key.
    flows, _ = await engine.list_flows(Query(search=key, limit=100))
    return next((flow for flow in flows if flow.flow_key == key), None)


def _flow_span(summary: FlowSummary) -> timedelta | None:
    if summary.started_at is None:
        return None
    end = datetime.now(UTC) if summary.status is Status.RUNNING else summary.updated_at
    return None if end is None else end - summary.started_at


def _seconds(span: timedelta | None) -> float | None:
    return None if span is None else round(span.total_seconds(), 3)


# --- history ----------------------------------------------------------------------------------


def run_history(args: argparse.Namespace) -> int:
    """``dwarf flows history KEY``."""
    return asyncio.run(_history(args))


async def _history(args: argparse.Namespace) -> int:
    async with operator_engine(args) as engine:
        steps = await engine.history(args.key)
        changes = {}
        for step, _ in _walk(steps):
            try:
                changes[step.step_key] = (await engine.step(step.step_key)).changes
            except NotFoundError:  # deleted meanwhile: the history row still stands
                changes[step.step_key] = {}
    if args.json:
        print_json(
            {"ok": True, "flow_key": args.key, "steps": [_step_json(s, changes) for s in steps]}
        )
        return EXIT_OK
    print_table(
        ("STEP", "TASK", "STATUS", "ATTEMPT", "STARTED", "DURATION", "CHANGES", "ERROR"),
        [
            (
                step.step_key,
                "  " * depth
                + step.task_name
                + (f" -> {step.sub_workflow_name}" if step.subgraph else ""),
                step.status.value,
                str(step.attempt + 1),
                timestamp(step.started_at) if step.has_started else "-",
                duration(_step_span(step)),
                ", ".join(sorted(changes.get(step.step_key, {}))) or "-",
                step.error,
            )
            for step, depth in _walk(steps)
        ],
    )
    return EXIT_OK


def _task_label(step: FlowStep) -> str:
    return f"{step.task_name} -> {step.sub_workflow_name}" if step.subgraph else step.task_name


def _walk(steps: list[FlowStep], depth: int = 0) -> Iterator[tuple[FlowStep, int]]:
    """Each step with its nesting depth, a subgraph's steps right after their caller."""
    for step in steps:
        yield step, depth
        yield from _walk(step.sub_history, depth + 1)


def _step_span(step: FlowStep) -> timedelta | None:
    if not step.has_started or step.started_at is None:
        return None
    end = datetime.now(UTC) if step.status is Status.RUNNING else step.updated_at
    return None if end is None else end - step.started_at


def _step_json(step: FlowStep, changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = step.model_dump(
        mode="json", exclude={"sub_history", "state", "prev_key", "next_key", "changes"}
    )
    document["attempts"] = step.attempt + 1
    document["duration_seconds"] = _seconds(_step_span(step))
    document["changes"] = changes.get(step.step_key, {})
    document["sub_history"] = [_step_json(s, changes) for s in step.sub_history]
    return document


# --- mermaid ----------------------------------------------------------------------------------


def run_mermaid(args: argparse.Namespace) -> int:
    """``dwarf flows mermaid KEY``."""
    return asyncio.run(_mermaid(args))


async def _mermaid(args: argparse.Namespace) -> int:
    async with operator_engine(args) as engine:
        text = await engine.history_mermaid(args.key)
    if args.json:
        print_json({"ok": True, "flow_key": args.key, "mermaid": text})
    else:
        print(text.rstrip("\n"))
    return EXIT_OK
