"""``dwarf tasks`` by subprocess: the tasks whose circuit breaker is open, from parked steps."""

from __future__ import annotations

import pytest

from dwarf.engine import Engine
from tests.fixtures.cli import run_dwarf, with_password
from tests.fixtures.console import make_tripped


@pytest.fixture(params=["sqlite", "postgresql"])
def dsn(request: pytest.FixtureRequest) -> str:
    """A fresh database: a SQLite file, or PostgreSQL with a password in its DSN."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_dsn"))
    return with_password(request.getfixturevalue("postgres_dsn"))


async def test_tasks_lists_each_open_breaker(dsn: str) -> None:
    await make_tripped(dsn)
    env = {"DWARF_DSN": dsn}
    table = (await run_dwarf("tasks", env=env)).ok().splitlines()
    assert table[0].split() == ["KEY", "TASKS", "BREAKER", "NEXT", "PROBE"]
    assert table[1].split()[:6] == ["charge", "charge", "open", "on", "shard", "1"]
    document = (await run_dwarf("tasks", "--json", env=env)).json()
    assert document["ok"] is True
    (control,) = document["tasks"]
    assert control["key"] == "charge"
    assert control["breaker_open_shards"] == [1]
    assert control["next_probe_at"]


async def test_with_no_breaker_open_tasks_says_so(dsn: str) -> None:
    async with Engine().with_dsn(dsn).with_workers(0):
        pass  # startup migrates the schema
    out = (await run_dwarf("tasks", env={"DWARF_DSN": dsn})).ok()
    assert out.strip() == "no breaker is open: no task has steps parked"
    assert (await run_dwarf("tasks", "--json", env={"DWARF_DSN": dsn})).json() == {
        "ok": True,
        "tasks": [],
    }


async def test_help_says_what_it_cannot_see() -> None:
    text = " ".join((await run_dwarf("tasks", "--help")).ok().split())
    assert "Rate valves, cuts and static limits live in each application replica's memory" in text
