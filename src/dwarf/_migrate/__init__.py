"""Schema migrations: apply, inspect and print dwarf's numbered SQL migrations per database.

``migrate`` brings one database (one shard) up to date under a database lock, refusing to touch
a database that is newer than this dwarf or whose applied migrations were edited; ``status``
reports without changing anything; ``ddl`` prints the script for a DBA to review. The engine
calls ``migrate`` for each shard at startup; ``dwarf migrate`` is the command-line front end.
"""

from __future__ import annotations

from dwarf._migrate._migrator import (
    DEFAULT_LOCK_TIMEOUT,
    Migrator,
    ddl,
    default_migrations,
    migrate,
    status,
)
from dwarf._migrate._types import (
    MigrationFailedError,
    MigrationLike,
    MigrationReport,
    MigrationState,
    VersionState,
    current_version,
)

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "MigrationFailedError",
    "MigrationLike",
    "MigrationReport",
    "MigrationState",
    "Migrator",
    "VersionState",
    "current_version",
    "ddl",
    "default_migrations",
    "migrate",
    "status",
]
