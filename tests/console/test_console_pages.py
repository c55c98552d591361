"""The console's pages over HTTP (Starlette's TestClient), on SQLite and PostgreSQL.

Every response is checked by ``tests.fixtures.console.Console`` for the DSN's password and for
raw markup; these tests check what each page shows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from dwarf.workflow import Graph
from tests.fixtures.console import (
    HOSTILE,
    HOSTILE_TASK,
    HOSTILE_WORKFLOW,
    Console,
    Flows,
    console_client,
)


def keys_on(response: httpx.Response) -> list[str]:
    """The flow keys a flows page lists, in order."""
    assert response.status_code == 200, response.text
    return re.findall(r'<td class="key"><a href="/flows/([^"]+)">', response.text)


def text_of(response: httpx.Response) -> str:
    """The page's text with tags dropped and entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def test_the_flows_page_lists_every_flow_and_applies_each_filter(
    console: Console, flows: Flows
) -> None:
    assert console.get("/").headers["location"] == "/flows"
    assert sorted(keys_on(console.get("/flows"))) == sorted(flows.all())
    assert keys_on(console.get("/flows?status=failed")) == [flows.hostile, flows.failed]
    assert keys_on(console.get("/flows?workflow=ask")) == [flows.interrupted]
    assert keys_on(console.get("/flows?search=KAPUT")) == [flows.failed]
    assert keys_on(console.get("/flows?task=ask")) == [flows.interrupted]
    assert keys_on(console.get(f"/flows?thread={flows.completed}")) == [flows.completed]
    assert keys_on(console.get("/flows?fairness_key=nobody")) == []
    assert keys_on(console.get("/flows?older_than=1h")) == []
    everything = console.get("/flows?newer_than=1h&shard=1&priority=100&status=running")
    assert keys_on(everything) == [flows.running]

    first = console.get("/flows?limit=2&status=failed")
    assert keys_on(first) == [flows.hostile, flows.failed]
    one = console.get("/flows?limit=1&status=failed")
    assert keys_on(one) == [flows.hostile]
    next_page = re.search(r'href="(/flows\?[^"]*cursor=[^"]*)" rel="next"', one.text)
    assert next_page is not None
    assert keys_on(console.get(html.unescape(next_page.group(1)))) == [flows.failed]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("priority=high", "priority must be a whole number, got 'high'"),
        ("older_than=soon", "older than must be a duration such as 90s"),
        ("status=sleeping", "'sleeping' is not a status"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field(
    console: Console, flows: Flows, query: str, message: str
) -> None:
    response = console.get(f"/flows?{query}")
    assert response.status_code == 400
    assert message in html.unescape(response.text)


def test_only_pages_with_moving_flows_poll(console: Console, flows: Flows) -> None:
    assert 'hx-trigger="every' in console.get("/flows").text
    assert 'hx-trigger="every' not in console.get("/flows?status=completed").text
    rows = console.get("/flows/rows?status=running")
    assert rows.text.lstrip().startswith('<tbody id="flow-rows"')
    assert keys_on(rows) == [flows.running]
    assert 'hx-get="/flows/rows?status=running"' in rows.text

    assert 'hx-trigger="every' in console.get(f"/flows/{flows.running}").text
    assert 'hx-trigger="every' not in console.get(f"/flows/{flows.completed}").text


def test_a_status_poll_asks_for_a_reload_once_the_status_changed(
    console: Console, flows: Flows
) -> None:
    same = console.get(f"/flows/{flows.running}/status?seen=running")
    assert same.status_code == 200
    assert 'data-status="running"' in same.text
    changed = console.get(f"/flows/{flows.completed}/status?seen=running")
    assert changed.status_code == 204
    assert changed.headers["HX-Refresh"] == "true"


def test_a_flow_page_shows_status_timeline_diagram_state_and_changes(
    console: Console, flows: Flows
) -> None:
    page = console.get(f"/flows/{flows.interrupted}")
    assert page.status_code == 200
    text = text_of(page)
    assert "interrupted" in text
    assert '"question": "approve?"' in text, "what the flow waits for"
    assert re.search(r"ask interrupted 1 \S+ ", text), "the step, its status and attempts"
    assert '"asked": 1' in text, "the state, and the step's changes"
    assert "<details" in page.text
    assert "data-mermaid" in page.text
    assert "flowchart" in text, "the Mermaid source, for the browser to draw"

    failed = text_of(console.get(f"/flows/{flows.failed}"))
    assert "kaput: see the runbook" in failed
    completed = text_of(console.get(f"/flows/{flows.completed}"))
    assert '"result": "done"' in completed
    assert "Workflow ok" in completed


def test_a_subgraphs_steps_are_shown_under_their_caller_and_linked(
    console: Console, flows: Flows
) -> None:
    page = console.get(f"/flows/{flows.parent}")
    text = text_of(page)
    assert "call → subgraph ok" in text
    step_keys = re.findall(r'<td class="key"><a href="/steps/([^"?]+)\?flow=', page.text)
    assert len(step_keys) == 3, "call, the child's done, then the parent's done"
    assert 'class="depth-1' in page.text
    child = console.get(f"/steps/{step_keys[1]}?flow={flows.parent}")
    assert child.status_code == 200
    assert '"result": "done"' in text_of(child)
    assert f'href="/flows/{flows.parent}"' in child.text


def test_a_step_page_shows_its_state_changes_and_neighbours(console: Console, flows: Flows) -> None:
    page = console.get(f"/flows/{flows.completed}")
    (step_key,) = re.findall(r'<td class="key"><a href="/steps/([^"?]+)\?', page.text)
    step = console.get(f"/steps/{step_key}")
    text = text_of(step)
    assert "Task done" in text
    assert "completed" in text
    assert '"result": "done"' in text


def test_the_shards_page_reports_each_shard_without_the_password(
    console: Console, flows: Flows, dsn: str
) -> None:
    page = console.get("/shards")
    assert page.status_code == 200
    row = re.search(r"<td><a href=\"/flows\?shard=1\">1</a></td>\s*<td>[0-9.]+ ms</td>"
                    r"\s*<td>(\d+)</td>", page.text)  # fmt: skip
    assert row is not None, page.text
    assert int(row.group(1)) >= 6
    if dsn.startswith("postgresql"):
        assert ":***@" in page.text, "the DSN is shown masked"


def test_unknown_and_malformed_keys_are_404_and_400(console: Console, flows: Flows) -> None:
    unknown = console.get("/flows/1-999-0123456789abcdef")
    assert unknown.status_code == 404
    malformed = console.get(f"/flows/{HOSTILE_TASK}")
    assert malformed.status_code == 400
    assert "&lt;img src=x" in malformed.text, "the key is echoed, escaped"
    assert console.get(f"/steps/{flows.completed}").status_code in {400, 404}
    assert console.get("/no/such/page").status_code == 404


def test_hostile_names_state_and_errors_are_escaped(console: Console, flows: Flows) -> None:
    listing = console.get("/flows")
    assert HOSTILE_WORKFLOW in text_of(listing), "shown as text"
    page = console.get(f"/flows/{flows.hostile}")
    assert page.status_code == 200
    text = text_of(page)
    assert HOSTILE in text, "shown as text: workflow, state and error"
    assert text.count(HOSTILE) >= 3
    searched = console.get("/flows", params={"search": HOSTILE})
    assert searched.status_code == 200, "the search box echoes the search, escaped"


@pytest.fixture
def graphs_console(dsn: str, flows: Flows, calls: list[str]) -> Iterator[Console]:
    """A console given the application's graph loader."""

    async def load(name: str) -> Graph:
        from tests.fixtures.console import console_proxy

        return await console_proxy(calls).load_graph(name)

    yield from console_client(dsn, graph_loader=load)


def test_a_workflow_page_draws_the_graph_when_given_a_loader(
    graphs_console: Console, console: Console, flows: Flows
) -> None:
    page = graphs_console.get("/workflows/ask")
    assert page.status_code == 200
    assert "data-mermaid" in page.text
    assert "flowchart" in text_of(page)
    assert 'href="/workflows/ask"' in graphs_console.get("/flows").text
    unknown = graphs_console.get("/workflows/nope")
    assert "workflow 'nope' is not registered with the registry" in text_of(unknown)
    hostile = graphs_console.get(f"/workflows/{HOSTILE_WORKFLOW}")
    assert hostile.status_code == 200
    assert "data-mermaid" in hostile.text, "a name with a slash in it still finds its graph"

    without = console.get("/workflows/ask")
    assert "--graphs module:callable" in text_of(without)
    assert 'href="/workflows/' not in console.get("/flows").text
