"""Domain types and row names in generated code (``codegen/_domain.py``), on fixture projects.

Flag columns come out as ``bool`` and status columns as ``Status``, while the driver still
receives the plain ``int`` and ``str`` the database stored before; a status filter of a read
stays ``str``. ``ROW_NAMES`` names row shapes and fails on contradictions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import codegen._domain
from codegen import GenerationError, generate
from dwarf._storage._sqlite_inline import open_inline_sqlite
from dwarf.workflow import Status
from tests.fixtures.codegen import FakeMySQL, FakeSqlServer, load_generated, write_project

SCHEMA = {
    "postgresql": """\
CREATE TABLE IF NOT EXISTS t_steps (
    step_id BIGSERIAL PRIMARY KEY,
    status VARCHAR(16) NOT NULL DEFAULT 'created',
    finished SMALLINT NOT NULL DEFAULT 0
);
""",
    "mysql": """\
CREATE TABLE IF NOT EXISTS t_steps (
    step_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    status VARCHAR(16) NOT NULL DEFAULT 'created',
    finished TINYINT NOT NULL DEFAULT 0
);
""",
    "sqlite": """\
CREATE TABLE IF NOT EXISTS t_steps (
    step_id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL DEFAULT 'created',
    finished INTEGER NOT NULL DEFAULT 0
);
""",
    "sqlserver": """\
CREATE TABLE t_steps (
    step_id BIGINT IDENTITY(1,1) PRIMARY KEY,
    status NVARCHAR(16) NOT NULL DEFAULT 'created',
    finished TINYINT NOT NULL DEFAULT 0
);
""",
}

_READS = """\
-- name: GetStep :one
SELECT step_id, status, finished FROM t_steps WHERE step_id = sqlc.arg(step_id);

-- name: GetStepAgain :one
SELECT step_id, status, finished FROM t_steps WHERE step_id = sqlc.arg(step_id) AND finished = 0;
"""

QUERIES = {
    "postgresql": f"""\
-- name: InsertStep :one
INSERT INTO t_steps (status, finished) VALUES (sqlc.arg(status), sqlc.arg(finished))
RETURNING step_id;

{_READS}
-- name: ListStepIds :many
SELECT step_id FROM t_steps
WHERE (sqlc.arg(status)::varchar = '' OR status = sqlc.arg(status)::varchar)
ORDER BY step_id;
""",
    "mysql": f"""\
-- name: InsertStep :execlastid
INSERT INTO t_steps (status, finished) VALUES (sqlc.arg(status), sqlc.arg(finished));

{_READS}
-- name: ListStepIds :many
SELECT step_id FROM t_steps
WHERE (CAST(sqlc.arg(status) AS CHAR) = '' OR status = sqlc.arg(status))
ORDER BY step_id;
""",
    "sqlite": f"""\
-- name: InsertStep :one
INSERT INTO t_steps (status, finished) VALUES (sqlc.arg(status), sqlc.arg(finished))
RETURNING step_id;

{_READS}
-- name: ListStepIds :many
SELECT step_id FROM t_steps
WHERE (CAST(sqlc.arg(status) AS TEXT) = '' OR status = sqlc.arg(status))
ORDER BY step_id;
""",
    "sqlserver": """\
-- name: InsertStep :one
INSERT INTO t_steps (status, finished) OUTPUT INSERTED.step_id VALUES (@status, @finished);

-- name: GetStep :one
SELECT step_id, status, finished FROM t_steps WHERE step_id = @step_id;

-- name: GetStepAgain :one
SELECT step_id, status, finished FROM t_steps WHERE step_id = @step_id AND finished = 0;

-- name: ListStepIds :many
SELECT step_id FROM t_steps WHERE (@status = '' OR status = @status) ORDER BY step_id;
""",
}


def _project(root: Path, queries: Mapping[str, str] = QUERIES) -> Path:
    return write_project(root, queries, SCHEMA)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The generated sources of the domain fixture project, its step row named ``StepRow``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen._domain, "ROW_NAMES", {"GetStepAgain": "StepRow"})
        return generate(_project(tmp_path_factory.mktemp("domain")))


@pytest.fixture(scope="module")
def gen(files: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The generated modules of the domain fixture project, imported."""
    modules = load_generated(files, tmp_path_factory.mktemp("domain_modules"))
    yield modules
    for name in [n for n in sys.modules if n.startswith("_codegen_fixture_")]:
        del sys.modules[name]


def test_flags_are_bool_and_statuses_status_in_signatures_and_rows(
    files: dict[str, str],
) -> None:
    assert "class StepRow(NamedTuple):" in files["rows.py"]
    assert "    status: Status\n    finished: bool\n" in files["rows.py"]
    protocol = files["queries.py"]
    assert "self, conn: Any, *, status: Status, finished: bool) -> int:" in protocol
    assert "get_step(self, conn: Any, *, step_id: int) -> StepRow | None:" in protocol
    assert "get_step_again(self, conn: Any, *, step_id: int) -> StepRow | None:" in protocol


def test_a_status_filter_of_a_read_stays_str(files: dict[str, str]) -> None:
    assert (
        "list_step_ids(self, conn: Any, *, status: str) -> list[ListStepIdsRow]:"
        in (files["queries.py"])
    )


async def test_sqlite_stores_plain_values_and_reads_domain_types(gen: Any) -> None:
    sqlite = gen["sqlite"]
    # The connection the engine itself drives (sqlite3, inline).
    conn = open_inline_sqlite(":memory:", uri=False, memory=True)
    try:
        for migration in gen["migrations"].MIGRATIONS["sqlite"]:
            for statement in migration.statements:
                await conn.execute(statement)
        step_id = await sqlite.insert_step(conn, status=Status.RUNNING, finished=True)
        stored = await conn.execute_fetchall(
            "SELECT typeof(status), status, typeof(finished), finished FROM t_steps"
        )
        assert list(stored) == [("text", "running", "integer", 1)]
        row = await sqlite.get_step(conn, step_id=step_id)
        assert type(row.finished) is bool
        assert row.finished is True
        assert row.status is Status.RUNNING
        assert [r.step_id for r in await sqlite.list_step_ids(conn, status="running")] == [step_id]
        assert await sqlite.list_step_ids(conn, status="failed") == []
    finally:
        await conn.close()


async def test_drivers_receive_exact_int_and_str(gen: Any) -> None:
    maria = FakeMySQL()
    await gen["mysql"].insert_step(maria, status=Status.PENDING, finished=False)
    # repr of a StrEnum member or a bool would differ from repr of the plain value
    assert maria.log == ["INSERT INTO t_steps (status, finished) VALUES ('pending', 0)"]
    mssql = FakeSqlServer(rows=[(7,)])
    await gen["sqlserver"].insert_step(mssql, status=Status.PENDING, finished=True)
    [(_, params)] = mssql.log
    assert [type(p) for p in params] == [str, int]
    assert params == ("pending", 1)


async def test_mysql_rows_convert_flags_and_statuses(gen: Any) -> None:
    row = await gen["mysql"].get_step(FakeMySQL(rows=[(3, "interrupted", 1)]), step_id=3)
    assert (row.status, row.finished) == (Status.INTERRUPTED, True)
    assert type(row.finished) is bool
    assert type(row.status) is Status


def _generation_error(root: Path, names: Mapping[str, str]) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen._domain, "ROW_NAMES", names)
        with pytest.raises(GenerationError) as info:
            generate(root)
    return str(info.value)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unwritten domain fixture project for the error cases."""
    return _project(tmp_path_factory.mktemp("domain_errors"))


def test_two_names_for_one_row_shape_are_rejected(project: Path) -> None:
    message = _generation_error(project, {"GetStep": "StepRow", "GetStepAgain": "OtherRow"})
    assert "queries GetStep, GetStepAgain share one row shape named" in message


def test_one_name_for_two_row_shapes_is_rejected(project: Path) -> None:
    message = _generation_error(project, {"GetStep": "StepRow", "ListStepIds": "StepRow"})
    assert "row StepRow has different columns in" in message


def test_a_row_name_for_a_query_without_rows_is_rejected(project: Path) -> None:
    message = _generation_error(project, {"InsertStep": "StepRow", "Nope": "NopeRow"})
    assert "row name StepRow: query InsertStep returns no row class" in message
    assert "row name NopeRow: query Nope returns no row class" in message


def test_a_flag_that_is_not_an_integer_is_rejected(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codegen._domain, "FLAG_COLUMNS", frozenset({"finished", "status"}))
    message = _generation_error(project, {})
    assert "postgresql: GetStep: column status is a flag (FLAG_COLUMNS) but str in SQL" in message
