"""``dwarf migrate`` end to end, as an operator runs it: a subprocess per command.

Every case checks the exit code, and every failure that stderr is exactly one line; no output,
ever, contains the password (PostgreSQL DSNs carry one throughout: the test server trusts local
connections, so it is sent but never needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE
from typing import Any

import pytest

from dwarf._migrate import default_migrations
from dwarf._migrate._sql import now_utc
from dwarf._storage._connect import connect_mysql, connect_postgresql, connect_sqlite
from dwarf._storage._dsn import parse_dsn
from tests.fixtures.cli import SECRET, Run, run_dwarf, with_password
from tests.fixtures.databases import (
    POSTGRES_SERVER_DSN,
    create_postgres_database,
    database_name,
    drop_postgres_database,
    with_database,
)


async def dwarf(*args: str) -> Run:
    return await run_dwarf(*args)


async def rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh connection and commit; return its rows, if any."""
    parsed = parse_dsn(dsn)
    if parsed.dialect == "postgresql":
        async with await connect_postgresql(parsed) as pg:
            cur = await pg.execute(sql)
            found = list(await cur.fetchall()) if cur.description else []
            await pg.commit()
            return found
    if parsed.dialect == "mysql":
        my = await connect_mysql(parsed)
        try:
            async with my.cursor() as mycur:
                await mycur.execute(sql)
                result = list(await mycur.fetchall()) if mycur.description else []
            await my.commit()
            return result
        finally:
            my.close()
    with contextlib.closing(await connect_sqlite(parsed)) as lite:
        return [tuple(r) for r in lite.execute(sql).fetchall()]


async def write(dsn: str, sql: str) -> None:
    await rows(dsn, sql)


async def has_bookkeeping(dsn: str) -> bool:
    dialect = parse_dsn(dsn).dialect
    sql = {
        "postgresql": "SELECT to_regclass('dwarf_migrations') IS NOT NULL",
        "mysql": "SELECT COUNT(*) FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name = 'dwarf_migrations'",
        "sqlite": "SELECT COUNT(*) FROM sqlite_master WHERE name = 'dwarf_migrations'",
    }[dialect]
    return bool((await rows(dsn, sql))[0][0])


def latest(dialect: str) -> int:
    return default_migrations(dialect)[-1].version


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def target(request: pytest.FixtureRequest) -> str:
    """A fresh database per dialect; PostgreSQL's DSN carries a password."""
    fixture = {"sqlite": "sqlite_dsn", "postgresql": "postgres_dsn", "mysql": "mysql_dsn"}
    dsn: str = request.getfixturevalue(fixture[request.param])
    return with_password(dsn) if request.param == "postgresql" else dsn


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["migrate"]),
        (("migrate",), ["--dsn", "--shards", "--dry-run", "--json", "status", "sql", "%d"]),
        (("migrate", "status"), ["--dsn", "--shards", "--json"]),
        (("migrate", "sql"), ["--dialect", "--from", "--to"]),
    ],
)
async def test_every_command_has_help(args: tuple[str, ...], expected: list[str]) -> None:
    run = await dwarf(*args, "--help")

    assert run.code == 0, run.err
    for word in expected:
        assert word in run.out


async def test_no_command_prints_usage_and_exits_2() -> None:
    run = await dwarf()

    assert run.code == 2
    assert "migrate" in run.err


async def test_status_of_a_fresh_database_lists_every_migration_pending(target: str) -> None:
    dialect = parse_dsn(target).dialect
    run = await dwarf("migrate", "status", "--dsn", target)

    assert run.code == 0, run.err
    header, row = run.out.strip().splitlines()
    assert header.split() == ["SHARD", "DIALECT", "DSN", "VERSION", "PENDING", "STATUS"]
    assert row.split()[:5] == ["1", dialect, parse_dsn(target).masked(), "0", str(latest(dialect))]
    assert "pending" in row
    assert not await has_bookkeeping(target)


async def test_dry_run_prints_the_sql_and_changes_nothing(target: str) -> None:
    run = await dwarf("migrate", "--dsn", target, "--dry-run")

    assert run.code == 0, run.err
    assert "would apply" in run.out
    assert "CREATE TABLE IF NOT EXISTS dwarf_flows" in run.out
    assert "INSERT INTO dwarf_migrations" in run.out
    assert not await has_bookkeeping(target)


async def test_apply_migrates_then_rerun_is_up_to_date(target: str) -> None:
    dialect = parse_dsn(target).dialect

    first = await dwarf("migrate", "--dsn", target)
    second = await dwarf("migrate", "--dsn", target)
    status = await dwarf("migrate", "status", "--dsn", target)

    assert first.code == second.code == status.code == 0, (first.err, second.err, status.err)
    versions = ", ".join(str(m.version) for m in default_migrations(dialect))
    assert f"applied {versions}" in first.out
    assert "up to date" in second.out
    assert "applied" not in second.out
    assert status.out.strip().splitlines()[1].split()[3:] == [
        str(latest(dialect)),
        "0",
        "up",
        "to",
        "date",
    ]
    recorded = await rows(target, "SELECT version FROM dwarf_migrations ORDER BY version")
    assert [int(v) for (v,) in recorded] == [m.version for m in default_migrations(dialect)]


async def test_json_output_is_machine_readable(sqlite_dsn: str) -> None:
    plan = json.loads((await dwarf("migrate", "--dsn", sqlite_dsn, "--dry-run", "--json")).out)
    done = json.loads((await dwarf("migrate", "--dsn", sqlite_dsn, "--json")).out)
    state = json.loads((await dwarf("migrate", "status", "--dsn", sqlite_dsn, "--json")).out)

    top = latest("sqlite")
    assert plan["ok"]
    assert plan["dry_run"]
    assert plan["shards"][0]["version"] == 0
    assert plan["shards"][0]["pending"] == list(range(1, top + 1))
    assert "dwarf_flows" in plan["shards"][0]["sql"]
    assert done["shards"][0]["to_version"] == top
    assert [m["version"] for m in done["shards"][0]["applied"]] == list(range(1, top + 1))
    shard = state["shards"][0]
    assert state["ok"]
    assert shard["version"] == top
    assert shard["pending"] == []
    assert all(m["state"] == "applied" and m["applied_at"] for m in shard["migrations"])


async def test_sql_prints_the_full_ddl_for_review() -> None:
    run = await dwarf("migrate", "sql", "--dialect", "postgresql")

    assert run.code == 0, run.err
    assert "CREATE TABLE IF NOT EXISTS dwarf_migrations" in run.out
    assert "dwarf_flows" in run.out
    assert "dwarf_steps" in run.out
    assert run.out.count("BEGIN;") == len(default_migrations("postgresql"))


async def test_sql_from_the_latest_version_has_nothing_to_add() -> None:
    top = str(latest("mysql"))
    run = await dwarf("migrate", "sql", "--dialect", "mariadb", "--from", top)

    assert run.code == 0, run.err
    assert "dwarf_flows" not in run.out


async def test_the_printed_mysql_script_migrates_as_dwarf_migrate_does(mysql_dsn: str) -> None:
    # A DBA reviews the script and applies it with the mysql client, whose DELIMITER lines
    # carry the stored procedures' bodies (their own ';') through.
    printed = await dwarf("migrate", "sql", "--dialect", "mysql")
    assert printed.code == 0, printed.err
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client is not None, "the MariaDB client (mariadb-client) is needed to apply the script"
    dsn = parse_dsn(mysql_dsn)
    command = [client, "-h", dsn.host or "127.0.0.1", "-P", str(dsn.port or 3306)]
    command += ["-u", dsn.user or "root", dsn.database]
    environment = {**os.environ, "MYSQL_PWD": dsn.password or ""}
    applied = await asyncio.create_subprocess_exec(
        *command, stdin=PIPE, stdout=PIPE, stderr=PIPE, env=environment
    )
    _, errors = await applied.communicate(printed.out.encode())
    assert applied.returncode == 0, errors.decode()

    status = await dwarf("migrate", "status", "--dsn", mysql_dsn)
    assert status.code == 0, status.err
    assert "up to date" in status.out
    routines = await rows(
        mysql_dsn,
        "SELECT routine_name FROM information_schema.routines"
        " WHERE routine_schema = DATABASE() ORDER BY routine_name",
    )
    assert [name for (name,) in routines] == [
        "dwarf_advance",
        "dwarf_advance_many",
        "dwarf_create",
        "dwarf_create_many",
        "dwarf_finish",
        "dwarf_finish_many",
    ]


async def test_sql_range_prints_only_the_chosen_versions() -> None:
    run = await dwarf("migrate", "sql", "--dialect", "sqlite", "--from", "0", "--to", "1")

    assert run.code == 0, run.err
    assert "-- 0001 " in run.out
    assert "-- 0002 " not in run.out


async def test_sql_for_sql_server_needs_no_server() -> None:
    run = await dwarf("migrate", "sql", "--dialect", "sqlserver")

    assert run.code == 0, run.err
    assert "IF OBJECT_ID(N'dbo.dwarf_migrations', N'U') IS NULL" in run.out
    assert "GO" in run.out


async def test_shards_each_get_migrated(tmp_path: Path) -> None:
    template = f"sqlite:///{tmp_path}/shard_%d.db"

    run = await dwarf("migrate", "--dsn", template, "--shards", "3")
    status = await dwarf("migrate", "status", "--dsn", template, "--shards", "3")

    assert run.code == 0, run.err
    assert status.code == 0, status.err
    assert [line.split()[0] for line in run.out.strip().splitlines()[1:]] == ["1", "2", "3"]
    for i in (1, 2, 3):
        assert await has_bookkeeping(f"sqlite:///{tmp_path}/shard_{i}.db")
        assert f"shard_{i}.db" in status.out


@pytest.fixture
async def postgres_shards(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Two PostgreSQL databases <name>_1 and <name>_2; yields the %d template with a password."""
    base = database_name(request.node.nodeid)
    names = [f"{base}_1", f"{base}_2"]
    try:
        for name in names:
            await create_postgres_database(name)
    except OSError as exc:
        from tests.fixtures.databases import unavailable

        unavailable("PostgreSQL", exc)
    yield with_password(with_database(POSTGRES_SERVER_DSN, f"{base}_%d"))
    for name in names:
        await drop_postgres_database(name)


async def test_postgres_shards_each_get_migrated(postgres_shards: str) -> None:
    run = await dwarf("migrate", "--dsn", postgres_shards, "--shards", "2")

    assert run.code == 0, run.err
    for i in (1, 2):
        assert await has_bookkeeping(postgres_shards.replace("%d", str(i)))
        assert parse_dsn(postgres_shards).for_shard(i).masked() in run.out


async def test_a_missing_shard_stops_the_run_before_any_shard_changes(
    postgres_shards: str,
) -> None:
    run = await dwarf("migrate", "--dsn", postgres_shards, "--shards", "3")

    run.failed_with(1, "shard 3")
    assert "does not exist" in run.err
    for i in (1, 2):
        assert not await has_bookkeeping(postgres_shards.replace("%d", str(i)))


async def test_a_database_newer_than_this_dwarf_is_refused(target: str) -> None:
    assert (await dwarf("migrate", "--dsn", target)).code == 0
    now = now_utc(parse_dsn(target).dialect)
    await write(
        target,
        "INSERT INTO dwarf_migrations (version, name, checksum, applied_at) "
        f"VALUES (999, 'future', 'x', {now})",
    )

    run = await dwarf("migrate", "--dsn", target)
    status = await dwarf("migrate", "status", "--dsn", target)

    run.failed_with(1, "database is at version 999, newer than this dwarf")
    status.failed_with(1, "newer than this dwarf")
    assert "999" in status.out


async def test_an_edited_migration_is_refused(sqlite_dsn: str) -> None:
    assert (await dwarf("migrate", "--dsn", sqlite_dsn)).code == 0
    await write(sqlite_dsn, "UPDATE dwarf_migrations SET checksum = 'edited' WHERE version = 1")

    run = await dwarf("migrate", "--dsn", sqlite_dsn)
    dry = await dwarf("migrate", "--dsn", sqlite_dsn, "--dry-run")
    status = await dwarf("migrate", "status", "--dsn", sqlite_dsn)

    run.failed_with(1, "was changed after it was applied")
    dry.failed_with(1, "was changed after it was applied")
    status.failed_with(1, "was changed after it was applied")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("migrate", "--dsn", f"oracle://scott:{SECRET}@h/db"), 2, "unsupported DSN scheme"),
        (("migrate", "--dsn", f"postgresql://u:{SECRET}@h/db", "--shards", "2"), 2, "%d"),
        (("migrate", "--dsn", f"postgresql://u:{SECRET}@h/db", "--shards", "0"), 2, "--shards"),
        (("migrate", "status", "--dsn", f"postgresql://u:{SECRET}@h:port/db"), 2, "port"),
        (("migrate",), 2, "--dsn"),
        (("migrate", "sql", "--dialect", "oracle"), 2, "unknown dialect"),
        (("migrate", "sql", "--dialect", "sqlite", "--to", "999"), 2, "no sqlite migration 999"),
        (("migrate", "sql"), 2, "--dialect"),
        (("migrate", "--dsn", f"postgresql://u:{SECRET}@h/db", "extra"), 2, "invalid choice"),
        (
            ("migrate", "--dsn", f"postgresql://u:{SECRET}@127.0.0.1:1/db"),
            1,
            "cannot reach PostgreSQL at 127.0.0.1:1",
        ),
        (
            ("migrate", "status", "--dsn", f"mysql://root:{SECRET}@127.0.0.1:1/db"),
            1,
            "cannot reach MySQL",
        ),
        (
            ("migrate", "--dsn", f"mssql://sa:{SECRET}@127.0.0.1:1/db?login_timeout=2"),
            1,
            "cannot reach SQL Server at 127.0.0.1:1",
        ),
        (("migrate", "--dsn", "sqlite:////no/such/dir/dwarf.db"), 1, "directory"),
    ],
)
async def test_bad_input_fails_with_one_line_and_no_password(
    args: tuple[str, ...], code: int, fragment: str
) -> None:
    run = await dwarf(*args)

    run.failed_with(code, fragment)


async def test_bad_input_in_json_mode_also_prints_a_json_error() -> None:
    run = await dwarf("migrate", "--dsn", f"oracle://scott:{SECRET}@h/db", "--json")

    run.failed_with(2, "unsupported DSN scheme")
    assert json.loads(run.out) == {"ok": False, "error": run.err.strip()[len("dwarf: error: ") :]}


async def test_wrong_password_is_a_clear_failure(mysql_dsn: str) -> None:
    run = await dwarf("migrate", "--dsn", with_password(mysql_dsn))

    run.failed_with(1, "refused the login of user 'root'")


async def test_missing_database_is_a_clear_failure(postgres_dsn: str) -> None:
    missing = with_password(postgres_dsn.rsplit("/", 1)[0] + "/dwarf_no_such_database")

    run = await dwarf("migrate", "--dsn", missing)

    run.failed_with(1, "database 'dwarf_no_such_database' does not exist")


async def test_status_reports_an_unreachable_shard_and_exits_1(tmp_path: Path) -> None:
    # Shard 1's directory exists, shard 2's does not.
    (tmp_path / "dir_1").mkdir()
    template = f"sqlite:///{tmp_path}/dir_%d/dwarf.db"

    run = await dwarf("migrate", "status", "--dsn", template, "--shards", "2")

    run.failed_with(1, "shard 2")
    lines = run.out.strip().splitlines()
    assert "pending" in lines[1]
    assert "directory does not exist" in lines[2]


async def test_a_failing_shard_leaves_the_others_untouched(tmp_path: Path) -> None:
    (tmp_path / "dir_1").mkdir()
    template = f"sqlite:///{tmp_path}/dir_%d/dwarf.db"

    run = await dwarf("migrate", "--dsn", template, "--shards", "2")

    run.failed_with(1, "shard 2")
    assert not await has_bookkeeping(f"sqlite:///{tmp_path}/dir_1/dwarf.db")
