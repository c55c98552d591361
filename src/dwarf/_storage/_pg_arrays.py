"""Array parameters for PostgreSQL, written in one pass instead of element by element.

The group-commit statements (storage.md S12) take one array per field, an element per flow, and
psycopg's ``ListDumper`` writes an array literal element by element in Python: a dumper call,
a regular-expression search and, for every JSON document (they all hold double quotes), an
escaping substitution per element, which stood out in py-spy profiles of
``benches/profile_throughput.py --dialect postgresql``. Hand-written because
psycopg has no faster path for a flat list of plain ints or strings: this one builds the same
literal with a join, every string quoted, and leaves anything else (NULL elements, nested lists,
other types, an encoding other than UTF-8) to psycopg's own.

It also skips psycopg's choice of an array type per list: for every list parameter of every
statement, ``ListDumper`` scans the elements (their types; for ints, the largest, to pick int2,
int4 or int8) and, on a new cursor's first list of each kind, builds a dumper for it, which
py-spy and cProfile showed as a tenth of the client's CPU on PostgreSQL's batch statements. Every
array parameter in ``sql/queries/postgresql`` carries its own cast (``::bigint[]``), so this one
dumper serves every list and sends its literal untyped: the server takes the type from the
cast, and a prepared statement sees the same parameter types whatever the lists hold.
"""

from __future__ import annotations

import math
from typing import Any

from psycopg.abc import Buffer, DumperKey
from psycopg.adapt import PyFormat
from psycopg.types.array import ListDumper

__all__ = ["FlatListDumper"]


class FlatListDumper(ListDumper):
    """``ListDumper`` with a one-pass literal for flat lists of ints, floats or strings.

    One instance serves every list of a cursor (``get_key`` and ``upgrade``), with no type of
    its own (``oid`` 0): the statement's cast types the parameter.
    """

    def get_key(self, obj: list[Any], format: PyFormat) -> DumperKey:
        """Every list: the same key, so psycopg never looks for a dumper per element type."""
        return self.cls

    def upgrade(self, obj: list[Any], format: PyFormat) -> FlatListDumper:
        """This dumper, for every list."""
        return self

    def dump(self, obj: list[Any]) -> Buffer | None:
        """The array literal of ``obj``: ``{1,2}``, ``{0.5,2.0}``, ``{"a","b \\" c"}``."""
        if self.sub_dumper is None:  # not one of psycopg's own, made for a fallback below
            kinds = set(map(type, obj))
            if kinds == {int}:
                return ("{" + ",".join(map(str, obj)) + "}").encode()
            if kinds == {float} and all(map(math.isfinite, obj)):
                return ("{" + ",".join(map(repr, obj)) + "}").encode()
            if kinds == {str} and self._utf8():
                # Quoted, a backslash and a double quote escaped: the literal's only specials.
                literal = (
                    '{"'
                    + '","'.join(s.replace("\\", "\\\\").replace('"', '\\"') for s in obj)
                    + '"}'
                )
                if "\x00" not in literal:  # psycopg's own refuses it with its error
                    return literal.encode()
            if not obj:
                return b"{}"
            # NULL elements, nested lists, other types: psycopg's own dumper for this list
            # (none, for a list of NULLs alone: this one, as psycopg's base dumper).
            dumper = ListDumper.upgrade(self, obj, PyFormat.TEXT)
            if dumper is not self:
                return dumper.dump(obj)
        return super().dump(obj)

    def _utf8(self) -> bool:
        connection = self.connection
        return connection is not None and connection.info.encoding == "utf-8"
