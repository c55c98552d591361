"""The console's actions over HTTP, logged in, on SQLite and PostgreSQL: each changes the flow.

An action is a confirmation page (GET) and its form's POST; success redirects (303) to the flow
with a fixed message, a refusal re-shows the form with the reason and its status code. The
console runs no step: ``calls`` shows what tasks ran, and only the test's engines run any.
"""

from __future__ import annotations

import html
import re

import httpx2 as httpx

from dwarf.engine import Engine
from dwarf.workflow import Status
from tests.fixtures.console import Console, Flows


def error_of(response: httpx.Response) -> str:
    """The error message a re-shown form carries."""
    match = re.search(r'<p class="error" role="alert">(.*?)</p>', response.text, re.S)
    assert match is not None, response.text
    return html.unescape(match.group(1))


async def status_of(dsn: str, key: str) -> Status:
    """The flow's status, read by an engine of the test's own."""
    async with Engine().with_dsn(dsn).with_workers(0) as engine:
        return (await engine.snapshot(key)).status


def first_step(console: Console, flow_key: str) -> str:
    """The key of the first step a flow page lists."""
    page = console.get(f"/flows/{flow_key}")
    found: list[str] = re.findall(r'<td class="key"><a href="/steps/([^"?]+)\?', page.text)
    return found[0]


async def test_cancel_stops_a_running_flow_with_its_reason(
    console: Console, flows: Flows, dsn: str
) -> None:
    console.login()
    page = console.get(f"/flows/{flows.running}")
    assert f'href="/flows/{flows.running}/cancel"' in page.text
    confirm = console.get(f"/flows/{flows.running}/cancel")
    assert "Cancel flow" in confirm.text
    assert 'name="text"' in confirm.text

    done = console.act(f"/flows/{flows.running}/cancel", "stuck on the <b>bank</b>")
    assert done.status_code == 303
    assert done.headers["location"] == f"/flows/{flows.running}?done=cancel"
    shown = console.get(done.headers["location"])
    assert "Flow cancelled." in shown.text
    assert "stuck on the &lt;b&gt;bank&lt;/b&gt;" in shown.text
    assert await status_of(dsn, flows.running) is Status.CANCELLED

    again = console.act(f"/flows/{flows.running}/cancel")
    assert again.status_code == 409, "already cancelled: the engine's refusal, re-shown"
    assert error_of(again)


async def test_resume_validates_its_json_then_resumes_without_running_a_step(
    console: Console, flows: Flows, dsn: str, calls: list[str]
) -> None:
    console.login()
    ran = list(calls)
    malformed = console.act(f"/flows/{flows.interrupted}/resume", '{"approved": tru')
    assert malformed.status_code == 400
    assert error_of(malformed).startswith("the resume data is not valid JSON:")
    assert "(line 1, column" in error_of(malformed)
    assert '{"approved": tru</textarea>' in html.unescape(malformed.text), "the text is kept"
    not_object = console.act(f"/flows/{flows.interrupted}/resume", "[1, 2]")
    assert not_object.status_code == 400
    assert error_of(not_object) == "the resume data must be a JSON object, got list"
    assert await status_of(dsn, flows.interrupted) is Status.INTERRUPTED

    done = console.act(f"/flows/{flows.interrupted}/resume", '{"approved": true}')
    assert done.status_code == 303
    assert "Flow resumed" in console.get(done.headers["location"]).text
    assert await status_of(dsn, flows.interrupted) is Status.RUNNING
    assert calls == ran, "the console ran a step"

    wrong = console.act(f"/flows/{flows.completed}/resume", "{}")
    assert wrong.status_code == 409


async def test_restart_restart_from_and_fork_make_the_flow_run_again(
    console: Console, flows: Flows, dsn: str
) -> None:
    console.login()
    restarted = console.act(f"/flows/{flows.failed}/restart", '{"again": true}')
    assert restarted.status_code == 303
    assert restarted.headers["location"] == f"/flows/{flows.failed}?done=restart"
    assert await status_of(dsn, flows.failed) is Status.RUNNING

    step = first_step(console, flows.completed)
    page = console.get(f"/flows/{flows.completed}")
    assert f'href="/steps/{step}/restart-from?flow={flows.completed}"' in page.text
    forked = console.act(f"/steps/{step}/fork?flow={flows.completed}", "", flow=flows.completed)
    assert forked.status_code == 303
    new_key = re.fullmatch(r"/flows/([^?]+)\?done=fork", forked.headers["location"])
    assert new_key is not None
    assert new_key.group(1) != flows.completed
    assert "New flow forked" in console.get(forked.headers["location"]).text

    again = console.act(
        f"/steps/{step}/restart-from?flow={flows.completed}", '{"n": 2}', flow=flows.completed
    )
    assert again.status_code == 303
    assert again.headers["location"] == f"/flows/{flows.completed}?done=restart-from"
    assert await status_of(dsn, flows.completed) is Status.RUNNING

    bad = console.act(f"/steps/{step}/fork", "42")
    assert bad.status_code == 400
    assert error_of(bad) == "the overrides must be a JSON object, got int"


async def test_delete_removes_a_stopped_flow_and_refuses_a_running_one(
    console: Console, flows: Flows
) -> None:
    console.login()
    refused = console.act(f"/flows/{flows.running}/delete")
    assert refused.status_code == 409
    assert "cancel it first" in error_of(refused)

    done = console.act(f"/flows/{flows.completed}/delete")
    assert done.status_code == 303
    assert done.headers["location"] == "/flows?done=delete"
    listing = console.get(done.headers["location"])
    assert "Flow deleted." in listing.text
    assert flows.completed not in listing.text
    assert console.get(f"/flows/{flows.completed}").status_code == 404


def test_an_unknown_action_is_a_404(console: Console, flows: Flows) -> None:
    console.login()
    assert console.get(f"/flows/{flows.completed}/explode").status_code == 404
    assert console.get(f"/flows/{flows.completed}/fork").status_code == 404, "fork takes a step"
    response = console.post(f"/flows/{flows.completed}/explode", {"csrf": "x"})
    assert response.status_code == 404
