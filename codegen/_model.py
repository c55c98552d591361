"""The generator's intermediate model: queries with Python-typed params and columns.

Each dialect's input (sqlc JSON or hand-parsed T-SQL) is loaded into ``Query`` values; the parity
step then resolves unknown types against the PostgreSQL reference, and the emitters render the
resolved values. Keeping the model free of sqlc's JSON shape keeps the SQL Server path identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from codegen._sqltext import Dialect

PyBase = Literal["int", "float", "str", "datetime", "bool", "Status"]
Kind = Literal[":one", ":many", ":exec", ":execrows", ":execlastid"]
KINDS: tuple[Kind, ...] = (":one", ":many", ":exec", ":execrows", ":execlastid")
DIALECTS: tuple[Dialect, ...] = ("postgresql", "mysql", "sqlite", "sqlserver")
REFERENCE: Dialect = "postgresql"
# A query whose documentation opens with this is a fast path: one statement standing in for a
# transaction of portable queries. Other dialects may leave it out; the engine then falls back.
FAST_PATH_MARK = "Fast path"


class GenerationError(Exception):
    """The inputs cannot be turned into accessors; the message names the query and field."""


@dataclass(frozen=True, slots=True)
class PyType:
    """A Python type for a param or column; ``nullable`` adds ``| None``."""

    base: PyBase
    nullable: bool = False

    @property
    def annotation(self) -> str:
        """The annotation text, e.g. ``datetime | None``."""
        return f"{self.base} | None" if self.nullable else self.base


@dataclass(frozen=True, slots=True)
class Param:
    """A keyword-only accessor argument; ``is_list`` makes it ``Sequence[base]``."""

    name: str
    type: PyType | None  # None: the dialect could not tell; resolved from the reference
    is_list: bool
    # "limit"/"offset" for a bare ``LIMIT ?`` that sqlc named itself (its MySQL parser rejects
    # sqlc.arg there); parity renames it after the reference's LIMIT/OFFSET param.
    role: str | None = None

    @property
    def annotation(self) -> str:
        """The annotation text of the resolved param."""
        assert self.type is not None
        base = self.type.annotation
        return f"Sequence[{base}]" if self.is_list else base


@dataclass(frozen=True, slots=True)
class Column:
    """One result column; ``computed`` columns are converted to their Python type per row."""

    name: str
    type: PyType | None  # None: unknown here; resolved from the reference (or an override)
    computed: bool


@dataclass(frozen=True, slots=True)
class Ref:
    """A placeholder occurrence in the SQL text; slices expand to one placeholder per item."""

    name: str
    is_slice: bool


Segment = str | Ref


@dataclass(frozen=True, slots=True)
class Query:
    """One named query of one dialect."""

    name: str
    kind: Kind
    dialect: Dialect
    source: str
    params: tuple[Param, ...]
    template: tuple[Segment, ...]
    columns: tuple[Column, ...]
    is_insert: bool
    comments: tuple[str, ...]

    @property
    def optional(self) -> bool:
        """True for a fast path (its comments open with ``FAST_PATH_MARK``)."""
        return bool(self.comments) and self.comments[0].startswith(FAST_PATH_MARK)

    @property
    def returns_insert_id(self) -> bool:
        """True for insert-and-return-id queries, whatever the dialect's mechanism."""
        if self.kind == ":execlastid":
            return True
        return self.kind == ":one" and self.is_insert and len(self.columns) == 1
