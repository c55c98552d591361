"""A real browser for the console's end-to-end tests: Debian's chromium driven by Playwright.

Playwright is given ``executable_path`` (no browser download, ever: ``playwright install`` is
never run). Without Playwright or ``/usr/bin/chromium`` these tests skip locally and fail under
``CI=true``, like an unreachable database (tests/fixtures/databases.py).

Set ``DWARF_SCREENSHOTS`` to a directory (``docs/images``) to have the tests save the console's
main pages there as ``console-*.png``: that is how the screenshots in docs/console.md are made.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.fixtures.databases import in_ci

CHROMIUM: Final = Path(os.environ.get("DWARF_TEST_CHROMIUM", "/usr/bin/chromium"))

CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing(what: str) -> None:
    message = f"{what}: the browser tests need it (see .ci/run)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless chromium (a ``playwright.async_api.Browser``)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[dev]')")
        raise
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()
