"""The code generator (``python -m codegen``) on small fixture projects written to tmp dirs.

A fixture project is a miniature of the real inputs: sqlc.yaml, one schema file and one query
file per dialect. The generated modules are imported under a private package name and called:
SQLite accessors against an in-memory database; MySQL, PostgreSQL and SQL Server accessors
against recording fakes that apply the driver's own placeholder rules, so placeholder mapping,
slice expansion and ``%`` escaping are checked by what the database would receive.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import codegen._domain
import codegen._types
from codegen import FILES, OUTPUT_DIR, GenerationError, generate, write
from codegen.__main__ import main
from codegen._sqltext import SqlTextError
from codegen._statements import split_statements, without_delimiter_blocks
from dwarf._storage._sql import in_list, utc_from_naive, utc_from_text
from dwarf._storage._sqlite_inline import open_inline_sqlite
from tests.fixtures.codegen import (
    FakeMySQL,
    FakeSqlServer,
    load_generated,
    write_project,
)

REPO = Path(__file__).resolve().parents[2]

SCHEMA = {
    "postgresql": """\
-- flows; a ';' in a comment does not split;
CREATE TABLE IF NOT EXISTS t_flows (
    flow_id BIGSERIAL PRIMARY KEY,
    flow_token VARCHAR(16) NOT NULL,
    graph JSONB NOT NULL DEFAULT '{}',
    status VARCHAR(16) NOT NULL DEFAULT 'a;b',
    error TEXT,
    priority INTEGER NOT NULL DEFAULT 5,
    weight DOUBLE PRECISION NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS t_steps (
    step_id BIGSERIAL PRIMARY KEY,
    flow_id BIGINT NOT NULL,
    task_name VARCHAR(512) NOT NULL
);
""",
    "mysql": """\
CREATE TABLE IF NOT EXISTS t_flows (
    flow_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    flow_token VARCHAR(16) NOT NULL,
    graph JSON NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'a;b',
    error TEXT,
    priority INT NOT NULL DEFAULT 5,
    weight DOUBLE NOT NULL DEFAULT 1,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    started_at DATETIME(3)
);
CREATE TABLE IF NOT EXISTS t_steps (
    step_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    flow_id BIGINT NOT NULL,
    task_name VARCHAR(512) NOT NULL
);
""",
    "sqlite": """\
CREATE TABLE IF NOT EXISTS t_flows (
    flow_id INTEGER PRIMARY KEY AUTOINCREMENT,
    flow_token TEXT NOT NULL,
    graph TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'a;b',
    error TEXT,
    priority INTEGER NOT NULL DEFAULT 5,
    weight REAL NOT NULL DEFAULT 1,
    created_at DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'now')),
    started_at DATETIME
);
CREATE TABLE IF NOT EXISTS t_steps (
    step_id INTEGER PRIMARY KEY AUTOINCREMENT,
    flow_id INTEGER NOT NULL,
    task_name TEXT NOT NULL
);
""",
    "sqlserver": """\
CREATE TABLE t_flows (
    flow_id BIGINT IDENTITY(1,1) PRIMARY KEY,
    flow_token NVARCHAR(16) NOT NULL,
    graph NVARCHAR(MAX) NOT NULL DEFAULT '{}',
    status NVARCHAR(16) NOT NULL DEFAULT 'a;b',
    error NVARCHAR(MAX),
    priority INT NOT NULL DEFAULT 5,
    weight FLOAT NOT NULL DEFAULT 1,
    created_at DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME(),
    started_at DATETIME2(3)
);
CREATE TABLE t_steps (
    step_id BIGINT IDENTITY(1,1) PRIMARY KEY,
    flow_id BIGINT NOT NULL,
    task_name NVARCHAR(512) NOT NULL
);
""",
}

QUERIES = {
    "postgresql": """\
-- name: InsertFlow :one
-- Insert a flow.
INSERT INTO t_flows (flow_token, graph, status, priority)
VALUES (sqlc.arg(flow_token), sqlc.arg(graph), 'created', sqlc.arg(priority))
RETURNING flow_id;

-- name: GetFlow :one
SELECT * FROM t_flows WHERE flow_id = sqlc.arg(flow_id) AND flow_token = sqlc.arg(flow_token);

-- name: GetFlowByID :one
SELECT * FROM t_flows WHERE flow_id = sqlc.arg(flow_id);

-- name: ClaimFlows :execrows
UPDATE t_flows SET status = 'running', error = sqlc.arg(owner)::text,
    started_at = now() + make_interval(secs => sqlc.arg(margin_ms)::bigint / 1000.0)
WHERE flow_id = ANY(sqlc.arg(flow_ids)::bigint[]) AND flow_token NOT LIKE '%x'
  AND (sqlc.arg(owner)::text = '' OR flow_token <> sqlc.arg(owner)::text);

-- name: SetError :execrows
UPDATE t_flows SET error = sqlc.narg(error) WHERE flow_id = sqlc.arg(flow_id);

-- name: Stats :one
SELECT COUNT(*) AS n, MAX(created_at)::timestamptz AS newest,
       (EXTRACT(EPOCH FROM now() - MIN(created_at)) * 1000)::float8 AS age_ms
FROM t_flows;

-- name: CountFlows :one
SELECT COUNT(*) AS flow_count FROM t_flows WHERE flow_token NOT LIKE '%z';

-- name: ListFlows :many
SELECT f.flow_id, s.task_name, f.weight FROM t_flows f
LEFT JOIN t_steps s ON s.flow_id = f.flow_id
ORDER BY f.flow_id LIMIT sqlc.arg(row_limit);
""",
    "mysql": """\
-- name: InsertFlow :execlastid
INSERT INTO t_flows (flow_token, graph, status, priority)
VALUES (sqlc.arg(flow_token), sqlc.arg(graph), 'created', sqlc.arg(priority));

-- name: GetFlow :one
SELECT * FROM t_flows WHERE flow_id = sqlc.arg(flow_id) AND flow_token = sqlc.arg(flow_token);

-- name: GetFlowByID :one
SELECT * FROM t_flows WHERE flow_id = sqlc.arg(flow_id);

-- name: ClaimFlows :execrows
UPDATE t_flows SET status = 'running', error = sqlc.arg(owner),
    started_at = DATE_ADD(UTC_TIMESTAMP(), INTERVAL sqlc.arg(margin_ms) * 1000 MICROSECOND)
WHERE flow_id IN (sqlc.slice(flow_ids)) AND flow_token NOT LIKE '%x'
  AND (sqlc.arg(owner) = '' OR flow_token <> sqlc.arg(owner));

-- name: SetError :execrows
UPDATE t_flows SET error = sqlc.narg(error) WHERE flow_id = sqlc.arg(flow_id);

-- name: Stats :one
SELECT COUNT(*) AS n, MAX(created_at) AS newest,
       TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP()) / 1000.0 AS age_ms
FROM t_flows;

-- name: CountFlows :one
SELECT COUNT(*) AS flow_count FROM t_flows WHERE flow_token NOT LIKE '%z';

-- name: ListFlows :many
SELECT f.flow_id, s.task_name, f.weight FROM t_flows f
LEFT JOIN t_steps s ON s.flow_id = f.flow_id
ORDER BY f.flow_id LIMIT ?;
""",
    "sqlite": """\
-- name: InsertFlow :one
INSERT INTO t_flows (flow_token, graph, status, priority)
VALUES (sqlc.arg(flow_token), sqlc.arg(graph), 'created', sqlc.arg(priority))
RETURNING flow_id;

-- name: GetFlow :one
SELECT * FROM t_flows WHERE flow_id = sqlc.arg(flow_id) AND flow_token = sqlc.arg(flow_token);

-- name: GetFlowByID :one
SELECT * FROM t_flows WHERE flow_id = sqlc.arg(flow_id);

-- name: ClaimFlows :execrows
UPDATE t_flows SET status = 'running', error = sqlc.arg(owner),
    started_at = STRFTIME('%Y-%m-%d %H:%M:%f', 'now',
                          '+' || (sqlc.arg(margin_ms) / 1000.0) || ' seconds')
WHERE flow_id IN (sqlc.slice(flow_ids)) AND flow_token NOT LIKE '%x'
  AND (sqlc.arg(owner) = '' OR flow_token <> sqlc.arg(owner));

-- name: SetError :execrows
UPDATE t_flows SET error = sqlc.narg(error) WHERE flow_id = sqlc.arg(flow_id);

-- name: Stats :one
SELECT COUNT(*) AS n, MAX(created_at) AS newest,
       (JULIANDAY('now') - JULIANDAY(MIN(created_at))) * 86400000.0 AS age_ms
FROM t_flows;

-- name: CountFlows :one
SELECT COUNT(*) AS flow_count FROM t_flows WHERE flow_token NOT LIKE '%z';

-- name: ListFlows :many
SELECT f.flow_id, s.task_name, f.weight FROM t_flows f
LEFT JOIN t_steps s ON s.flow_id = f.flow_id
ORDER BY f.flow_id LIMIT sqlc.arg(row_limit);
""",
    "sqlserver": """\
-- name: InsertFlow :one
INSERT INTO t_flows (flow_token, graph, status, priority) OUTPUT INSERTED.flow_id
VALUES (@flow_token, @graph, 'created', @priority);

-- name: GetFlow :one
SELECT flow_id, flow_token, graph, status, error, priority, weight, created_at, started_at
FROM t_flows WHERE flow_id = @flow_id AND flow_token = @flow_token;

-- name: GetFlowByID :one
SELECT flow_id, flow_token, graph, status, error, priority, weight, created_at, started_at
FROM t_flows WHERE flow_id = @flow_id;

-- name: ClaimFlows :execrows
UPDATE t_flows SET status = 'running', error = @owner,
    started_at = DATEADD(MILLISECOND, @margin_ms, SYSUTCDATETIME())
WHERE flow_id IN (/*SLICE:flow_ids*/@flow_ids) AND flow_token NOT LIKE '%x'
  AND (@owner = '' OR flow_token <> @owner);

-- name: SetError :execrows
UPDATE t_flows SET error = @error WHERE flow_id = @flow_id;

-- name: Stats :one
SELECT COUNT_BIG(*) AS n, MAX(created_at) AS newest,
       CAST(DATEDIFF_BIG(MILLISECOND, MIN(created_at), SYSUTCDATETIME()) AS FLOAT) AS age_ms
FROM t_flows;

-- name: CountFlows :one
SELECT COUNT_BIG(*) AS flow_count FROM t_flows WHERE flow_token NOT LIKE '%z';

-- name: ListFlows :many
SELECT f.flow_id, s.task_name, f.weight FROM t_flows f
LEFT JOIN t_steps s ON s.flow_id = f.flow_id
ORDER BY f.flow_id OFFSET 0 ROWS FETCH NEXT @row_limit ROWS ONLY;
""",
}


def make_project(
    root: Path,
    queries: Mapping[str, str] = QUERIES,
    schema: Mapping[str, str] = SCHEMA,
) -> Path:
    """Write a fixture project (sqlc.yaml + sql/) under ``root``, by default this module's."""
    return write_project(root, queries, schema)


def with_query(dialect: str, old: str, new: str) -> dict[str, str]:
    """QUERIES with one text replacement in one dialect."""
    assert old in QUERIES[dialect]
    return {**QUERIES, dialect: QUERIES[dialect].replace(old, new)}


@pytest.fixture(scope="module", autouse=True)
def _no_row_names() -> Iterator[None]:
    """The fixture projects lack the real queries ROW_NAMES names: their rows keep query names."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen._domain, "ROW_NAMES", {})
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated fixture project shared by the read-only tests."""
    root = make_project(tmp_path_factory.mktemp("project"))
    write(root, generate(root))
    return root


@pytest.fixture(scope="module")
def files(project: Path) -> dict[str, str]:
    """The generated sources of the shared fixture project."""
    return {name: (project / OUTPUT_DIR / name).read_text() for name in FILES}


@pytest.fixture(scope="module")
def gen(files: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The generated modules of the shared fixture project, imported."""
    modules = load_generated(files, tmp_path_factory.mktemp("modules"))
    yield modules
    for name in [n for n in sys.modules if n.startswith("_codegen_fixture_")]:
        del sys.modules[name]


@pytest.fixture
async def sqlite_conn(gen: Any) -> Any:
    """An in-memory SQLite database with the fixture schema applied from MIGRATIONS."""
    conn = open_inline_sqlite(":memory:", uri=False, memory=True)
    try:
        for migration in gen["migrations"].MIGRATIONS["sqlite"]:
            for statement in migration.statements:
                await conn.execute(statement)
        yield conn
    finally:
        await conn.close()


# ----------------------------------------------------------------------------------------------
# Recording fakes that apply each driver's placeholder rules.


# ----------------------------------------------------------------------------------------------
# Placeholders, repeated params, slices, escaping


async def test_sqlite_repeated_params_and_slices_bind_by_occurrence(
    gen: Any, sqlite_conn: Any
) -> None:
    sqlite = gen["sqlite"]
    ids = [
        await sqlite.insert_flow(sqlite_conn, flow_token=t, graph="{}", priority=1) for t in "abc"
    ]
    claimed = await sqlite.claim_flows(sqlite_conn, owner="b", margin_ms=500, flow_ids=ids[:2])
    # owner "b" appears three times: as the error text, and twice in the token filter.
    assert claimed == 1
    first = await sqlite.get_flow_by_id(sqlite_conn, flow_id=ids[0])
    assert (first.status, first.error) == ("running", "b")
    assert (await sqlite.get_flow_by_id(sqlite_conn, flow_id=ids[2])).status == "created"


async def test_sqlite_empty_slice_matches_nothing(gen: Any, sqlite_conn: Any) -> None:
    sqlite = gen["sqlite"]
    await sqlite.insert_flow(sqlite_conn, flow_token="a", graph="{}", priority=1)
    assert await sqlite.claim_flows(sqlite_conn, owner="", margin_ms=0, flow_ids=[]) == 0


async def test_mysql_repeats_params_in_text_order_and_keeps_literal_percent(gen: Any) -> None:
    conn = FakeMySQL()
    count = await gen["mysql"].claim_flows(conn, owner="o", margin_ms=7, flow_ids=[4, 5])
    assert count == 3
    (sent,) = conn.log
    assert "error = 'o'" in sent
    assert "INTERVAL 7 * 1000 MICROSECOND" in sent
    assert "flow_id IN (4, 5)" in sent
    assert "NOT LIKE '%x'" in sent
    assert "('o' = '' OR flow_token <> 'o')" in sent


async def test_mysql_empty_slice_becomes_in_null(gen: Any) -> None:
    conn = FakeMySQL()
    await gen["mysql"].claim_flows(conn, owner="o", margin_ms=7, flow_ids=[])
    assert "flow_id IN (NULL)" in conn.log[0]


async def test_mysql_bare_limit_takes_the_reference_param_name(gen: Any) -> None:
    conn = FakeMySQL(rows=[(1, None, 2.0)])
    rows = await gen["mysql"].list_flows(conn, row_limit=9)
    assert conn.log[0].endswith("LIMIT 9")
    assert rows == [gen["rows"].ListFlowsRow(flow_id=1, task_name=None, weight=2.0)]


async def test_mysql_insert_id_comes_from_lastrowid(gen: Any) -> None:
    assert await gen["mysql"].insert_flow(FakeMySQL(), flow_token="t", graph="{}", priority=1) == 41


def test_postgresql_uses_named_placeholders_and_doubles_percent(gen: Any) -> None:
    sql = gen["postgresql"]._CLAIM_FLOWS
    assert "$" not in sql
    assert "?" not in sql
    bound = sql % {"owner": "'o'", "margin_ms": "7", "flow_ids": "'{1}'"}
    assert "error = 'o'::text" in bound
    assert "NOT LIKE '%x'" in bound
    assert "ANY('{1}'::bigint[])" in bound


async def test_statement_without_params_keeps_single_percent(gen: Any) -> None:
    # No params means the driver does no %-formatting, so a literal % must not be doubled.
    assert "NOT LIKE '%z'" in gen["postgresql"]._COUNT_FLOWS
    conn = FakeMySQL(rows=[(2,)])
    assert await gen["mysql"].count_flows(conn) == 2
    assert conn.log == ["SELECT COUNT(*) AS flow_count FROM t_flows WHERE flow_token NOT LIKE '%z'"]


async def test_sqlserver_expands_slices_and_passes_params_positionally(gen: Any) -> None:
    conn = FakeSqlServer()
    count = await gen["sqlserver"].claim_flows(conn, owner="o", margin_ms=7, flow_ids=[1, 2, 3])
    assert count == 2
    ((sql, params),) = conn.log
    assert "IN (?, ?, ?)" in sql
    assert params == ("o", 7, 1, 2, 3, "o", "o")
    await gen["sqlserver"].claim_flows(conn, owner="o", margin_ms=7, flow_ids=[])
    assert "IN (NULL)" in conn.log[1][0]


async def test_sqlserver_naive_datetimes_come_back_aware_utc(gen: Any) -> None:
    naive = datetime(2024, 5, 6, 7, 8, 9, 123000)
    conn = FakeSqlServer(rows=[(3, naive, 12)])
    stats = await gen["sqlserver"].stats(conn)
    assert stats.newest == naive.replace(tzinfo=UTC)
    assert stats.age_ms == 12.0
    assert isinstance(stats.age_ms, float)


# ----------------------------------------------------------------------------------------------
# Types and nullability


def field_types(row: type) -> dict[str, str]:
    """A generated row's field annotations as written (a NamedTuple keeps them as ForwardRefs)."""
    return {name: str(hint.__forward_arg__) for name, hint in row.__annotations__.items()}


def test_rows_are_typed_from_the_reference(gen: Any) -> None:
    rows = gen["rows"]
    assert field_types(rows.GetFlowRow) == {
        "flow_id": "int",
        "flow_token": "str",
        "graph": "str",
        "status": "Status",
        "error": "str | None",
        "priority": "int",
        "weight": "float",
        "created_at": "datetime",
        "started_at": "datetime | None",
    }
    # aggregates are nullable on an empty table even where sqlc says NOT NULL
    assert field_types(rows.StatsRow) == {
        "n": "int",
        "newest": "datetime | None",
        "age_ms": "float | None",
    }
    # a LEFT JOINed column is nullable
    assert field_types(rows.ListFlowsRow)["task_name"] == "str | None"


def test_one_class_per_shape_named_after_the_shortest_query(gen: Any) -> None:
    assert gen["sqlite"].get_flow.__annotations__["return"] == "GetFlowRow | None"
    assert gen["sqlite"].get_flow_by_id.__annotations__["return"] == "GetFlowRow | None"
    assert not hasattr(gen["rows"], "GetFlowByIDRow")


def test_return_kinds(gen: Any) -> None:
    for dialect in ("postgresql", "mysql", "sqlite", "sqlserver"):
        module = gen[dialect]
        assert module.insert_flow.__annotations__["return"] == "int"
        assert module.claim_flows.__annotations__["return"] == "int"
        assert module.count_flows.__annotations__["return"] == "int | None"
        assert module.list_flows.__annotations__["return"] == "list[ListFlowsRow]"


def test_narg_param_is_optional_and_lists_are_sequences(gen: Any) -> None:
    for dialect in ("postgresql", "mysql", "sqlite", "sqlserver"):
        module = gen[dialect]
        assert module.set_error.__annotations__["error"] == "str | None"
        assert module.claim_flows.__annotations__["flow_ids"] == "Sequence[int]"


def test_protocol_declares_each_query_like_the_dialect_modules(gen: Any) -> None:
    queries = gen["queries"].Queries
    declared = {n for n, v in vars(queries).items() if inspect.iscoroutinefunction(v)}
    assert {"insert_flow", "claim_flows", "list_flows", "set_error"} <= declared
    for dialect in ("postgresql", "mysql", "sqlite", "sqlserver"):
        module = gen[dialect]
        accessors = {
            n
            for n, v in vars(module).items()
            if inspect.iscoroutinefunction(v)
            and v.__module__ == module.__name__
            and n != "configure_connection"
        }
        assert accessors == declared, dialect
        for name in declared:
            mine = dict(getattr(module, name).__annotations__)
            theirs = dict(getattr(queries, name).__annotations__)
            assert theirs.pop("conn") == "Any", name
            mine.pop("conn")
            assert mine == theirs, f"{dialect}.{name}"
    set_error = inspect.signature(queries.set_error)
    assert list(set_error.parameters)[:2] == ["self", "conn"]
    assert set_error.parameters["error"].kind is inspect.Parameter.KEYWORD_ONLY


def test_tx_declares_each_query_like_the_protocol_without_the_connection(gen: Any) -> None:
    queries = gen["queries"].Queries
    tx = gen["tx"].Tx
    declared = {n for n, v in vars(queries).items() if inspect.iscoroutinefunction(v)}
    bound = {
        n for n, v in vars(tx).items() if inspect.iscoroutinefunction(v) and not n.startswith("_")
    }
    assert bound == declared
    for name in declared:
        theirs = dict(getattr(queries, name).__annotations__)
        theirs.pop("conn")
        assert getattr(tx, name).__annotations__ == theirs, name
        assert getattr(tx, name).__doc__ == getattr(queries, name).__doc__, name
    claim = inspect.signature(tx.claim_flows)
    assert list(claim.parameters) == ["self", "owner", "margin_ms", "flow_ids"]
    kinds = {p.kind for n, p in claim.parameters.items() if n != "self"}
    assert kinds == {inspect.Parameter.KEYWORD_ONLY}
    assert gen["tx"].__all__ == ["Tx"]
    assert "Any" not in inspect.getsource(tx)


async def test_tx_forwards_every_param_with_its_bound_connection(gen: Any) -> None:
    fake = FakeSqlServer(rows=[(7,)])
    tx = gen["tx"].Tx(gen["sqlserver"], fake)
    assert await tx.claim_flows(flow_ids=[1, 2], margin_ms=500, owner="w") == 2
    assert await tx.count_flows() == 7
    assert [params for _, params in fake.log] == [("w", 500, 1, 2, "w", "w"), ()]
    with pytest.raises(AttributeError):
        tx.extra = 1  # __slots__: a Tx holds its module and connection, nothing else


async def test_tx_over_sqlite_reads_what_it_wrote(gen: Any, sqlite_conn: Any) -> None:
    tx = gen["tx"].Tx(gen["sqlite"], sqlite_conn)
    flow_id = await tx.insert_flow(flow_token="tok", graph="{}", priority=3)
    row = await tx.get_flow(flow_id=flow_id, flow_token="tok")
    assert (row.flow_id, row.priority) == (flow_id, 3)
    assert await tx.set_error(flow_id=flow_id, error="boom") == 1
    assert (await tx.get_flow_by_id(flow_id=flow_id)).error == "boom"


async def test_sqlite_timestamps_and_json_come_back_typed(gen: Any, sqlite_conn: Any) -> None:
    sqlite = gen["sqlite"]
    flow_id = await sqlite.insert_flow(sqlite_conn, flow_token="tok", graph='{"a": 1}', priority=2)
    row = await sqlite.get_flow(sqlite_conn, flow_id=flow_id, flow_token="tok")
    assert row.graph == '{"a": 1}'
    assert row.created_at.tzinfo is UTC
    assert row.started_at is None
    assert await sqlite.get_flow(sqlite_conn, flow_id=flow_id, flow_token="nope") is None
    assert await sqlite.set_error(sqlite_conn, flow_id=flow_id, error=None) == 1
    stats = await sqlite.stats(sqlite_conn)
    assert stats.n == 1
    assert isinstance(stats.age_ms, float)
    assert stats.newest == row.created_at


async def test_sqlite_aggregates_on_an_empty_table_are_none(gen: Any, sqlite_conn: Any) -> None:
    stats = await gen["sqlite"].stats(sqlite_conn)
    assert (stats.n, stats.newest, stats.age_ms) == (0, None, None)
    assert await gen["sqlite"].count_flows(sqlite_conn) == 0


# ----------------------------------------------------------------------------------------------
# Parity and input errors


def _generation_error(tmp_path: Path, **kwargs: Any) -> str:
    root = make_project(tmp_path / "p", **kwargs)
    with pytest.raises(GenerationError) as info:
        generate(root)
    return str(info.value)


def test_param_name_mismatch_is_a_parity_error(tmp_path: Path) -> None:
    queries = with_query("sqlite", "flow_id = sqlc.arg(flow_id);", "flow_id = sqlc.arg(id);")
    message = _generation_error(tmp_path, queries=queries)
    assert "sqlite: GetFlowByID: params differ from postgresql" in message
    assert "extra id" in message
    assert "missing flow_id" in message


def test_missing_query_is_a_parity_error(tmp_path: Path) -> None:
    queries = with_query("sqlserver", "-- name: CountFlows :one", "-- name: CountFlowz :one")
    message = _generation_error(tmp_path, queries=queries)
    assert "sqlserver: missing queries CountFlows" in message


FAST_PATH = """
-- name: BumpFlow :one
-- Fast path for a read-modify-write: one statement.
UPDATE t_flows SET priority = priority + 1 WHERE flow_id = sqlc.arg(flow_id)::bigint
RETURNING priority;
"""


def test_a_fast_path_may_exist_in_the_reference_only(tmp_path: Path) -> None:
    queries = {**QUERIES, "postgresql": QUERIES["postgresql"] + FAST_PATH}
    root = make_project(tmp_path / "p", queries=queries)
    modules = load_generated(generate(root), tmp_path)
    fast = modules["queries"].PostgresqlFastPaths
    assert inspect.iscoroutinefunction(vars(fast)["bump_flow"])
    assert "bump_flow" not in vars(modules["queries"].Queries)
    assert not hasattr(modules["tx"].Tx, "bump_flow")
    assert inspect.iscoroutinefunction(modules["postgresql"].bump_flow)
    assert not hasattr(modules["mysql"], "bump_flow")


MYSQL_FAST_PATH = """
-- name: DoubledPriority :one
-- Fast path for a MySQL-only read; its computed column is typed by its CAST.
SELECT flow_id, CAST(priority * 2 AS SIGNED) AS doubled FROM t_flows
WHERE flow_id = sqlc.arg(flow_id);
"""


def test_a_fast_path_without_postgresql_takes_its_own_dialect_as_reference(
    tmp_path: Path,
) -> None:
    queries = {**QUERIES, "mysql": QUERIES["mysql"] + MYSQL_FAST_PATH}
    root = make_project(tmp_path / "p", queries=queries)
    modules = load_generated(generate(root), tmp_path)
    protocols = modules["queries"]
    assert inspect.iscoroutinefunction(vars(protocols.MysqlFastPaths)["doubled_priority"])
    assert not hasattr(protocols, "PostgresqlFastPaths")
    assert "doubled_priority" not in vars(protocols.Queries)
    assert not hasattr(modules["postgresql"], "doubled_priority")
    hints = field_types(modules["rows"].DoubledPriorityRow)
    assert hints == {"flow_id": "int", "doubled": "int"}


def test_an_unmarked_reference_only_query_is_still_a_parity_error(tmp_path: Path) -> None:
    unmarked = FAST_PATH.replace("-- Fast path for", "-- A shortcut for")
    queries = {**QUERIES, "postgresql": QUERIES["postgresql"] + unmarked}
    message = _generation_error(tmp_path, queries=queries)
    assert "mysql: missing queries BumpFlow" in message


def test_column_type_mismatch_is_a_parity_error(tmp_path: Path) -> None:
    schema = {**SCHEMA, "mysql": SCHEMA["mysql"].replace("weight DOUBLE", "weight BIGINT")}
    message = _generation_error(tmp_path, schema=schema)
    assert "mysql: GetFlow: column weight is int, float in postgresql" in message


def test_result_column_names_must_match_in_sqlserver(tmp_path: Path) -> None:
    queries = with_query("sqlserver", "COUNT_BIG(*) AS flow_count", "COUNT_BIG(*) AS flows")
    message = _generation_error(tmp_path, queries=queries)
    assert "sqlserver: CountFlows: result columns ['flows'] differ" in message


def test_uncast_computed_column_in_reference_is_rejected(tmp_path: Path) -> None:
    queries = with_query(
        "postgresql", "MAX(created_at)::timestamptz AS newest", "MAX(created_at) AS newest"
    )
    message = _generation_error(tmp_path, queries=queries)
    assert "postgresql: Stats: cannot infer the type of computed column newest" in message


def test_override_table_types_a_computed_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        codegen._types, "COLUMN_OVERRIDES", {("Stats", "newest"): "datetime | None"}
    )
    queries = with_query(
        "postgresql", "MAX(created_at)::timestamptz AS newest", "MAX(created_at) AS newest"
    )
    root = make_project(tmp_path / "p", queries=queries)
    rows = generate(root)["rows.py"]
    assert "    newest: datetime | None\n" in rows


def test_override_naming_no_column_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codegen._types, "COLUMN_OVERRIDES", {("Stats", "nope"): "int"})
    message = _generation_error(tmp_path)
    assert "override ('Stats', 'nope') names no result column" in message


def test_timestamp_params_are_rejected(tmp_path: Path) -> None:
    queries = with_query(
        "postgresql", "WHERE flow_id = sqlc.arg(flow_id);", "WHERE created_at < sqlc.arg(flow_id);"
    )
    message = _generation_error(tmp_path, queries=queries)
    assert "GetFlowByID: param flow_id binds a timestamp" in message


def test_migration_versions_must_match_across_dialects(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    (root / "sql/schema/sqlite/0002_more.sql").write_text("CREATE TABLE x (a INTEGER);\n")
    with pytest.raises(GenerationError, match=r"sql/schema/\w+: migrations .* differ"):
        generate(root)


# ----------------------------------------------------------------------------------------------
# Migrations


def test_schema_files_split_on_semicolons_that_end_a_line() -> None:
    text = (
        "-- a; b;\nCREATE TABLE a (x TEXT DEFAULT 'p;\n q;');\n\n"
        "/* c;\n */ CREATE INDEX i ON a (x) ;\n"
    )
    assert split_statements(text, "postgresql") == [
        "-- a; b;\nCREATE TABLE a (x TEXT DEFAULT 'p;\n q;')",
        "/* c;\n */ CREATE INDEX i ON a (x)",
    ]
    assert split_statements("SELECT 1; SELECT 2;\n-- only a comment;\n", "sqlite") == [
        "SELECT 1; SELECT 2"
    ]


def test_mysql_schema_files_split_on_the_delimiter_their_delimiter_lines_set() -> None:
    text = (
        "DROP PROCEDURE IF EXISTS p;\n"
        "DELIMITER $$\n"
        "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1; -- not here: $$\n  SELECT '$$\n';\nEND $$\n"
        "CREATE PROCEDURE q() SELECT 2 $$\n"
        "DELIMITER ;\n"
        "SELECT 3;\n"
    )
    assert split_statements(text, "mysql") == [
        "DROP PROCEDURE IF EXISTS p",
        "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1; -- not here: $$\n  SELECT '$$\n';\nEND",
        "CREATE PROCEDURE q() SELECT 2",
        "SELECT 3",
    ]
    # sqlc gets the file without its procedures, every line kept for its error messages.
    stripped = without_delimiter_blocks(text)
    assert stripped.splitlines()[0] == "DROP PROCEDURE IF EXISTS p;"
    assert stripped.splitlines()[-1] == "SELECT 3;"
    assert "PROCEDURE p()" not in stripped
    assert stripped.count("\n") == text.count("\n")
    # A literal cannot span a DELIMITER line: the one left open is an error.
    with pytest.raises(SqlTextError):
        split_statements("DELIMITER $$\nSELECT 'a $$\nDELIMITER ;\n", "mysql")


def test_migrations_embed_statements_and_file_checksums(project: Path, gen: Any) -> None:
    migrations = gen["migrations"].MIGRATIONS
    assert sorted(migrations) == ["mysql", "postgresql", "sqlite", "sqlserver"]
    (first,) = migrations["postgresql"]
    assert (first.version, first.name) == (1, "tables")
    source = (project / "sql/schema/postgresql/0001_tables.sql").read_bytes()
    assert first.checksum == hashlib.sha256(source).hexdigest()
    assert len(first.statements) == 2
    assert first.statements[0].startswith("-- flows; a ';' in a comment")
    assert "DEFAULT 'a;b'" in first.statements[0]


# ----------------------------------------------------------------------------------------------
# Reproducibility and --check


def test_output_is_byte_identical_across_runs(project: Path, files: dict[str, str]) -> None:
    again = generate(project)
    assert again == files
    assert write(project, again) == []
    for text in files.values():
        assert text.startswith("# Code generated by codegen from sql/")
        assert "DO NOT EDIT." in text.splitlines()[0]
        assert "# sqlc v" in text.splitlines()[1]
        assert str(project) not in text


def test_check_passes_when_clean_and_reports_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path / "p")
    assert main(["--root", str(root)]) == 0
    assert main(["--root", str(root), "--check"]) == 0
    target = root / OUTPUT_DIR / "sqlite.py"
    target.write_text(target.read_text().replace("LIMIT ?", "LIMIT 5"))
    capsys.readouterr()
    assert main(["--root", str(root), "--check"]) == 1
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert any(ln.startswith("-") and "LIMIT 5" in ln for ln in lines)
    assert any(ln.startswith("+") and "LIMIT ?" in ln for ln in lines)
    assert "+++ b/src/dwarf/_storage/_gen/sqlite.py" in out.out
    assert "out of date" in out.err


def test_check_detects_changed_inputs(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p")
    assert main(["--root", str(root)]) == 0
    query = root / "sql/queries/sqlite/queries.sql"
    query.write_text(query.read_text().replace("ORDER BY f.flow_id", "ORDER BY f.flow_id DESC"))
    assert main(["--root", str(root), "--check"]) == 1


def test_generation_errors_exit_1_with_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path / "p", queries=with_query("mysql", "LIMIT ?", "LIMIT ?,"))
    assert main(["--root", str(root)]) == 1
    assert "sqlc generate failed" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Runtime helpers (dwarf._storage._sql)


def test_in_list_expands_or_matches_nothing() -> None:
    assert in_list("?", 3) == "?, ?, ?"
    assert in_list("%s", 1) == "%s"
    assert in_list("?", 0) == "NULL"


def test_timestamp_helpers_return_aware_utc() -> None:
    assert utc_from_text("2024-01-02 03:04:05.678") == datetime(2024, 1, 2, 3, 4, 5, 678000, UTC)
    assert utc_from_text("2024-01-02 03:04:05") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert utc_from_text("2024-01-02 04:04:05+01:00") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert utc_from_text("2024-01-02 03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert utc_from_text("2024-01-02") == datetime(2024, 1, 2, tzinfo=UTC)
    for text in ("2024-01-02 03:04:05.678", "2024-01-02 04:04:05+01:00", "2024-01-02"):
        assert utc_from_text(text).utcoffset() == timedelta(0), text
    with pytest.raises(ValueError, match="yesterday"):
        utc_from_text("yesterday")
    naive = datetime(2024, 1, 2, 3, 4, 5)
    assert utc_from_naive(naive) == naive.replace(tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1, 1, 1, 0, 0, 1)))
def test_a_sqlite_timestamp_reads_back_as_the_utc_moment_written(moment: datetime) -> None:
    # As SQLite's strftime('%Y-%m-%d %H:%M:%f') writes it: milliseconds, no offset.
    written = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    text = written.isoformat(sep=" ", timespec="milliseconds")
    read = utc_from_text(text)
    assert read == written.replace(tzinfo=UTC)
    assert read.tzinfo is UTC


# Away from the calendar's ends, where a zone's offset would leave it.
@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)), st.timezones())
def test_a_driver_datetime_reads_back_as_the_same_utc_moment(moment: datetime, zone: Any) -> None:
    # Naive: UTC by construction. Aware: the same instant, expressed in UTC.
    naive = utc_from_naive(moment)
    assert naive == moment.replace(tzinfo=UTC)
    assert naive.tzinfo is UTC
    aware = moment.replace(tzinfo=zone)
    assert utc_from_naive(aware) == aware.astimezone(UTC)
