"""Value types of the migrator: what a migration looks like and what a run reports.

``MigrationLike`` is structural so the generated ``dwarf._storage._gen.migrations.Migration`` and
the small made-up migrations of tests both fit without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from dwarf._storage._dsn import Dialect
from dwarf.errors import DwarfError

__all__ = [
    "MigrationFailedError",
    "MigrationLike",
    "MigrationReport",
    "MigrationState",
    "VersionState",
    "current_version",
]


class MigrationLike(Protocol):
    """One numbered schema migration for one dialect."""

    @property
    def version(self) -> int:
        """Its number, from 1; migrations apply in increasing order."""

    @property
    def name(self) -> str:
        """Its name, from the file name (``0001_flows.sql`` -> ``flows``)."""

    @property
    def statements(self) -> Sequence[str]:
        """Its SQL statements, one per element, in order."""

    @property
    def checksum(self) -> str:
        """The sha256 hex digest of its file, to detect edits after it was applied."""


class MigrationState(StrEnum):
    """Where one migration stands in one database."""

    APPLIED = "applied"
    PENDING = "pending"
    FAILED = "failed"
    """MySQL only: it started and did not finish, so it may be partially applied."""
    CHANGED = "changed"
    """Applied, but its file has changed since: the migrator refuses to run."""
    UNKNOWN = "unknown"
    """Recorded in the database but unknown to this dwarf (a newer dwarf applied it)."""


PROBLEM_STATES = frozenset({MigrationState.FAILED, MigrationState.CHANGED, MigrationState.UNKNOWN})


@dataclass(frozen=True, slots=True)
class VersionState:
    """One migration's state in one database."""

    version: int
    name: str
    state: MigrationState
    applied_at: datetime | None = None
    note: str = ""
    """A plain-language explanation for anything but ``applied`` and ``pending``."""


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What ``migrate`` did to one database (or, with ``dry_run``, would do)."""

    dialect: Dialect
    dsn: str
    """The DSN with its password masked."""
    dry_run: bool
    from_version: int
    to_version: int
    applied: tuple[VersionState, ...]
    """The migrations this run applied (with ``dry_run``: would apply), in order."""
    sql: str
    """The SQL of those migrations, as ``ddl`` prints it ("" when there is nothing to do)."""


class MigrationFailedError(DwarfError):
    """A migration's SQL failed; the message says which and what state it left."""


def current_version(states: Sequence[VersionState]) -> int:
    """The highest version fully applied (0 for an empty database)."""
    done = {MigrationState.APPLIED, MigrationState.CHANGED, MigrationState.UNKNOWN}
    applied = [s.version for s in states if s.state in done and s.applied_at is not None]
    return max(applied, default=0)
