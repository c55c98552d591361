"""``dwarf migrate``: apply, inspect (``status``) or print (``sql``) the schema migrations.

Constraints:

- Nothing half-applied on bad input: every shard's DSN is parsed, connected to and checked (the
  same refusals ``migrate`` makes) before any shard is changed.
- Exit codes (``_common``): 1 for an unreachable server, a refused login, a missing database, a
  refused or failed migration, or ``status`` finding a problem; 2 for a bad option, no DSN, an
  unparsable DSN, ``--shards`` > 1 without ``%d``, an unknown dialect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from dwarf._cli._common import (
    DSN_HELP,
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    add_target_options,
    fail,
    mask_text,
    target_dsns,
)
from dwarf._cli._output import progress
from dwarf._migrate import (
    DEFAULT_LOCK_TIMEOUT,
    MigrationReport,
    MigrationState,
    Migrator,
    VersionState,
    current_version,
    ddl,
)
from dwarf._storage._dsn import DIALECTS
from dwarf.errors import BadRequestError, DwarfError

__all__ = ["add_migrate_parser"]

_DESCRIPTION: Final = """\
Apply dwarf's schema migrations to every shard of a database.

Each shard gets a dwarf_migrations table recording the versions applied. Migrations apply in
order under a per-database lock, each in its own transaction where the database allows it
(PostgreSQL, SQLite); MySQL/MariaDB cannot roll back DDL, so a failed MySQL migration may be
partially applied and `status` says so. A database that is newer than this dwarf, or whose
applied migrations were edited since, is refused without changing anything. Re-running is a
no-op. dwarf creates tables, never databases: create each shard's database first.
"""

_EPILOG: Final = f"""\
{DSN_HELP}
examples:
  dwarf migrate --dsn 'postgresql://dwarf:secret@db:5432/dwarf_%d' --shards 4 --dry-run
  dwarf migrate --dsn 'postgresql://dwarf:secret@db:5432/dwarf_%d' --shards 4
  dwarf migrate status --dsn 'mysql://dwarf:secret@db:3306/dwarf' --json
  dwarf migrate sql --dialect postgresql --from 2
"""


@dataclass(slots=True)
class _Row:
    shard: int
    dialect: str
    dsn: str
    version: int | None = None
    pending: list[int] = field(default_factory=list)
    status: str = ""
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def add_migrate_parser(subparsers: Any) -> None:
    """Add ``migrate`` (with its ``status`` and ``sql`` commands) to the top-level parser."""
    migrate = subparsers.add_parser(
        "migrate",
        help="apply, inspect or print the schema migrations",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_options(migrate)
    migrate.add_argument(
        "--dry-run",
        action="store_true",
        help="print the SQL each shard would run, and change nothing",
    )
    migrate.add_argument(
        "--lock-timeout",
        type=_seconds,
        metavar="SECONDS",
        default=DEFAULT_LOCK_TIMEOUT,
        help=f"how long to wait for another migrator (default {DEFAULT_LOCK_TIMEOUT:g})",
    )
    migrate.set_defaults(handler=_run_apply, parser=migrate, dry_run=False)
    actions = migrate.add_subparsers(title="commands", dest="action", metavar="{status,sql}")

    status = actions.add_parser(
        "status",
        help="show applied and pending versions per shard (changes nothing)",
        description="Show each shard's schema version, pending migrations and any problem: a "
        "database newer than this dwarf, an applied migration edited since, or (MySQL) a "
        "migration that failed part-way and may be partially applied. Exits 1 if a shard "
        "cannot be reached or has a problem; pending migrations alone are not a failure.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_options(status, suppress=True)
    status.set_defaults(handler=_run_status, parser=status)

    sql = actions.add_parser(
        "sql",
        help="print the DDL for review (connects to nothing)",
        description="Print the SQL of dwarf's migrations for one dialect, including the "
        "dwarf_migrations bookkeeping, so a DBA can review it or apply it by hand. "
        "--from V prints the migrations after version V (what a database at V still needs); "
        "--to V stops at version V.",
    )
    sql.add_argument(
        "--dialect",
        required=True,
        metavar="NAME",
        help=f"one of {', '.join(DIALECTS)} (postgres, mariadb and mssql are accepted too)",
    )
    sql.add_argument(
        "--from", dest="from_version", type=_version, metavar="V", help="start after version V"
    )
    sql.add_argument(
        "--to", dest="to_version", type=_version, metavar="V", help="stop at version V"
    )
    sql.set_defaults(handler=_run_sql, parser=sql)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds (0 or more), got {text!r}")
    return value


def _version(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a version number (0 or more), got {text!r}")
    return int(text)


def _run_apply(args: argparse.Namespace) -> int:
    dsns = target_dsns(args)
    migrators = [Migrator(dsn, lock_timeout=args.lock_timeout) for dsn in dsns]
    return asyncio.run(_apply(migrators, dry_run=args.dry_run, as_json=args.json))


def _run_status(args: argparse.Namespace) -> int:
    dsns = target_dsns(args)
    migrators = [Migrator(dsn) for dsn in dsns]
    return asyncio.run(_status(migrators, as_json=args.json))


def _run_sql(args: argparse.Namespace) -> int:
    try:
        text = ddl(args.dialect, args.from_version, args.to_version)
    except BadRequestError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(text)
    return EXIT_OK


async def _apply(migrators: list[Migrator], *, dry_run: bool, as_json: bool) -> int:
    reports: list[MigrationReport] = []
    current = migrators[0]
    try:
        # Preflight every shard (connect, refuse) before changing any of them.
        plans = []
        for current in migrators:
            plans.append(await current.migrate(dry_run=True))
        if dry_run:
            reports = plans
        else:
            # Many shards take a while: show a bar on a terminal (never in JSON output).
            bar_total = 0 if as_json or len(migrators) < 2 else len(migrators)
            with progress("migrating", bar_total) as advance:
                for current in migrators:
                    reports.append(await current.migrate())
                    advance(1)
    except DwarfError as exc:
        shard = migrators.index(current) + 1
        done = ", ".join(str(i) for i in range(1, shard))
        suffix = f" (shards already migrated: {done})" if reports and not dry_run else ""
        return fail(f"shard {shard} ({current.dsn.masked()}): {exc}{suffix}", as_json=as_json)
    finally:
        for migrator in migrators:
            await migrator.close()
    rows = [_apply_row(i, report) for i, report in enumerate(reports, 1)]
    if as_json:
        print(json.dumps({"ok": True, "dry_run": dry_run, "shards": [_json(r) for r in rows]}))
        return EXIT_OK
    _print_table(rows)
    if dry_run:
        for report in reports:
            if report.sql:
                sys.stdout.write("\n" + report.sql)
    return EXIT_OK


def _apply_row(shard: int, report: MigrationReport) -> _Row:
    versions = [s.version for s in report.applied]
    listed = ", ".join(map(str, versions))
    if not versions:
        text = "up to date"
    elif report.dry_run:
        text = f"would apply {listed}"
    else:
        text = f"applied {listed}"
    return _Row(
        shard=shard,
        dialect=report.dialect,
        dsn=report.dsn,
        version=report.from_version if report.dry_run else report.to_version,
        pending=versions if report.dry_run else [],
        status=text,
        extra={
            "from_version": report.from_version,
            "to_version": report.to_version,
            "applied": [] if report.dry_run else [_state_json(s) for s in report.applied],
            "sql": report.sql,
        },
    )


async def _status(migrators: list[Migrator], *, as_json: bool) -> int:
    rows: list[_Row] = []
    for shard, migrator in enumerate(migrators, 1):
        row = _Row(shard=shard, dialect=migrator.dsn.dialect, dsn=migrator.dsn.masked())
        try:
            states = await migrator.status()
        except DwarfError as exc:
            row.status = row.error = str(exc)
        else:
            _describe(row, states)
        finally:
            await migrator.close()
        rows.append(row)
    ok = not any(row.error for row in rows)
    if as_json:
        print(json.dumps({"ok": ok, "shards": [_json(r) for r in rows]}))
    else:
        _print_table(rows)
    for row in rows:
        if row.error:
            print(f"dwarf: error: shard {row.shard}: {mask_text(row.error)}", file=sys.stderr)
    return EXIT_OK if ok else EXIT_FAILURE


def _describe(row: _Row, states: Sequence[VersionState]) -> None:
    row.version = current_version(states)
    row.pending = [
        s.version for s in states if s.state in {MigrationState.PENDING, MigrationState.FAILED}
    ]
    row.extra["migrations"] = [_state_json(s) for s in states]
    failed = [s for s in states if s.state is MigrationState.FAILED]
    changed = [s for s in states if s.state is MigrationState.CHANGED]
    unknown = [s for s in states if s.state is MigrationState.UNKNOWN]
    if unknown:
        newest = unknown[-1]
        row.error = (
            f"database has migration {newest.version} ({newest.name}), newer than this dwarf: "
            "upgrade dwarf"
        )
    elif changed:
        first = changed[0]
        row.error = f"migration {first.version} ({first.name}) was changed after it was applied"
    elif failed:
        first = failed[0]
        row.error = (
            f"migration {first.version} ({first.name}) failed part-way: MySQL cannot roll back "
            "DDL, so it may be partially applied; inspect the schema, then run dwarf migrate"
        )
    if row.error:
        row.status = row.error
    elif row.pending:
        row.status = f"{len(row.pending)} pending: {', '.join(map(str, row.pending))}"
    else:
        row.status = "up to date"


def _state_json(state: VersionState) -> dict[str, Any]:
    return {
        "version": state.version,
        "name": state.name,
        "state": str(state.state),
        "applied_at": state.applied_at.isoformat() if state.applied_at else None,
        "note": state.note,
    }


def _json(row: _Row) -> dict[str, Any]:
    return {
        "shard": row.shard,
        "dialect": row.dialect,
        "dsn": row.dsn,
        "version": row.version,
        "pending": row.pending,
        "status": mask_text(row.status),
        "error": mask_text(row.error) or None,
        **row.extra,
    }


def _print_table(rows: Sequence[_Row]) -> None:
    header = ("SHARD", "DIALECT", "DSN", "VERSION", "PENDING", "STATUS")
    lines = [header] + [
        (
            str(r.shard),
            r.dialect,
            r.dsn,
            "?" if r.version is None else str(r.version),
            "?" if r.error and r.version is None else str(len(r.pending)),
            mask_text(r.status),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]).rstrip())
