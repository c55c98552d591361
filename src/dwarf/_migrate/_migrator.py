"""Bring one database (one shard) to the schema this dwarf expects, safely and idempotently.

One run: take the per-database migration lock, create ``dwarf_migrations`` if missing, then loop:
read what is recorded, refuse (changing nothing) if the database is newer than this dwarf or an
applied migration's file has changed, and apply the next pending migration with its record in
one transaction where the dialect allows it (see ``_backends`` for MySQL). Re-reading inside
every iteration is what makes a second, concurrent migrator find nothing left to do.

A failing migration raises ``MigrationFailedError`` and leaves the database at the last migration
that finished. ``dry_run`` and ``status`` only read: no lock, no table, no change.

The migrations default to the generated ``dwarf._storage._gen.migrations.MIGRATIONS``, imported
only when needed so tests (and the CLI's ``--help``) work without it.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, cast

from dwarf._migrate._backends import Backend, open_backend
from dwarf._migrate._plan import (
    AppliedRow,
    pending_migrations,
    validate_migrations,
    version_states,
)
from dwarf._migrate._sql import render_ddl
from dwarf._migrate._types import (
    MigrationLike,
    MigrationReport,
    MigrationState,
    VersionState,
)
from dwarf._storage._dsn import Dialect, Dsn, dialect_named, parse_dsn
from dwarf.errors import BadRequestError, DwarfError

__all__ = ["DEFAULT_LOCK_TIMEOUT", "Migrator", "ddl", "default_migrations", "migrate", "status"]

DEFAULT_LOCK_TIMEOUT: Final = 60.0
"""Seconds a migrator waits for another one holding the same database's lock."""

_GENERATED: Final = "dwarf._storage._gen.migrations"


def default_migrations(dialect: Dialect | str) -> tuple[MigrationLike, ...]:
    """The migrations shipped with this dwarf for ``dialect``, in version order."""
    name = dialect_named(dialect)
    try:
        module = importlib.import_module(_GENERATED)
    except ModuleNotFoundError as exc:
        if exc.name != _GENERATED:
            raise
        raise DwarfError(
            "this dwarf has no generated migrations (src/dwarf/_storage/_gen/migrations.py): "
            "run python -m codegen"
        ) from None
    table = cast(Mapping[str, Sequence[MigrationLike]], module.MIGRATIONS)
    return validate_migrations(table.get(name, ()))


class Migrator:
    """Migrates one database; use as ``async with Migrator(dsn) as m: await m.migrate()``.

    The connection opens on first use and closes with ``close()`` (or on leaving ``async with``).
    """

    def __init__(
        self,
        dsn: Dsn | str,
        *,
        migrations: Sequence[MigrationLike] | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self._dsn = parse_dsn(dsn) if isinstance(dsn, str) else dsn
        if migrations is None:
            self._migrations = default_migrations(self._dsn.dialect)
        else:
            self._migrations = validate_migrations(migrations)
        self._lock_timeout = lock_timeout
        self._backend: Backend | None = None

    @property
    def dsn(self) -> Dsn:
        """The database this migrator works on."""
        return self._dsn

    @property
    def migrations(self) -> tuple[MigrationLike, ...]:
        """The migrations it knows, in version order."""
        return self._migrations

    async def open(self) -> None:
        """Connect now (it would on first use): fails fast on a bad host, login or database.

        Connecting to a SQLite file that does not exist creates it; ``status`` and ``dry_run``
        on a migrator that is not open yet do not.
        """
        if self._backend is None:
            self._backend = await open_backend(self._dsn)

    async def close(self) -> None:
        """Close the connection, if open."""
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.close()

    async def __aenter__(self) -> Migrator:
        # Lazy: status and dry runs on a SQLite file that does not exist must not create it.
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def status(self) -> list[VersionState]:
        """Each known and recorded migration with its state, by version; changes nothing."""
        return version_states(self._migrations, await self._read_rows())

    async def migrate(self, *, dry_run: bool = False) -> MigrationReport:
        """Apply every pending migration in order (``dry_run``: report them, change nothing).

        Raises ``ConflictError`` (changing nothing) when the database is newer than this dwarf
        or an applied migration was edited, and ``MigrationFailedError`` when one fails.
        """
        if dry_run:
            rows = await self._read_rows()
            pending = pending_migrations(self._migrations, rows)
            now = _version(rows)
            after = pending[-1].version if pending else now
            planned = tuple(
                VersionState(m.version, m.name, MigrationState.PENDING) for m in pending
            )
            return self._report(True, now, after, planned, pending)
        backend = await self._connected()
        applied: list[MigrationLike] = []
        before: int | None = None
        async with backend.locked(self._lock_timeout):
            await backend.ensure_table()
            while True:
                async with backend.transaction():
                    rows = await backend.read_rows()
                    pending = pending_migrations(self._migrations, rows)
                    if before is None:
                        before = _version(rows)
                    if not pending:
                        break
                    await backend.apply(pending[0], _version(rows))
                applied.append(pending[0])
            rows = await backend.read_rows()
        states = {s.version: s for s in version_states(self._migrations, rows)}
        done = tuple(states[m.version] for m in applied)
        return self._report(False, before or 0, _version(rows), done, applied)

    async def _read_rows(self) -> list[AppliedRow]:
        # Opening a SQLite file creates it: a read must not, so a missing file reads as empty.
        if self._backend is None and self._dsn.dialect == "sqlite" and not self._dsn.is_memory:
            exists, directory_exists = await asyncio.to_thread(_file_state, self._dsn.path)
            if not exists:
                if not directory_exists:
                    raise BadRequestError(
                        f"cannot open the SQLite database {self._dsn.path!r}: its directory "
                        "does not exist"
                    )
                return []
        return await (await self._connected()).read_rows()

    async def _connected(self) -> Backend:
        await self.open()
        assert self._backend is not None
        return self._backend

    def _report(
        self,
        dry_run: bool,
        before: int,
        after: int,
        states: tuple[VersionState, ...],
        migrations: Sequence[MigrationLike],
    ) -> MigrationReport:
        sql = ""
        if migrations:
            heading = f"{self._dsn.masked()}: from version {before} to {after}"
            sql = render_ddl(self._dsn.dialect, migrations, heading=heading)
        return MigrationReport(
            dialect=self._dsn.dialect,
            dsn=self._dsn.masked(),
            dry_run=dry_run,
            from_version=before,
            to_version=after,
            applied=states,
            sql=sql,
        )


async def migrate(
    dsn: Dsn | str,
    *,
    dry_run: bool = False,
    migrations: Sequence[MigrationLike] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> MigrationReport:
    """Migrate the one database ``dsn`` names (one shard); see ``Migrator.migrate``."""
    async with Migrator(dsn, migrations=migrations, lock_timeout=lock_timeout) as migrator:
        return await migrator.migrate(dry_run=dry_run)


async def status(
    dsn: Dsn | str, migrations: Sequence[MigrationLike] | None = None
) -> list[VersionState]:
    """The state of every migration in the one database ``dsn`` names; changes nothing."""
    async with Migrator(dsn, migrations=migrations) as migrator:
        return await migrator.status()


def ddl(
    dialect: str,
    from_version: int | None = None,
    to_version: int | None = None,
    *,
    migrations: Sequence[MigrationLike] | None = None,
) -> str:
    """The SQL script of migrations after ``from_version`` up to ``to_version`` (inclusive).

    It includes the ``dwarf_migrations`` table and the row each migration records, so applying
    it by hand is equivalent to ``dwarf migrate``.
    """
    name = dialect_named(dialect)
    known = default_migrations(name) if migrations is None else validate_migrations(migrations)
    latest = known[-1].version if known else 0
    start = 0 if from_version is None else from_version
    end = latest if to_version is None else to_version
    if start < 0:
        raise BadRequestError(f"--from must be 0 or more, got {start}")
    if end > latest:
        raise BadRequestError(f"there is no {name} migration {end}: the latest is {latest}")
    if start > end:
        raise BadRequestError(f"--from {start} is after --to {end}")
    chosen = [m for m in known if start < m.version <= end]
    heading = f"dwarf schema for {name}: from version {start} to {end}"
    return render_ddl(name, chosen, heading=heading)


def _file_state(path: str) -> tuple[bool, bool]:
    file = Path(path)
    return file.exists(), file.parent.is_dir()


def _version(rows: Sequence[AppliedRow]) -> int:
    return max((row.version for row in rows if row.applied_at is not None), default=0)
