"""Generated accessors against live databases: SQLite (file and memory), PostgreSQL and MariaDB
(and SQL Server when ``DWARF_TEST_MSSQL_DSN`` names one).

This module holds the shared harness of every ``test_queries*.py`` module, plus the basic
behaviour tests (typed reads, list params, claims, the band scan, search). The scenarios are
spread by topic: ``_flows`` (flow lifecycle, listing, purge), ``_steps`` (fenced step writes,
callers, resets), ``_dispatch`` (selection, claims, lease recovery, cohorts), ``_roundtrip``
(column types, unicode, big integers, 1 MB payloads, NUL); ``_coverage`` proves that together they
call every accessor.

Harness:

- Each test gets a fresh database per backend (tests.fixtures.databases for the servers), with
  MIGRATIONS' statements applied as they are embedded in the package.
- ``Db.q`` is the dialect module seen through the generated ``Queries`` protocol, so mypy checks
  every call's keyword params here too. It records which accessors ran and checks that every
  returned value has exactly its declared type (``int`` is never ``bool`` or ``Decimal``, JSON
  columns are ``str``, timestamps are aware UTC), so each call is also a typed round trip.
- Connections autocommit. MariaDB connects with ``CLIENT.FOUND_ROWS`` (``:execrows`` counts
  matched rows, see the mysql module) and a non-UTC session time zone, to show the SQL's clock
  does not depend on it.
- Time is never waited for: a test that needs an old row moves its timestamp back with raw SQL
  (``Db.backdate``), and a lease that must be expired is claimed with a negative margin.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import ModuleType
from typing import Any, Union, cast, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import asyncmy
import psycopg
import pytest
from asyncmy.constants import CLIENT

from dwarf._storage._dsn import parse_dsn
from dwarf._storage._gen import mysql, postgresql, sqlite, sqlserver
from dwarf._storage._gen.migrations import MIGRATIONS
from dwarf._storage._gen.queries import MysqlFastPaths, PostgresqlFastPaths, Queries
from dwarf._storage._gen.rows import GetFlowRow, GetStepRow, GetStepScheduleRow, ListFlowsRow
from dwarf._storage._sqlite_inline import open_inline_sqlite
from dwarf._storage._sqlserver import connect_sqlserver

BACKENDS = ("sqlite-file", "sqlite-memory", "postgresql", "mysql")
_SERVER_FIXTURES = {
    "sqlite-file": "sqlite_dsn",
    "postgresql": "postgres_dsn",
    "mysql": "mysql_dsn",
    "sqlserver": "mssql_dsn",
}
# A session time zone far from UTC: timestamps must not depend on it.
MYSQL_SESSION_ZONE = "+05:45"

TOKEN = "0123456789abcdef"
STEP_TOKEN = "fedcba9876543210"


# ----------------------------------------------------------------------------------------------
# Typed recording proxy


def assert_conforms(value: Any, hint: Any, where: str) -> None:
    """Fail unless ``value`` has exactly the annotated type (rows checked field by field)."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        errors: list[str] = []
        for option in get_args(hint):
            try:
                assert_conforms(value, option, where)
            except AssertionError as exc:
                errors.append(str(exc))
            else:
                return
        raise AssertionError("; ".join(errors))
    if origin is list:
        assert type(value) is list, f"{where}: {value!r} is not a list"
        for i, item in enumerate(value):
            assert_conforms(item, get_args(hint)[0], f"{where}[{i}]")
        return
    if hint is type(None):
        assert value is None, f"{where}: {value!r} is not None"
        return
    if hint is datetime:
        assert type(value) is datetime, f"{where}: {value!r} is not a datetime"
        assert value.utcoffset() == timedelta(0), f"{where}: {value!r} is not aware UTC"
        return
    if hint in (int, float, str):
        # exact type: bool, Decimal or bytes from a driver would surprise every caller
        assert type(value) is hint, f"{where}: {value!r} is {type(value).__name__}, not {hint}"
        return
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        assert type(value) is hint, f"{where}: {value!r} is not a {hint.__name__}"
        for name, field_hint in get_type_hints(hint).items():
            assert_conforms(getattr(value, name), field_hint, f"{where}.{name}")
        return
    raise AssertionError(f"{where}: unexpected annotation {hint!r}")


class Recorder:
    """A dialect module seen as ``Queries`` (and its fast paths): records calls, checks results."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        func = getattr(self.module, name)
        protocol = next(
            p for p in (Queries, PostgresqlFastPaths, MysqlFastPaths) if hasattr(p, name)
        )
        declared = get_type_hints(getattr(protocol, name))["return"]

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.called.add(name)
            result = await func(*args, **kwargs)
            assert_conforms(result, declared, f"{self.module.__name__}.{name}")
            return result

        return call


# ----------------------------------------------------------------------------------------------
# One migrated database


FLOW_DEFAULTS: dict[str, Any] = {
    "flow_token": TOKEN,
    "workflow_name": "wf",
    "graph": '{"entry": "a"}',
    "baggage": "{}",
    "status": "running",
    "surgraph_flow_id": 0,
    "surgraph_step_depth": 0,
    "surgraph_step_id": 0,
    "root_flow_id": 0,
    "thread_id": 0,
    "thread_token": "",
    "forked_from_step": 0,
    "trace_parent": "",
    "breakpoints": "{}",
    "priority": 5,
    "fairness_key": "",
    "fairness_weight": 1.0,
    "time_budget_ms": 60_000,
    "delete_on_completion": 0,
}

STEP_DEFAULTS: dict[str, Any] = {
    "step_depth": 1,
    "step_token": STEP_TOKEN,
    "task_name": "a",
    "state": '{"x": 1}',
    "changes": "{}",
    "status": "pending",
    "time_budget_ms": 60_000,
    "lineage_id": 0,
    "fan_out_ordinal": 0,
    "predecessor_id": 0,
    "priority": 5,
    "fairness_key": "",
    "fairness_weight": 1.0,
    "parked": 0,
    "delay_ms": 0,
}

LIST_FILTERS_OFF: dict[str, Any] = {
    "status": "",
    "workflow_name": "",
    "thread_id": 0,
    "task_name": "",
    "fairness_key": "",
    "priority": 0,
    "older_than_ms": 0,
    "newer_than_ms": 0,
    "before_flow_id": 0,
    "search": "",
    "row_limit": 100,
}


@dataclass
class Db:
    """A migrated database: its backend, accessors ``q`` (recording) and autocommit ``conn``."""

    backend: str
    dialect: str
    conn: Any
    recorder: Recorder
    q: Queries = field(init=False)

    def __post_init__(self) -> None:
        self.q = self.recorder

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run raw SQL (test setup only: placeholders ``%s`` or ``?`` per driver)."""
        if self.dialect == "mysql":
            async with self.conn.cursor() as cur:
                await cur.execute(sql, params)
        elif self.dialect == "sqlserver":
            await _run_sqlserver(self.conn, sql, params)
        else:
            await self.conn.execute(sql, params)

    async def backdate(self, table: str, key: int, column: str, seconds: int) -> None:
        """Move ``column`` of one row ``seconds`` into the past (instead of waiting)."""
        id_column = "flow_id" if table == "dwarf_flows" else "step_id"
        if self.dialect == "postgresql":
            sql = f"UPDATE {table} SET {column} = {column} - make_interval(secs => %s) "
            await self.execute(sql + f"WHERE {id_column} = %s", (seconds, key))
        elif self.dialect == "mysql":
            sql = f"UPDATE {table} SET {column} = {column} - INTERVAL %s SECOND "
            await self.execute(sql + f"WHERE {id_column} = %s", (seconds, key))
        elif self.dialect == "sqlserver":
            sql = f"UPDATE {table} SET {column} = DATEADD(SECOND, -?, {column}) "
            await self.execute(sql + f"WHERE {id_column} = ?", (seconds, key))
        else:
            sql = f"UPDATE {table} SET {column} = STRFTIME('%Y-%m-%d %H:%M:%f', {column}, ?) "
            await self.execute(sql + f"WHERE {id_column} = ?", (f"-{seconds} seconds", key))

    async def flow(self, **overrides: Any) -> int:
        """Insert a flow (running, its own thread and root unless overridden); return its id."""
        flow_id = await self.q.insert_flow(self.conn, **{**FLOW_DEFAULTS, **overrides})
        await self.q.adopt_flow_identity(self.conn, flow_id=flow_id, step_id=0)
        return flow_id

    async def step(self, flow_id: int, **overrides: Any) -> int:
        """Insert a step (pending and due unless overridden); return its id."""
        return await self.q.insert_step(
            self.conn, **{**STEP_DEFAULTS, "flow_id": flow_id, **overrides}
        )

    async def get_flow(self, flow_id: int) -> GetFlowRow:
        """The flow row, which must exist."""
        row = await self.q.get_flow_by_id(self.conn, flow_id=flow_id)
        assert row is not None, f"flow {flow_id} is gone"
        return row

    async def get_step(self, step_id: int) -> GetStepRow:
        """The step row, which must exist."""
        row = await self.q.get_step_by_id(self.conn, step_id=step_id)
        assert row is not None, f"step {step_id} is gone"
        return row

    async def claim(self, step_id: int, owner: str = "w1", margin_ms: int = 60_000) -> int:
        """Claim one step for ``owner``; its new lease_seq, or 0 when the claim lost."""
        won = await self.q.claim_steps(
            self.conn, step_ids=[step_id], lease_owner=owner, lease_margin_ms=margin_ms
        )
        if not won:
            return 0
        rows = await self.q.select_claimed_steps(self.conn, step_ids=[step_id], lease_owner=owner)
        assert [r.step_id for r in rows] == [step_id]
        return rows[0].lease_seq

    async def list_flows(self, **filters: Any) -> list[ListFlowsRow]:
        """ListFlows with every filter off except ``filters``."""
        return await self.q.list_flows(self.conn, **{**LIST_FILTERS_OFF, **filters})

    async def listed(self, **filters: Any) -> list[int]:
        """Ids ListFlows returns with ``filters``."""
        return [row.flow_id for row in await self.list_flows(**filters)]


async def _run_sqlserver(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> None:
    cur = await conn.cursor()
    try:
        await cur.execute(sql, *params)
    finally:
        await cur.close()


async def _migrate(dialect: str, execute: Callable[[str], Awaitable[Any]]) -> None:
    for migration in MIGRATIONS[dialect]:
        for statement in migration.statements:
            await execute(statement)


def backend_dsn(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(backend, DSN of a fresh database) for the parametrized backend.

    Call it from a sync fixture: resolving the async server fixtures from inside an async fixture
    would start an event loop within the running one.
    """
    backend: str = request.param
    fixture = _SERVER_FIXTURES.get(backend)
    return backend, str(request.getfixturevalue(fixture)) if fixture else ":memory:"


@asynccontextmanager
async def open_db(backend: str, dsn: str) -> AsyncIterator[Db]:
    """Connect to a fresh database of ``backend``, apply the migrations, yield a ``Db``."""
    parts = urlsplit(dsn)
    if backend.startswith("sqlite"):
        path = ":memory:" if backend == "sqlite-memory" else parts.path
        # The connection the engine uses: sqlite3 driven inline.
        lite = open_inline_sqlite(path, uri=False, memory=path == ":memory:")
        try:
            await _migrate("sqlite", lite.execute)
            yield Db(backend, "sqlite", lite, Recorder(sqlite))
        finally:
            await lite.close()
    elif backend == "sqlserver":
        # Autocommit, with dwarf's session settings (READ COMMITTED, lock timeout, XACT_ABORT).
        mssql = await connect_sqlserver(parse_dsn(dsn))
        try:
            await _migrate("sqlserver", lambda statement: _run_sqlserver(mssql, statement))
            yield Db(backend, "sqlserver", mssql, Recorder(sqlserver))
        finally:
            await mssql.close()
    elif backend == "postgresql":
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as pg:
            await postgresql.configure_connection(pg)
            await _migrate("postgresql", pg.execute)
            yield Db(backend, "postgresql", pg, Recorder(postgresql))
    else:
        maria = await asyncmy.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            db=parts.path.lstrip("/"),
            charset="utf8mb4",
            autocommit=True,
            client_flag=CLIENT.FOUND_ROWS,
        )
        try:
            async with maria.cursor() as cur:
                await cur.execute(f"SET time_zone = '{MYSQL_SESSION_ZONE}'")
                await _migrate("mysql", cur.execute)
            yield Db(backend, "mysql", maria, Recorder(mysql))
        finally:
            await maria.ensure_closed()


def near_now(moment: datetime) -> bool:
    """True when ``moment`` is within a few minutes of the test machine's clock."""
    return abs(moment - datetime.now(UTC)) < timedelta(minutes=5)


# ----------------------------------------------------------------------------------------------
# Basic behaviour


def test_result_check_rejects_what_a_driver_might_return_instead() -> None:
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    assert_conforms([GetStepScheduleRow(5, -3)], list[GetStepScheduleRow], "ok")
    assert_conforms(None, int | None, "ok")
    bad: list[tuple[Any, Any]] = [
        (True, int),
        (Decimal(1), int),
        (1, float),
        (b"{}", str),
        (None, str),
        (aware.replace(tzinfo=None), datetime),
        (aware.astimezone(timezone(timedelta(hours=2))), datetime),
        ((5, 3), GetStepScheduleRow),
        (GetStepScheduleRow(5, cast(int, 1.5)), GetStepScheduleRow),
    ]
    for value, hint in bad:
        with pytest.raises(AssertionError):
            assert_conforms(value, hint, "bad")


async def test_flows_read_back_by_exact_key_with_json_text_and_utc_timestamps(db: Db) -> None:
    flow_id = await db.flow(graph='{"entry": "a", "n": [1, 2]}')
    row = await db.q.get_flow(db.conn, flow_id=flow_id, flow_token=TOKEN)
    assert row is not None
    assert row.flow_id == flow_id
    # JSONB normalises key order and spacing: compare the parsed value
    assert json.loads(row.graph) == {"entry": "a", "n": [1, 2]}
    assert row.fairness_weight == 1.0
    assert near_now(row.created_at)
    assert row.created_at == row.started_at == row.updated_at
    assert await db.q.get_flow(db.conn, flow_id=flow_id, flow_token="0" * 16) is None
    # tokens compare exactly: no case folding, no trailing-space padding
    assert await db.q.get_flow(db.conn, flow_id=flow_id, flow_token=TOKEN.upper()) is None
    assert await db.q.get_flow(db.conn, flow_id=flow_id, flow_token=TOKEN[:-1]) is None
    assert await db.q.get_flow_by_id(db.conn, flow_id=flow_id + 1) is None


async def test_claim_wins_only_due_pending_steps_and_bumps_lease_seq(db: Db) -> None:
    flow_id = await db.flow()
    due = await db.step(flow_id)
    later = await db.step(flow_id, delay_ms=3_600_000)
    created = await db.step(flow_id, status="created")
    claimed = await db.q.claim_steps(
        db.conn, step_ids=[due, later, created], lease_owner="me", lease_margin_ms=1000
    )
    assert claimed == 1
    rows = await db.q.select_claimed_steps(db.conn, step_ids=[due, later], lease_owner="me")
    assert [(r.step_id, r.lease_seq, json.loads(r.state)) for r in rows] == [(due, 1, {"x": 1})]
    assert await db.q.select_claimed_steps(db.conn, step_ids=[due], lease_owner="other") == []
    # a second claim of a running step loses
    assert await db.claim(due, owner="other") == 0


async def test_empty_id_lists_match_nothing(db: Db) -> None:
    flow_id = await db.flow()
    step_id = await db.step(flow_id)
    assert await db.q.claim_steps(db.conn, step_ids=[], lease_owner="me", lease_margin_ms=0) == 0
    assert await db.q.select_claimed_steps(db.conn, step_ids=[], lease_owner="") == []
    assert await db.q.delete_flows(db.conn, flow_ids=[]) == 0
    assert await db.q.delete_steps_of_flows(db.conn, flow_ids=[]) == 0
    assert await db.q.delete_steps(db.conn, step_ids=[]) == 0
    progress = await db.q.flows_progress(db.conn, flow_ids=[])
    assert progress is not None
    assert (progress.step_count, progress.max_updated_at) == (0, "")
    assert await db.q.count_flows(db.conn) == 1
    assert (await db.get_step(step_id)).status == "pending"


async def test_band_scan_returns_the_lowest_priority_above_the_threshold(db: Db) -> None:
    flow_id = await db.flow()
    urgent = await db.step(flow_id, priority=1)
    second = await db.step(flow_id, priority=3, fairness_key="tenant", fairness_weight=2.5)
    third = await db.step(flow_id, priority=3)
    await db.step(flow_id, priority=2, delay_ms=3_600_000)  # not due: not a band
    await db.step(flow_id, priority=2, parked=2)  # parked: not a band
    band = await db.q.select_due_band(db.conn, above_priority=0, row_limit=10)
    assert [(r.step_id, r.priority) for r in band] == [(urgent, 1)]
    assert 0 <= band[0].age_ms < 300_000
    next_band = await db.q.select_due_band(db.conn, above_priority=1, row_limit=10)
    assert [(r.step_id, r.fairness_key, r.fairness_weight) for r in next_band] == [
        (second, "tenant", 2.5),
        (third, "", 1.0),
    ]
    assert [
        r.step_id for r in await db.q.select_due_band(db.conn, above_priority=1, row_limit=1)
    ] == [second]
    assert await db.q.select_due_band(db.conn, above_priority=3, row_limit=10) == []


async def test_list_flows_search_escapes_wildcards_case_insensitively(db: Db) -> None:
    wanted = await db.flow(workflow_name="Alpha_1")
    await db.flow(workflow_name="alphaX1")
    await db.flow(workflow_name="alpha%1")
    assert await db.listed(search="%alpha\\_1%") == [wanted]
    percent = await db.listed(search="%\\%%")
    assert len(percent) == 1
    assert (await db.get_flow(percent[0])).workflow_name == "alpha%1"
    backslash = await db.flow(workflow_name="dir\\sub")
    await db.flow(workflow_name="dirxsub")
    assert await db.listed(search="%r\\\\s%") == [backslash]  # an escaped backslash
    found = await db.list_flows(search="%ALPHA\\_1%")
    assert [f.flow_id for f in found] == [wanted]
    assert found[0].task_name == ""
