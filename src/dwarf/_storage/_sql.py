"""Runtime helpers the generated accessors (``_gen/``) call; nothing else should need them.

Kept tiny and allocation-light because they sit on the hot path of every query:
- timestamps come back timezone-aware UTC in every dialect, but drivers disagree on the raw form
  (SQLite: ``YYYY-MM-DD HH:MM:SS.SSS`` text; MySQL/SQL Server: naive ``datetime`` in UTC because
  the SQL only ever writes ``UTC_TIMESTAMP``/``SYSUTCDATETIME``);
- list params (``IN (/*SLICE:x*/?)``) expand to one placeholder per item; an empty list becomes
  ``NULL``, so ``col IN (NULL)`` matches nothing, as an empty set should.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from dwarf.errors import DwarfError


def utc_from_text(value: str) -> datetime:
    """A SQLite timestamp text (always UTC by construction) as an aware UTC datetime."""
    try:
        # The offset appended: one parse and no replace(), a fifth of the time per column.
        parsed = datetime.fromisoformat(value + "+00:00")
    except ValueError:
        # The text carries its own offset (or is no timestamp, which raises here).
        return datetime.fromisoformat(value).astimezone(UTC)
    if parsed.tzinfo is None:  # a date alone: Python 3.11 drops the offset after a date
        return parsed.replace(tzinfo=UTC)
    return parsed


def utc_from_naive(value: datetime) -> datetime:
    """A driver's naive datetime (UTC by construction) as an aware UTC datetime."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@lru_cache(maxsize=512)
def in_list(marker: str, count: int) -> str:
    """``count`` placeholders joined by commas, or ``NULL`` when the list is empty."""
    if count <= 0:
        return "NULL"
    return ", ".join([marker] * count)


def missing_row(query: str) -> DwarfError:
    """The error for an insert-and-return-id statement that returned no row (a driver bug)."""
    return DwarfError(f"{query}: the database returned no row")
