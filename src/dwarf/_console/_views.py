"""What pages show, computed from the engine's values: filters, durations, JSON, step timelines.

Constraints:

- Nothing here escapes HTML: templates do (Jinja2 autoescape), so every value stays raw text
  until the template renders it.
- Filter input comes from a query string: a bad value is a ``BadRequestError`` naming its field
  as the form labels it, shown above the form with status 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from dwarf.errors import BadRequestError
from dwarf.workflow import FlowStep, FlowSummary, Query, Status

__all__ = [
    "DONE",
    "FILTERS",
    "StepRow",
    "duration_text",
    "filters_of",
    "is_key",
    "json_text",
    "query_of",
    "timeline",
    "timestamp_text",
]

FILTERS: Final = (
    "status",
    "workflow",
    "thread",
    "task",
    "fairness_key",
    "priority",
    "older_than",
    "newer_than",
    "shard",
    "search",
    "limit",
)
"""The flows page's filter fields, in form order."""

DONE: Final = {
    "cancel": "Flow cancelled.",
    "resume": "Flow resumed: the application's workers run it from here.",
    "restart": "Flow restarted: the application's workers run it from here.",
    "delete": "Flow deleted.",
    "restart-from": "Flow restarting from the step: the application's workers run it.",
    "fork": "New flow forked from the step: the application's workers run it.",
    "login": "Logged in: actions are allowed.",
    "logout": "Logged out.",
}
"""What a page says after an action redirected to it (``?done=NAME``); fixed text only."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_KEY = re.compile(r"[1-9][0-9]*-[1-9][0-9]*-[0-9a-f]{16}")
_QUERY_FIELDS: Final = {
    "status": "status",
    "workflow": "workflow_name",
    "thread": "thread_key",
    "task": "task_name",
    "fairness_key": "fairness_key",
    "search": "search",
}


def is_key(text: str) -> bool:
    """Whether ``text`` has a flow or step key's form (safe to put in a redirect's path)."""
    return _KEY.fullmatch(text) is not None


def filters_of(params: Mapping[str, str]) -> dict[str, str]:
    """The non-empty filter fields of a query string, stripped, in form order."""
    return {name: params[name].strip() for name in FILTERS if params.get(name, "").strip()}


def query_of(filters: Mapping[str, str], cursor: str = "") -> Query:
    """The ``Query`` for the flows page's filters."""
    fields: dict[str, Any] = {
        target: filters[name] for name, target in _QUERY_FIELDS.items() if name in filters
    }
    for name in ("priority", "shard", "limit"):
        if name in filters:
            fields[name] = _whole_number(name, filters[name])
    for name in ("older_than", "newer_than"):
        if name in filters:
            fields[name] = _duration(name, filters[name])
    if cursor:
        fields["cursor"] = cursor
    return Query(**fields)


def _whole_number(name: str, text: str) -> int:
    if not text.isdigit():
        raise BadRequestError(f"{name.replace('_', ' ')} must be a whole number, got {text!r}")
    return int(text)


def _duration(name: str, text: str) -> timedelta:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise BadRequestError(
            f"{name.replace('_', ' ')} must be a duration such as 90s, 15m, 2h or 7d, got {text!r}"
        )
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"])


def json_text(value: Any) -> str:
    """``value`` as indented JSON (keys sorted; anything JSON cannot hold as its ``str``)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def timestamp_text(moment: datetime | None) -> str:
    """A UTC timestamp to the second, or ``-``."""
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration_text(span: timedelta | None) -> str:
    """A short human duration (``850ms``, ``12.3s``, ``4m05s``, ``2h10m``), or ``-``."""
    if span is None:
        return "-"
    seconds = max(span.total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def flow_span(summary: FlowSummary) -> timedelta | None:
    """How long a flow has run (until now while it is still running)."""
    if summary.started_at is None:
        return None
    end = datetime.now(UTC) if summary.status is Status.RUNNING else summary.updated_at
    return None if end is None else end - summary.started_at


@dataclass(frozen=True, slots=True)
class StepRow:
    """One line of a flow's timeline: a step, how deep in subgraphs it is, what it wrote."""

    step: FlowStep
    depth: int
    duration: str
    changes: dict[str, Any] | None = field(default=None)

    @property
    def attempts(self) -> int:
        """How many times the step ran (or is running)."""
        return self.step.attempt + 1

    @property
    def can_rewind(self) -> bool:
        """Whether restart-from and fork may be offered (the engine checks again)."""
        return self.step.status in {
            Status.COMPLETED,
            Status.FAILED,
            Status.CANCELLED,
            Status.INTERRUPTED,
        }


def timeline(steps: list[FlowStep], changes: Mapping[str, dict[str, Any]]) -> Iterator[StepRow]:
    """Every step in order, a subgraph's steps right after the step that called it."""
    for step, depth in _walk(steps, 0):
        yield StepRow(step, depth, duration_text(_step_span(step)), changes.get(step.step_key))


def _walk(steps: list[FlowStep], depth: int) -> Iterator[tuple[FlowStep, int]]:
    for step in steps:
        yield step, depth
        yield from _walk(step.sub_history, depth + 1)


def _step_span(step: FlowStep) -> timedelta | None:
    if not step.has_started or step.started_at is None:
        return None
    end = datetime.now(UTC) if step.status is Status.RUNNING else step.updated_at
    return None if end is None else end - step.started_at
