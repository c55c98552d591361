"""The migrator against live PostgreSQL and MariaDB, and SQLite (file and shared memory).

Small made-up migrations stand in for dwarf's real ones so each test controls exactly what is
pending, what was edited and what fails; one test at the end applies the real migrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dwarf._migrate import (
    MigrationFailedError,
    MigrationState,
    Migrator,
    current_version,
    ddl,
    default_migrations,
    migrate,
    status,
)
from dwarf._storage._connect import connect_mysql, connect_postgresql, connect_sqlite
from dwarf._storage._dsn import parse_dsn, shard_dsns
from dwarf._storage._sqlserver import connect_sqlserver
from dwarf.errors import BadRequestError, ConflictError, DwarfError, UnavailableError
from tests.fixtures.databases import (
    MYSQL_SERVER_DSN,
    POSTGRES_SERVER_DSN,
    create_mysql_database,
    create_postgres_database,
    database_name,
    drop_mysql_database,
    drop_postgres_database,
    with_database,
)


@dataclass(frozen=True, slots=True)
class FakeMigration:
    version: int
    name: str
    statements: tuple[str, ...]
    checksum: str


def migration(version: int, name: str, *statements: str) -> FakeMigration:
    digest = hashlib.sha256("\n".join(statements).encode()).hexdigest()
    return FakeMigration(version, name, statements, digest)


ONE = migration(1, "alpha", "CREATE TABLE alpha (x INTEGER)")
TWO = migration(2, "beta", "CREATE TABLE beta (y INTEGER)", "INSERT INTO beta (y) VALUES (7)")
THREE = migration(3, "gamma", "CREATE TABLE gamma (z INTEGER)")
GOOD = (ONE, TWO, THREE)
# Creates a table, then fails: PostgreSQL and SQLite must roll the table back.
BROKEN_THREE = migration(
    3, "gamma", "CREATE TABLE gamma (z INTEGER)", "INSERT INTO no_such_table VALUES (1)"
)


async def rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one query on a fresh connection (not the migrator's)."""
    parsed = parse_dsn(dsn)
    if parsed.dialect == "postgresql":
        async with await connect_postgresql(parsed) as pg:
            return list(await (await pg.execute(sql)).fetchall())
    if parsed.dialect == "sqlserver":
        mssql = await connect_sqlserver(parsed)
        try:
            cur = await mssql.cursor()
            try:
                await cur.execute(sql)
                return [tuple(r) for r in await cur.fetchall()]
            finally:
                await cur.close()
        finally:
            await mssql.close()
    if parsed.dialect == "mysql":
        my = await connect_mysql(parsed)
        try:
            async with my.cursor() as cur:
                await cur.execute(sql)
                return list(await cur.fetchall())
        finally:
            my.close()
    with contextlib.closing(await connect_sqlite(parsed)) as lite:
        return [tuple(r) for r in lite.execute(sql).fetchall()]


async def tables(dsn: str) -> set[str]:
    dialect = parse_dsn(dsn).dialect
    sql = {
        "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
        "mysql": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
        "sqlserver": "SELECT name FROM sys.tables",
    }[dialect]
    return {str(r[0]) for r in await rows(dsn, sql)}


async def recorded(dsn: str) -> list[tuple[int, str, str]]:
    found = await rows(dsn, "SELECT version, name, checksum FROM dwarf_migrations ORDER BY version")
    return [(int(v), str(n), str(c).strip()) for v, n, c in found]


@pytest.fixture
async def shared_memory_dsn(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An in-memory SQLite database shared by this process's connections while the test runs."""
    name = database_name(request.node.nodeid)
    keeper = sqlite3.connect(f"file:{name}?mode=memory&cache=shared", uri=True)
    try:
        yield f"sqlite:///{name}?mode=memory&cache=shared"
    finally:
        keeper.close()


# Sync fixtures: an async one cannot resolve other async fixtures by name (its loop is running).
@pytest.fixture(params=["sqlite", "sqlite-memory", "postgresql", "mysql"])
def dsn(request: pytest.FixtureRequest) -> str:
    """A fresh database on every dialect, SQLite both as a file and in memory."""
    fixture = {
        "sqlite": "sqlite_dsn",
        "sqlite-memory": "shared_memory_dsn",
        "postgresql": "postgres_dsn",
        "mysql": "mysql_dsn",
    }[request.param]
    value: str = request.getfixturevalue(fixture)
    return value


async def test_fresh_database_gets_every_migration_in_order(dsn: str) -> None:
    report = await migrate(dsn, migrations=GOOD)

    assert (report.from_version, report.to_version, report.dry_run) == (0, 3, False)
    assert [s.version for s in report.applied] == [1, 2, 3]
    assert all(s.state is MigrationState.APPLIED and s.applied_at for s in report.applied)
    assert {"alpha", "beta", "gamma", "dwarf_migrations"} <= await tables(dsn)
    assert await recorded(dsn) == [(m.version, m.name, m.checksum) for m in GOOD]


async def test_migrations_apply_incrementally_as_new_ones_ship(dsn: str) -> None:
    await migrate(dsn, migrations=GOOD[:1])

    report = await migrate(dsn, migrations=GOOD)

    assert (report.from_version, report.to_version) == (1, 3)
    assert [s.version for s in report.applied] == [2, 3]


async def test_rerunning_is_a_no_op(dsn: str) -> None:
    await migrate(dsn, migrations=GOOD)
    before = await rows(dsn, "SELECT version, applied_at FROM dwarf_migrations ORDER BY version")

    report = await migrate(dsn, migrations=GOOD)

    assert report.applied == ()
    assert (report.from_version, report.to_version, report.sql) == (3, 3, "")
    assert await rows(dsn, "SELECT version, applied_at FROM dwarf_migrations ORDER BY version") == (
        before
    )
    assert await rows(dsn, "SELECT y FROM beta") == [(7,)]


async def test_status_of_an_empty_database_is_all_pending_and_creates_nothing(dsn: str) -> None:
    states = await status(dsn, migrations=GOOD)

    assert [(s.version, s.state) for s in states] == [(m.version, "pending") for m in GOOD]
    assert current_version(states) == 0
    assert "dwarf_migrations" not in await tables(dsn)


async def test_status_after_migrating_shows_each_version_applied(dsn: str) -> None:
    await migrate(dsn, migrations=GOOD[:2])

    states = await status(dsn, migrations=GOOD)

    assert [(s.version, s.state) for s in states] == [
        (1, "applied"),
        (2, "applied"),
        (3, "pending"),
    ]
    assert current_version(states) == 2


async def test_dry_run_reports_the_plan_and_changes_nothing(dsn: str) -> None:
    await migrate(dsn, migrations=GOOD[:1])
    before = await tables(dsn)

    report = await migrate(dsn, migrations=GOOD, dry_run=True)

    assert report.dry_run
    assert (report.from_version, report.to_version) == (1, 3)
    assert [(s.version, s.state) for s in report.applied] == [(2, "pending"), (3, "pending")]
    assert "CREATE TABLE beta" in report.sql
    assert "CREATE TABLE gamma" in report.sql
    assert "CREATE TABLE alpha" not in report.sql
    assert await tables(dsn) == before
    assert [v for v, _, _ in await recorded(dsn)] == [1]


async def test_dry_run_on_an_empty_database_creates_no_bookkeeping_table(dsn: str) -> None:
    report = await migrate(dsn, migrations=GOOD, dry_run=True)

    assert [s.version for s in report.applied] == [1, 2, 3]
    assert await tables(dsn) == set()


async def test_changed_migration_is_refused_and_nothing_changes(dsn: str) -> None:
    await migrate(dsn, migrations=GOOD[:2])
    edited = migration(2, "beta", "CREATE TABLE beta (y BIGINT)")

    with pytest.raises(
        ConflictError, match=r"migration 2 \(beta\) was changed after it was applied"
    ):
        await migrate(dsn, migrations=(ONE, edited, THREE))

    assert "gamma" not in await tables(dsn)
    assert [v for v, _, _ in await recorded(dsn)] == [1, 2]
    states = await status(dsn, migrations=(ONE, edited, THREE))
    assert [s.state for s in states] == ["applied", "changed", "pending"]


async def test_dry_run_is_refused_on_a_changed_migration_too(dsn: str) -> None:
    await migrate(dsn, migrations=GOOD[:1])
    edited = migration(1, "alpha", "CREATE TABLE alpha (x TEXT)")

    with pytest.raises(ConflictError, match="was changed after it was applied"):
        await migrate(dsn, migrations=(edited, TWO), dry_run=True)


async def test_database_newer_than_this_dwarf_is_refused(dsn: str) -> None:
    await migrate(dsn, migrations=GOOD)

    with pytest.raises(
        ConflictError, match=r"database is at version 3, newer than this dwarf \(2\)"
    ):
        await migrate(dsn, migrations=GOOD[:2])

    states = await status(dsn, migrations=GOOD[:2])
    assert [(s.version, s.state) for s in states] == [
        (1, "applied"),
        (2, "applied"),
        (3, "unknown"),
    ]
    assert current_version(states) == 3


async def test_unknown_older_migration_is_refused(dsn: str) -> None:
    await migrate(dsn, migrations=(ONE, THREE))

    with pytest.raises(ConflictError, match=r"migration 1 \(alpha\), which this dwarf does not"):
        await migrate(dsn, migrations=(migration(2, "beta", "SELECT 1"), THREE))


async def test_failing_migration_leaves_the_last_good_version(dsn: str) -> None:
    with pytest.raises(MigrationFailedError, match=r"migration 3 \(gamma\) failed") as caught:
        await migrate(dsn, migrations=(ONE, TWO, BROKEN_THREE))

    finished = "SELECT version FROM dwarf_migrations WHERE applied_at IS NOT NULL ORDER BY version"
    assert [int(v) for (v,) in await rows(dsn, finished)] == [1, 2]
    states = await status(dsn, migrations=(ONE, TWO, BROKEN_THREE))
    assert current_version(states) == 2
    assert {"alpha", "beta"} <= await tables(dsn)
    if parse_dsn(dsn).dialect == "mysql":
        # No transactional DDL: the table from before the failure stays, and status says so.
        assert "may be partially applied" in str(caught.value)
        assert states[2].state is MigrationState.FAILED
        assert "partially applied" in states[2].note
        assert "gamma" in await tables(dsn)
    else:
        assert "stays at version 2" in str(caught.value)
        assert states[2].state is MigrationState.PENDING
        assert "gamma" not in await tables(dsn)


async def test_fixed_migration_applies_after_a_failure(dsn: str) -> None:
    with pytest.raises(MigrationFailedError):
        await migrate(dsn, migrations=(ONE, TWO, BROKEN_THREE))
    fixed = migration(3, "gamma", "CREATE TABLE IF NOT EXISTS gamma (z INTEGER)")

    report = await migrate(dsn, migrations=(ONE, TWO, fixed))

    assert [s.version for s in report.applied] == [3]
    assert await recorded(dsn) == [(m.version, m.name, m.checksum) for m in (ONE, TWO, fixed)]


async def test_failure_in_the_first_migration_records_nothing(dsn: str) -> None:
    broken = migration(1, "alpha", "CREATE TABLE alpha (x INTEGER)", "SELECT * FROM nowhere")

    with pytest.raises(MigrationFailedError, match=r"(stays at|fully applied:) version 0"):
        await migrate(dsn, migrations=(broken,))

    assert current_version(await status(dsn, migrations=(broken,))) == 0


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def shared_dsn(request: pytest.FixtureRequest) -> str:
    """A fresh database that separate connections share (SQLite as a file)."""
    fixture = {"sqlite": "sqlite_dsn", "postgresql": "postgres_dsn", "mysql": "mysql_dsn"}
    value: str = request.getfixturevalue(fixture[request.param])
    return value


async def test_concurrent_migrators_apply_each_version_once(shared_dsn: str) -> None:
    dsn = shared_dsn
    outcomes = await asyncio.gather(
        *(migrate(dsn, migrations=GOOD) for _ in range(3)), return_exceptions=True
    )

    reports = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(reports) == 3, outcomes
    applied = [s.version for report in reports for s in report.applied]
    assert sorted(applied) == [1, 2, 3]
    assert all(report.to_version == 3 for report in reports)
    assert [v for v, _, _ in await recorded(dsn)] == [1, 2, 3]
    # Migration 2 inserts a row: run twice, there would be two.
    assert await rows(dsn, "SELECT y FROM beta") == [(7,)]


async def test_one_migrator_object_can_inspect_then_migrate(dsn: str) -> None:
    async with Migrator(dsn, migrations=GOOD) as migrator:
        assert current_version(await migrator.status()) == 0
        plan = await migrator.migrate(dry_run=True)
        done = await migrator.migrate()
        after = await migrator.status()

    assert [s.version for s in plan.applied] == [s.version for s in done.applied] == [1, 2, 3]
    assert current_version(after) == 3


async def test_lock_held_elsewhere_times_out_with_a_clear_error(postgres_dsn: str) -> None:
    holder = await connect_postgresql(parse_dsn(postgres_dsn))
    try:
        # Hold the same advisory lock the migrator takes.
        async with Migrator(postgres_dsn, migrations=GOOD, lock_timeout=0.3) as blocked:
            from dwarf._migrate._backends import _PG_LOCK_KEY

            await holder.execute("SELECT pg_advisory_lock(%s)", (_PG_LOCK_KEY,))
            with pytest.raises(UnavailableError, match="migration lock"):
                await blocked.migrate()
    finally:
        await holder.close()
    assert "dwarf_migrations" not in await tables(postgres_dsn)


async def test_multi_shard_apply_migrates_every_shard(request: pytest.FixtureRequest) -> None:
    base = database_name(request.node.nodeid)
    names = [f"{base}_{i}" for i in (1, 2)]
    created: list[tuple[str, str]] = []
    try:
        for server, create in (
            ("postgresql", create_postgres_database),
            ("mysql", create_mysql_database),
        ):
            for name in names:
                try:
                    await create(name)
                except Exception as exc:  # unreachable server: the fixtures' policy
                    from tests.fixtures.databases import unavailable

                    unavailable(server, exc)
                created.append((server, name))
        templates = [
            with_database(POSTGRES_SERVER_DSN, f"{base}_%d"),
            with_database(MYSQL_SERVER_DSN, f"{base}_%d"),
        ]
        for template in templates:
            for shard in shard_dsns(template, 2):
                report = await migrate(shard, migrations=GOOD)
                assert report.to_version == 3
            for name in names:
                shard_dsn = with_database(template.replace(f"{base}_%d", name), name)
                assert [v for v, _, _ in await recorded(shard_dsn)] == [1, 2, 3]
    finally:
        for server, name in created:
            drop = drop_postgres_database if server == "postgresql" else drop_mysql_database
            await drop(name)


async def test_multi_shard_sqlite_files(tmp_path: Path) -> None:
    template = f"sqlite:///{tmp_path}/shard_%d.db"

    for shard in shard_dsns(template, 3):
        await migrate(shard, migrations=GOOD)

    for i in (1, 2, 3):
        assert [v for v, _, _ in await recorded(f"sqlite:///{tmp_path}/shard_{i}.db")] == [1, 2, 3]


async def test_status_and_dry_run_do_not_create_a_sqlite_file(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path}/not_yet.db"

    states = await status(dsn, migrations=GOOD)
    plan = await migrate(dsn, migrations=GOOD, dry_run=True)

    assert [s.state for s in states] == ["pending"] * 3
    assert [s.version for s in plan.applied] == [1, 2, 3]
    assert not (tmp_path / "not_yet.db").exists()


async def test_sqlite_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path}/missing/dwarf.db"

    with pytest.raises(BadRequestError, match="directory"):
        await status(dsn, migrations=GOOD)
    with pytest.raises(BadRequestError, match="directory"):
        await migrate(dsn, migrations=GOOD)


async def test_unreachable_server_is_unavailable_and_hides_the_password() -> None:
    with pytest.raises(UnavailableError) as caught:
        await migrate("postgresql://u:hunter2secret@127.0.0.1:1/db", migrations=GOOD)

    assert "hunter2secret" not in str(caught.value)


async def test_unreachable_sql_server_is_unavailable_and_hides_the_password() -> None:
    with pytest.raises(UnavailableError, match="cannot reach SQL Server") as caught:
        await migrate("mssql://sa:hunter2secret@127.0.0.1:1/db?login_timeout=2", migrations=GOOD)

    assert "hunter2secret" not in str(caught.value)


def test_duplicate_versions_are_a_broken_migration_list() -> None:
    with pytest.raises(DwarfError, match="version 1 appears more than once"):
        Migrator("sqlite://:memory:", migrations=(ONE, migration(1, "again", "SELECT 1")))


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite", "sqlserver"])
def test_ddl_wraps_each_migration_in_a_transaction_with_its_record(dialect: str) -> None:
    text = ddl(dialect, migrations=GOOD)

    assert "dwarf_migrations" in text.split("\n\n")[0]
    for m in GOOD:
        block = text.split(f"-- {m.version:04d} {m.name}")[1].split("\n\n")[0]
        assert "BEGIN" in block
        assert "COMMIT" in block
        assert f"VALUES ({m.version}, " in block
        assert m.checksum in block
        for statement in m.statements:
            assert statement in block


def test_ddl_for_mysql_warns_that_ddl_is_not_transactional() -> None:
    text = ddl("mariadb", migrations=GOOD)

    assert "BEGIN" not in text
    assert text.count("partially applied") == len(GOOD)


def test_ddl_range_selects_migrations_after_from_up_to_to() -> None:
    text = ddl("postgresql", 1, 2, migrations=GOOD)

    assert "CREATE TABLE beta" in text
    assert "CREATE TABLE alpha" not in text
    assert "CREATE TABLE gamma" not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("oracle",), "unknown dialect 'oracle'"),
        (("sqlite", 3, 1), "after --to"),
        (("sqlite", None, 9), "no sqlite migration 9"),
        (("sqlite", -1), "0 or more"),
    ],
)
def test_ddl_rejects_bad_arguments(args: Sequence[Any], message: str) -> None:
    with pytest.raises(BadRequestError, match=message):
        ddl(*args, migrations=GOOD)


_HAS_GENERATED = importlib.util.find_spec("dwarf._storage._gen.migrations") is not None


@pytest.mark.skipif(not _HAS_GENERATED, reason="the generated migrations module does not exist")
async def test_real_migrations_apply_cleanly_and_idempotently(
    database_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    dialect = parse_dsn(database_dsn).dialect
    real = default_migrations(dialect)
    assert real, f"no {dialect} migrations generated"

    with caplog.at_level(logging.WARNING):
        first = await migrate(database_dsn)
        again = await migrate(database_dsn)

    assert first.to_version == real[-1].version
    assert again.applied == ()
    assert {"dwarf_flows", "dwarf_steps"} <= await tables(database_dsn)
    # Nothing for an operator to read at every startup: MySQL's notes ("PROCEDURE ... does not
    # exist" from a DROP ... IF EXISTS) are not logged by the driver.
    assert [record.getMessage() for record in caplog.records] == []
