"""The pages that read: flows, a flow, a step, shards, a workflow's graph. None changes anything.

Constraints:

- A page polls (htmx, every ``refresh_seconds``) only while what it shows can still move: the
  flows table while a listed flow is created or running, a flow's status while it is. When the
  status a flow page was drawn with has changed, the poll answers ``HX-Refresh`` and the browser
  reloads the whole page (timeline and diagram included).
- A flow page loads each step's changes with one ``step`` call per step, up to ``MAX_DETAILED``
  steps; past that the timeline links to the step pages instead.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from dwarf._console._context import console_of
from dwarf._console._views import (
    FILTERS,
    filters_of,
    flow_span,
    query_of,
    timeline,
)
from dwarf.engine import Engine
from dwarf.errors import BadRequestError, DwarfError, NotFoundError
from dwarf.workflow import FlowSummary, Query, Status

__all__ = [
    "flow_page",
    "flow_status",
    "flows_page",
    "flows_rows",
    "home",
    "shards_page",
    "step_page",
    "tasks_page",
    "workflow_page",
]

MAX_DETAILED: Final = 200

_MOVING: Final = frozenset({Status.CREATED, Status.RUNNING})
_STATUSES: Final = [status.value for status in Status if status is not Status.PENDING]


async def home(request: Request) -> Response:
    """``/``: the flows page."""
    return RedirectResponse("/flows", status_code=303)


async def _flows_context(request: Request) -> tuple[dict[str, Any], int]:
    console = console_of(request)
    filters = filters_of(request.query_params)
    cursor = request.query_params.get("cursor", "")
    values: dict[str, Any] = {
        "filters": filters,
        "fields": FILTERS,
        "statuses": _STATUSES,
        "cursor": cursor,
        "flows": [],
        "next_cursor": "",
        "error": "",
        "moving": False,
    }
    try:
        flows, next_cursor = await console.engine.list_flows(query_of(filters, cursor))
    except BadRequestError as exc:
        values["error"] = console.clean(str(exc))
        return values, 400
    values["flows"] = [(flow, flow_span(flow)) for flow in flows]
    values["next_cursor"] = next_cursor
    values["moving"] = any(flow.status in _MOVING for flow in flows)
    return values, 200


async def flows_page(request: Request) -> Response:
    """``/flows``: root flows, newest first, filtered and paged."""
    values, status = await _flows_context(request)
    return console_of(request).render(request, "flows.html", status, **values)


async def flows_rows(request: Request) -> Response:
    """``/flows/rows``: the flows table's body alone, for polling."""
    values, status = await _flows_context(request)
    return console_of(request).render(request, "_flow_rows.html", status, **values)


async def _summary(engine: Engine, key: str) -> FlowSummary | None:
    """The list entry of a root flow (its timings); None for a subgraph's flow."""
    # Search matches a substring of the key; a limit of 1 could return only a longer key.
    flows, _ = await engine.list_flows(Query(search=key, limit=100))
    return next((flow for flow in flows if flow.flow_key == key), None)


async def flow_page(request: Request) -> Response:
    """``/flows/{key}``: status, timeline, diagram, state and each step's changes."""
    console = console_of(request)
    key = request.path_params["key"]
    engine = console.engine
    outcome = await engine.snapshot(key)
    summary = await _summary(engine, key)
    steps = await engine.history(key)
    rows = list(timeline(steps, {}))
    changes: dict[str, dict[str, Any]] = {}
    if len(rows) <= MAX_DETAILED:
        for row in rows:
            try:
                changes[row.step.step_key] = (await engine.step(row.step.step_key)).changes
            except NotFoundError:  # deleted meanwhile: the history row still stands
                changes[row.step.step_key] = {}
        rows = list(timeline(steps, changes))
    mermaid = await engine.history_mermaid(key) if steps else ""
    return console.render(
        request,
        "flow.html",
        key=key,
        outcome=outcome,
        summary=summary,
        span=flow_span(summary) if summary is not None else None,
        rows=rows,
        detailed=len(rows) <= MAX_DETAILED,
        mermaid=mermaid,
        moving=outcome.status in _MOVING,
        done=request.query_params.get("done", ""),
        new_flow=request.query_params.get("new", ""),
    )


async def flow_status(request: Request) -> Response:
    """``/flows/{key}/status?seen=S``: the status box, or a full reload once S is stale."""
    console = console_of(request)
    key = request.path_params["key"]
    outcome = await console.engine.snapshot(key)
    if outcome.status.value != request.query_params.get("seen", outcome.status.value):
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return console.render(
        request, "_flow_status.html", key=key, outcome=outcome, moving=outcome.status in _MOVING
    )


async def step_page(request: Request) -> Response:
    """``/steps/{key}``: one step's input state, changes, interrupt payload and neighbours."""
    console = console_of(request)
    step = await console.engine.step(request.path_params["key"])
    return console.render(request, "step.html", step=step, flow=request.query_params.get("flow"))


async def shards_page(request: Request) -> Response:
    """``/shards``: each shard's latency, flows and steps (an unreachable one says why)."""
    console = console_of(request)
    shards = [
        dataclasses.replace(shard, error=console.clean(shard.error))
        for shard in await console.engine.shard_info()
    ]
    return console.render(request, "shards.html", shards=shards)


async def tasks_page(request: Request) -> Response:
    """``/tasks``: the tasks whose circuit breaker is open, as the database shows them now.

    A fresh operator engine is opened for each view: its startup re-opens the breaker of every
    task with parked steps (the durable part of protection), while the console's own engine
    only knows what it saw when it started. Valves and limits live in the application's
    replicas and are not shown.
    """
    settings = console_of(request).settings
    fresh = (
        Engine()
        .with_dsn(settings.dsn)
        .with_num_shards(settings.shards)
        .with_workers(0)
        .with_max_open_conns(1)
    )
    async with fresh:
        controls = fresh.task_controls()
    return console_of(request).render(request, "tasks.html", controls=controls)


async def workflow_page(request: Request) -> Response:
    """``/workflows/{name}``: the workflow's graph as the graph loader gives it."""
    console = console_of(request)
    name = request.path_params["name"]
    loader = console.settings.graph_loader
    mermaid, error = "", ""
    if loader is not None:
        try:
            mermaid = (await loader(name)).mermaid()
        except DwarfError as exc:
            error = console.clean(str(exc))
        except Exception as exc:  # the host's loader: any failure is shown, not a 500
            error = console.clean(f"the graph loader failed: {type(exc).__name__}: {exc}")
    return console.render(request, "workflow.html", name=name, mermaid=mermaid, error=error)
