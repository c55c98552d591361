"""Fixtures of the console's HTTP tests: a database with flows, and a console on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.cli import with_password
from tests.fixtures.console import TOKEN, Console, Flows, console_client, make_flows


@pytest.fixture(params=["sqlite", "postgresql"])
def dsn(request: pytest.FixtureRequest) -> str:
    """A fresh database: a SQLite file, or PostgreSQL with a password in its DSN."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_dsn"))
    return with_password(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def calls() -> list[str]:
    """Every task call the test's engines made, in order."""
    return []


@pytest.fixture
async def flows(dsn: str, calls: list[str]) -> Flows:
    """The flows of ``tests.fixtures.console.make_flows`` on the test's database."""
    return await make_flows(dsn, calls)


@pytest.fixture
def console(dsn: str, flows: Flows) -> Iterator[Console]:
    """A console with a token on the test's database, not logged in."""
    yield from console_client(dsn, token=TOKEN)
