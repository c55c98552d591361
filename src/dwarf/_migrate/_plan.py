"""Compare the migrations this dwarf knows with those a database has recorded (pure, no I/O).

The rules, in the order they are checked, so that a refusal changes nothing:

1. A recorded version above every known one means a newer dwarf migrated this database:
   refuse ("database is at version N, newer than this dwarf (M)").
2. Any other recorded version this dwarf does not know: refuse.
3. A finished migration whose checksum differs from the file: refuse ("migration N (name) was
   changed after it was applied"). Editing an applied migration never reaches the database, so
   the schema would silently differ from what the code expects.
4. Everything else not finished is pending, in version order. A MySQL migration that started
   and failed is pending again (with whatever checksum the file has now, since fixing the file
   is the expected remedy).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dwarf._migrate._types import MigrationLike, MigrationState, VersionState
from dwarf.errors import ConflictError, DwarfError

__all__ = ["AppliedRow", "pending_migrations", "validate_migrations", "version_states"]

PARTIAL_NOTE = (
    "failed part-way: MySQL cannot roll back DDL, so this migration may be partially applied; "
    "inspect the schema, then run dwarf migrate again"
)


@dataclass(frozen=True, slots=True)
class AppliedRow:
    """One row of ``dwarf_migrations``; ``applied_at`` is None while (or after failing) midway."""

    version: int
    name: str
    checksum: str
    applied_at: datetime | None


def validate_migrations(migrations: Iterable[MigrationLike]) -> tuple[MigrationLike, ...]:
    """The migrations sorted by version; raise ``DwarfError`` if the list itself is broken."""
    ordered = tuple(sorted(migrations, key=lambda m: m.version))
    seen: set[int] = set()
    for migration in ordered:
        if migration.version < 1:
            raise DwarfError(
                f"migration {migration.name!r} has version {migration.version}: use 1+"
            )
        if migration.version in seen:
            raise DwarfError(f"migration version {migration.version} appears more than once")
        seen.add(migration.version)
    return ordered


def version_states(
    migrations: Sequence[MigrationLike], rows: Sequence[AppliedRow]
) -> list[VersionState]:
    """Every known and every recorded migration with its state, by version."""
    recorded = {row.version: row for row in rows}
    latest = max((m.version for m in migrations), default=0)
    states: list[VersionState] = []
    for migration in migrations:
        row = recorded.pop(migration.version, None)
        states.append(_known_state(migration, row))
    for row in recorded.values():
        note = (
            f"recorded in the database but unknown to this dwarf (whose latest is {latest}): "
            "a newer dwarf applied it"
        )
        states.append(
            VersionState(row.version, row.name, MigrationState.UNKNOWN, row.applied_at, note)
        )
    return sorted(states, key=lambda s: s.version)


def pending_migrations(
    migrations: Sequence[MigrationLike], rows: Sequence[AppliedRow]
) -> list[MigrationLike]:
    """The migrations still to apply, in order; ``ConflictError`` if the database refuses."""
    known = {m.version: m for m in migrations}
    latest = max(known, default=0)
    newest = max((row.version for row in rows if row.applied_at is not None), default=0)
    if newest > latest:
        raise ConflictError(
            f"database is at version {newest}, newer than this dwarf ({latest}): "
            "upgrade dwarf instead of migrating"
        )
    for row in rows:
        migration = known.get(row.version)
        if migration is None:
            raise ConflictError(
                f"the database has migration {row.version} ({row.name}), which this dwarf "
                "does not know"
            )
        if row.applied_at is not None and row.checksum != migration.checksum:
            raise ConflictError(
                f"migration {row.version} ({migration.name}) was changed after it was applied: "
                "restore the original file, or add a new migration for the change"
            )
    finished = {row.version for row in rows if row.applied_at is not None}
    return [m for m in migrations if m.version not in finished]


def _known_state(migration: MigrationLike, row: AppliedRow | None) -> VersionState:
    if row is None:
        return VersionState(migration.version, migration.name, MigrationState.PENDING)
    if row.applied_at is None:
        return VersionState(
            migration.version, migration.name, MigrationState.FAILED, None, PARTIAL_NOTE
        )
    if row.checksum != migration.checksum:
        note = "its file was changed after it was applied: dwarf migrate refuses to run"
        return VersionState(
            migration.version, migration.name, MigrationState.CHANGED, row.applied_at, note
        )
    return VersionState(migration.version, migration.name, MigrationState.APPLIED, row.applied_at)
