"""The tasks page: the circuit breakers open now, as the database shows them, re-read each view."""

from __future__ import annotations

import re

from tests.fixtures.console import TOKEN, console_client, make_tripped


def words(html: str) -> str:
    """A page's text, tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_the_tasks_page_shows_each_open_breaker_until_its_steps_are_gone(
    sqlite_dsn: str,
) -> None:
    tripped = await make_tripped(sqlite_dsn)
    for console in console_client(sqlite_dsn, token=TOKEN):
        page = console.get("/tasks")
        assert page.status_code == 200
        assert re.search(r"charge charge open on shard 1 \d{4}-\d\d-\d\d", words(page.text))
        assert 'href="/flows?task=charge"' in page.text
        listed = console.get("/flows?task=charge")
        assert sorted(re.findall(r'<td class="key"><a href="/flows/([^"]+)"', listed.text)) == (
            sorted(tripped)
        )

        console.login()
        for key in tripped:  # a cancelled flow's steps are no longer parked
            assert console.act(f"/flows/{key}/cancel").status_code == 303
        assert "No breaker is open" in words(console.get("/tasks").text)
