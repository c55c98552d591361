"""Bulk-load finished flows into a benchmark database, shaped like the rows the engine writes.

The scale-with-history benchmark needs a million finished flows in the tables; running them
through the engine would take longer than the benchmark. Instead the engine runs one linear flow
alone (the *template*), and ``load_history`` copies its flow row and its step rows ``count`` times
with ``INSERT ... SELECT`` over a generated series of numbers (``generate_series`` on PostgreSQL,
a recursive CTE on MariaDB and SQLite), one chunk of flows per transaction. Every column is the
template's except:

- ids: flow ``i`` gets flow id ``max + i`` and its steps the next contiguous step ids, with
  ``step_id``, ``root_flow_id``, ``thread_id``, ``predecessor_id``, ``successor_id`` and
  ``lineage_id`` mapped the same way, so the id indexes grow as the engine grows them;
- tokens: 16 hex characters derived from the copy's number (``thread_token`` = ``flow_token``);
- status: about 1 % failed (error and type on the flow and its last step) and 0.5 % cancelled,
  the rest completed, so ``idx_dwarf_flows_status`` holds several statuses;
- timestamps: shifted so the copies finished one a second up to the load, oldest first, keeping
  the template's gaps between a flow's and its steps' timestamps.

None of the copies is pending or running: a claim path that reads only live steps costs what it
costs on an empty database, and the benchmark shows whether it does.
Afterwards PostgreSQL's sequences are moved past the copies (MariaDB's AUTO_INCREMENT and
SQLite's AUTOINCREMENT follow explicit ids by themselves) and the server dialects' planner
statistics are refreshed, as autovacuum and InnoDB's automatic statistics would have by the time
a database holds a million flows. SQLite is left without ``ANALYZE``, as the engine leaves it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import asyncmy
import psycopg

__all__ = ["HISTORY_CHUNK", "LoadResult", "load_history"]

HISTORY_CHUNK = 10_000
"""Flows copied per transaction; MariaDB's series (two joined CTEs of 100) holds at most this."""

SPACING_S = 1.0
"""Seconds between two copies' timestamps: the history finished one flow a second."""

FAILED_EVERY = 100
CANCELLED_EVERY = 200
FAILED_ERROR = "RuntimeError: the downstream answered 500"
CANCELLED_REASON = "cancelled by the host"

FLOW_TIMESTAMPS = ("created_at", "started_at", "updated_at")
STEP_TIMESTAMPS = ("not_before", "lease_expires", "created_at", "started_at", "updated_at")


@dataclass(frozen=True)
class Template:
    """The flow copied: its id, its first step's id and its number of (contiguous) steps."""

    flow_id: int
    first_step: int
    steps: int
    age_s: float
    """Seconds between the template's ``created_at`` and the database's clock at load time."""


@dataclass(frozen=True)
class LoadResult:
    """What a load wrote and how long it took (seconds, loading and statistics)."""

    flows: int
    steps: int
    load_s: float
    analyze_s: float


class _Spelling(Protocol):
    """How a dialect writes the pieces of the copying statements."""

    def series(self, low: int, high: int) -> tuple[str, str]:
        """A ``WITH`` prefix (or ``''``) and a FROM item yielding ``s.i`` for ``low..high``."""
        ...

    def token(self, salt: str, number: str) -> str:
        """16 hex characters derived from the SQL integer ``number`` and ``salt``."""
        ...

    def shifted(self, column: str, seconds: str) -> str:
        """Timestamp ``column`` plus the SQL number ``seconds``."""
        ...


class _Postgresql:
    def series(self, low: int, high: int) -> tuple[str, str]:
        return "", f"generate_series({low}, {high}) AS s(i)"

    def token(self, salt: str, number: str) -> str:
        return f"substr(md5('{salt}' || ({number})::text), 1, 16)"

    def shifted(self, column: str, seconds: str) -> str:
        return f"t.{column} + ({seconds}) * interval '1 second'"


class _Mysql:
    def series(self, low: int, high: int) -> tuple[str, str]:
        # Two joined CTEs of 100 rows: MariaDB caps recursion (max_recursive_iterations) at
        # 1,000 by default, and MySQL 8 too (cte_max_recursion_depth).
        digits = "WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < 99) "
        number = f"{low} + a.i * 100 + b.i"
        return digits, f"(SELECT {number} AS i FROM d a CROSS JOIN d b WHERE {number} <= {high}) s"

    def token(self, salt: str, number: str) -> str:
        return f"SUBSTR(MD5(CONCAT('{salt}', {number})), 1, 16)"

    def shifted(self, column: str, seconds: str) -> str:
        return f"t.{column} + INTERVAL ROUND(({seconds}) * 1000000) MICROSECOND"


class _Sqlite:
    def series(self, low: int, high: int) -> tuple[str, str]:
        cte = (
            f"WITH RECURSIVE s(i) AS (SELECT {low} UNION ALL SELECT i + 1 FROM s WHERE i < {high}) "
        )
        return cte, "s"

    def token(self, salt: str, number: str) -> str:
        # SQLite has no hash function; two multiplicative hashes stay far below 2^63.
        seed = sum(salt.encode())
        return (
            f"printf('%08x%08x', (({number}) * 2654435761 + {seed}) % 4294967296, "
            f"(({number}) * 40503 + {seed} * 65537) % 4294967296)"
        )

    def shifted(self, column: str, seconds: str) -> str:
        return f"STRFTIME('%Y-%m-%d %H:%M:%f', t.{column}, printf('%+.3f seconds', {seconds}))"


_SPELLINGS: dict[str, _Spelling] = {
    "postgresql": _Postgresql(),
    "mysql": _Mysql(),
    "sqlite": _Sqlite(),
}

_TEMPLATE_AGE = {
    "postgresql": "EXTRACT(EPOCH FROM now() - created_at)",
    "mysql": "TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(6)) / 1000000",
    "sqlite": "(JULIANDAY('now') - JULIANDAY(created_at)) * 86400.0",
}


class _Connection(Protocol):
    """The few calls the loader makes, over each dialect's driver."""

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of one statement, in autocommit."""
        ...

    async def columns(self, table: str) -> list[str]:
        """The table's column names in order."""
        ...

    async def transaction(self, statements: Sequence[str]) -> None:
        """Run ``statements`` in one transaction."""
        ...


class _PostgresqlConnection:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        cur = await self._conn.execute(sql)
        return await cur.fetchall() if cur.description else []

    async def columns(self, table: str) -> list[str]:
        cur = await self._conn.execute(f"SELECT * FROM {table} LIMIT 0")
        return [column.name for column in cur.description or ()]

    async def transaction(self, statements: Sequence[str]) -> None:
        async with self._conn.transaction():
            for statement in statements:
                await self._conn.execute(statement)


class _MysqlConnection:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        async with self._conn.cursor() as cur:
            await cur.execute(sql)
            rows = await cur.fetchall()
        await self._conn.commit()
        return list(rows or [])

    async def columns(self, table: str) -> list[str]:
        async with self._conn.cursor() as cur:
            await cur.execute(f"SELECT * FROM {table} LIMIT 0")
            return [column[0] for column in cur.description]

    async def transaction(self, statements: Sequence[str]) -> None:
        await self._conn.begin()
        async with self._conn.cursor() as cur:
            for statement in statements:
                await cur.execute(statement)
        await self._conn.commit()


class _SqliteConnection:
    """Blocking on purpose: the engine's loop must not run while its database file is loaded."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql).fetchall()

    async def columns(self, table: str) -> list[str]:
        cur = self._conn.execute(f"SELECT * FROM {table} LIMIT 0")
        return [column[0] for column in cur.description]

    async def transaction(self, statements: Sequence[str]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                self._conn.execute(statement)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


async def load_history(dialect: str, dsn: str, count: int) -> LoadResult:
    """Copy the newest flow and its steps ``count`` times into the database at ``dsn``.

    The newest flow is the template: the caller runs one flow alone just before (its step ids
    must be contiguous) and keeps the engine idle during the load (the copies take the next ids).
    """
    started = time.perf_counter()
    if dialect == "postgresql":
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as pg:
            conn: _Connection = _PostgresqlConnection(pg)
            steps = await _copy(dialect, conn, count)
            await conn.fetch(
                "SELECT setval(pg_get_serial_sequence('dwarf_flows', 'flow_id'), "
                "(SELECT MAX(flow_id) FROM dwarf_flows))"
            )
            await conn.fetch(
                "SELECT setval(pg_get_serial_sequence('dwarf_steps', 'step_id'), "
                "(SELECT MAX(step_id) FROM dwarf_steps))"
            )
            loaded = time.perf_counter()
            await conn.fetch("VACUUM ANALYZE dwarf_flows, dwarf_steps")
    elif dialect == "mysql":
        parts = urlsplit(dsn)
        my = await asyncmy.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            database=parts.path.lstrip("/"),
        )
        try:
            conn = _MysqlConnection(my)
            steps = await _copy(dialect, conn, count)
            loaded = time.perf_counter()
            await conn.fetch("ANALYZE TABLE dwarf_flows, dwarf_steps")
        finally:
            my.close()
    elif dialect == "sqlite":
        lite = sqlite3.connect(dsn.removeprefix("sqlite:///"), isolation_level=None)
        try:
            lite.execute("PRAGMA busy_timeout = 10000")
            conn = _SqliteConnection(lite)
            steps = await _copy(dialect, conn, count)
            loaded = time.perf_counter()
        finally:
            lite.close()
    else:
        raise ValueError(f"unknown dialect {dialect!r}")
    return LoadResult(
        flows=count,
        steps=steps,
        load_s=loaded - started,
        analyze_s=time.perf_counter() - loaded,
    )


async def _copy(dialect: str, conn: _Connection, count: int) -> int:
    """Insert the copies chunk by chunk; return the number of step rows written."""
    newest = (await conn.fetch("SELECT MAX(flow_id) FROM dwarf_flows"))[0][0]
    if newest is None:
        raise ValueError("no flow to copy: run one before loading history")
    template = await _template(dialect, conn, int(newest))
    flow_base, step_base = (
        await conn.fetch(
            "SELECT (SELECT MAX(flow_id) FROM dwarf_flows), (SELECT MAX(step_id) FROM dwarf_steps)"
        )
    )[0]
    spelling = _SPELLINGS[dialect]
    flow_columns = await conn.columns("dwarf_flows")
    step_columns = await conn.columns("dwarf_steps")
    for low in range(1, count + 1, HISTORY_CHUNK):
        high = min(low + HISTORY_CHUNK - 1, count)
        age = f"{template.age_s!r} - ({count} - s.i + 1) * {SPACING_S!r}"
        flow_values = _flow_values(spelling, template, int(flow_base), int(step_base), age)
        step_values = _step_values(spelling, template, int(flow_base), int(step_base), age)
        await conn.transaction(
            [
                _insert(spelling, "dwarf_flows", flow_columns, flow_values, template, low, high),
                _insert(spelling, "dwarf_steps", step_columns, step_values, template, low, high),
            ]
        )
        # Let the engine's loop breathe between chunks (heartbeats on the server dialects).
        await asyncio.sleep(0)
    return count * template.steps


async def _template(dialect: str, conn: _Connection, flow_id: int) -> Template:
    """The template's shape; it must be a finished root flow with contiguous step ids."""
    rows = await conn.fetch(
        f"SELECT status, root_flow_id, thread_id, surgraph_flow_id, {_TEMPLATE_AGE[dialect]} "
        f"FROM dwarf_flows WHERE flow_id = {flow_id}"
    )
    if not rows:
        raise ValueError(f"template flow {flow_id} does not exist")
    status, root, thread, surgraph, age = rows[0]
    if status != "completed" or root != flow_id or thread != flow_id or surgraph != 0:
        raise ValueError(f"template flow {flow_id} is not a completed root flow")
    first, last, steps = (
        await conn.fetch(
            "SELECT MIN(step_id), MAX(step_id), COUNT(*) FROM dwarf_steps "
            f"WHERE flow_id = {flow_id}"
        )
    )[0]
    if last - first + 1 != steps:
        raise ValueError(f"template flow {flow_id}'s step ids are not contiguous: run it alone")
    return Template(flow_id=flow_id, first_step=first, steps=steps, age_s=float(age))


def _flow_values(
    spelling: _Spelling, template: Template, flow_base: int, step_base: int, age: str
) -> dict[str, str]:
    """The flow columns a copy does not take from the template, as SQL over ``t`` and ``s.i``."""
    flow_id = f"{flow_base} + s.i"
    token = spelling.token("f", "s.i")
    failed = f"s.i % {FAILED_EVERY} = 0"
    cancelled = f"s.i % {CANCELLED_EVERY} = 1"
    values = {
        "flow_id": flow_id,
        "flow_token": token,
        "thread_token": token,
        "root_flow_id": flow_id,
        "thread_id": flow_id,
        "step_id": _step_id(template, step_base, "t.step_id"),
        "status": f"CASE WHEN {failed} THEN 'failed' WHEN {cancelled} THEN 'cancelled' "
        "ELSE t.status END",
        "error": f"CASE WHEN {failed} THEN '{FAILED_ERROR}' ELSE t.error END",
        "error_type": f"CASE WHEN {failed} THEN 'RuntimeError' ELSE t.error_type END",
        "cancel_reason": f"CASE WHEN {cancelled} THEN '{CANCELLED_REASON}' "
        "ELSE t.cancel_reason END",
    }
    values.update({column: spelling.shifted(column, age) for column in FLOW_TIMESTAMPS})
    return values


def _step_values(
    spelling: _Spelling, template: Template, flow_base: int, step_base: int, age: str
) -> dict[str, str]:
    """The step columns a copy does not take from the template."""
    last = f"t.step_id = {template.first_step + template.steps - 1}"
    failed = f"{last} AND s.i % {FAILED_EVERY} = 0"
    cancelled = f"{last} AND s.i % {CANCELLED_EVERY} = 1"
    step_id = _step_id(template, step_base, "t.step_id")
    values = {
        "step_id": step_id,
        "flow_id": f"{flow_base} + s.i",
        "step_token": spelling.token("s", step_id),
        "predecessor_id": _step_id(template, step_base, "t.predecessor_id"),
        "successor_id": _step_id(template, step_base, "t.successor_id"),
        "lineage_id": _step_id(template, step_base, "t.lineage_id"),
        "status": f"CASE WHEN {failed} THEN 'failed' WHEN {cancelled} THEN 'cancelled' "
        "ELSE t.status END",
        "error": f"CASE WHEN {failed} THEN '{FAILED_ERROR}' ELSE t.error END",
        "error_type": f"CASE WHEN {failed} THEN 'RuntimeError' ELSE t.error_type END",
    }
    values.update({column: spelling.shifted(column, age) for column in STEP_TIMESTAMPS})
    return values


def _step_id(template: Template, step_base: int, column: str) -> str:
    """Copy ``s.i``'s id for the template step id in ``column`` (0, no step, stays 0)."""
    mapped = f"{column} - {template.first_step} + {step_base + 1} + (s.i - 1) * {template.steps}"
    return f"CASE WHEN {column} = 0 THEN 0 ELSE {mapped} END"


def _insert(
    spelling: _Spelling,
    table: str,
    columns: Sequence[str],
    values: dict[str, str],
    template: Template,
    low: int,
    high: int,
) -> str:
    """``INSERT INTO table SELECT`` the template's rows once per number in ``low..high``."""
    unknown = set(values) - set(columns)
    if unknown:
        raise ValueError(f"{table} has no column {', '.join(sorted(unknown))}")
    prefix, series = spelling.series(low, high)
    select = ", ".join(values.get(column, f"t.{column}") for column in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {prefix}SELECT {select} "
        f"FROM {table} t CROSS JOIN {series} WHERE t.flow_id = {template.flow_id}"
    )
