"""The console in a real browser: ``dwarf console`` in a subprocess, chromium driven by Playwright.

An engine with workers runs in the test on the same SQLite file, as the application would:
what the console makes pending (a resumed flow) it runs, and the page, polling with htmx, shows
the flow complete. The browser must see no script error and no Content-Security-Policy refusal.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dwarf.engine import Engine, TestProxy
from dwarf.workflow import END, Flow, Graph, Status
from tests.fixtures.browser import ConsoleProcess, start_console, stop_console
from tests.fixtures.console import HOSTILE, HOSTILE_WORKFLOW

TOKEN = "open sesame"

_TIMEOUT_MS = 30_000


@dataclass(frozen=True, slots=True)
class Scene:
    """The running application, its flows, and the console over them."""

    engine: Engine
    console: ConsoleProcess
    asking: str
    stuck: str
    failed: str
    parent: str
    hostile: str


def _proxy(release: asyncio.Event) -> TestProxy:
    proxy = TestProxy()
    for name, chain in (
        ("approval", ("collect", "ask", "ship")),
        ("stuck", ("wait",)),
        ("payment", ("charge",)),
        ("order", ("reserve", "pay", "ship")),
        (HOSTILE_WORKFLOW, ("collect",)),
    ):
        graph = Graph(name)
        graph.add_transition_chain(*chain, END)
        proxy.handle_graph(name, graph)

    @proxy.task("collect")
    async def collect(flow: Flow) -> None:
        flow.set("order", {"id": 42, "items": ["anvil", "rope"], "note": HOSTILE})

    @proxy.task("ask")
    async def ask(flow: Flow) -> None:
        answer: dict[str, Any] = flow.interrupt({"question": "ship order 42?"})
        flow.set_bool("approved", bool(answer.get("approved")))

    @proxy.task("ship")
    async def ship(flow: Flow) -> None:
        flow.set_string("shipped", "yes")

    @proxy.task("wait")
    async def wait(flow: Flow) -> None:
        await release.wait()

    @proxy.task("charge")
    async def charge(flow: Flow) -> None:
        raise RuntimeError("card declined (code 51)")

    @proxy.task("reserve")
    async def reserve(flow: Flow) -> None:
        flow.set_int("reserved", 2)

    @proxy.task("pay")
    async def pay(flow: Flow) -> None:
        flow.set("payment", flow.subgraph("approval"))

    return proxy


async def _stopped(engine: Engine, name: str) -> str:
    key = await engine.create(name)
    await engine.start(key)
    await engine.await_flow(key, timeout=30)
    return key


@pytest.fixture
async def scene(sqlite_dsn: str) -> AsyncIterator[Scene]:
    """Flows in every state, an engine still running them, and a console on the database."""
    release = asyncio.Event()
    proxy = _proxy(release)
    engine = (
        Engine()
        .with_dsn(sqlite_dsn)
        .with_graph_loader(proxy.load_graph)
        .with_task_executor(proxy.execute_task)
        .with_workers(2)
    )
    async with engine:
        failed = await _stopped(engine, "payment")
        parent = await _stopped(engine, "order")
        hostile = await _stopped(engine, HOSTILE_WORKFLOW)
        asking = await _stopped(engine, "approval")
        stuck = await engine.create("stuck")
        await engine.start(stuck)
        console = await start_console(sqlite_dsn, TOKEN)
        try:
            yield Scene(engine, console, asking, stuck, failed, parent, hostile)
        finally:
            release.set()
            err = await stop_console(console)
    assert "Traceback" not in err, err


class Problems:
    """Script errors and CSP refusals a page reported."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        page.on("pageerror", lambda exc: self.seen.append(f"script error: {exc}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        url = str(message.location.get("url", ""))
        # The refused resume answers 400 on purpose: the browser logs that page's status.
        if message.type == "error" and not url.endswith("/resume"):
            self.seen.append(f"console error at {url}: {message.text}")


def _screenshots() -> Path | None:
    target = os.environ.get("DWARF_SCREENSHOTS", "")
    return Path(target) if target else None


async def _shoot(page: Any, name: str) -> None:
    folder = _screenshots()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(folder / f"console-{name}.png"), full_page=True)


async def test_an_operator_filters_inspects_cancels_and_resumes_in_a_browser(
    browser: Any, scene: Scene
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(_TIMEOUT_MS)
    problems = Problems(page)
    base = scene.console.url

    # The flows page lists every flow; the status filter narrows it.
    await page.goto(f"{base}/flows")
    keys = await page.locator("td.key a").all_inner_texts()
    assert set(keys) == {scene.asking, scene.stuck, scene.failed, scene.parent, scene.hostile}
    await _shoot(page, "flows")
    await page.select_option("select[name=status]", "failed")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url(re.compile(r"status=failed"))
    assert await page.locator("td.key a").all_inner_texts() == [scene.failed]
    assert "card declined (code 51)" in await page.locator("td.message").inner_text()

    # A flow: its diagram is drawn as SVG by the vendored mermaid, its steps and state listed.
    await page.click(f"text={scene.failed}")
    await page.wait_for_selector(".diagram svg")
    assert await page.locator("[data-status]").get_attribute("data-status") == "failed"

    await page.goto(f"{base}/flows/{scene.parent}")
    await page.wait_for_selector(".diagram svg")
    assert await page.locator("table.steps tbody tr").count() >= 4, "the subgraph's steps too"
    await page.locator("table.steps details summary").first.click()
    await _shoot(page, "flow")

    # Hostile text stays text: the page has no element the state tried to inject.
    await page.goto(f"{base}/flows/{scene.hostile}")
    await page.wait_for_selector(".diagram svg")
    assert HOSTILE in await page.locator("body").inner_text()
    assert await page.locator("main script").count() == 0

    # Log in, then cancel the running flow: its status changes.
    await page.goto(f"{base}/login?next=/flows/{scene.stuck}")
    await page.fill("input[name=token]", TOKEN)
    await page.click("button:has-text('Log in')")
    await page.wait_for_url(re.compile(re.escape(f"/flows/{scene.stuck}")))
    assert await page.locator("[data-status]").get_attribute("data-status") == "running"
    await page.click("text=Cancel…")
    await page.fill("input[name=text]", "stuck for hours")
    await page.click("button:has-text('Cancel flow')")
    await page.wait_for_selector("[data-status=cancelled]")
    assert "stuck for hours" in await page.locator("#flow-status").inner_text()
    assert (await scene.engine.snapshot(scene.stuck)).status is Status.CANCELLED

    # Resume the interrupted flow with JSON: a malformed object is refused with a message, a
    # good one resumes it. The page then shows it running and polls; once the application's
    # engine has run it, the page shows it completed without a reload by hand.
    (asked,) = [s for s in await scene.engine.history(scene.asking) if s.task_name == "ask"]
    await page.goto(f"{base}/flows/{scene.asking}")
    assert await page.locator("[data-status]").get_attribute("data-status") == "interrupted"
    await page.click("text=Resume…")
    await page.fill("textarea[name=text]", '{"approved": yes}')
    await _shoot(page, "resume")
    await page.click("button:has-text('Resume flow')")
    assert "not valid JSON" in await page.locator("p.error").inner_text()
    await page.fill("textarea[name=text]", '{"approved": true}')
    await page.click("button:has-text('Resume flow')")
    await page.wait_for_selector("[data-status=running]")
    # The console has no peer notifier: ring the application's doorbell as one would, rather
    # than wait for its next poll (minutes away).
    await scene.engine.handle_enqueue(1, asked.step_id)
    await page.wait_for_selector("[data-status=completed]")
    outcome = await scene.engine.snapshot(scene.asking)
    assert outcome.status is Status.COMPLETED
    assert outcome.state["approved"] is True

    await page.goto(f"{base}/shards")
    await _shoot(page, "shards")
    assert problems.seen == []
