"""Array parameters for PostgreSQL, written in one pass instead of element by element.

The group-commit statements (storage.md S12) take one array per field, an element per flow, and
psycopg's ``ListDumper`` writes an array literal element by element in Python: a dumper call,
a regular-expression search and, for every JSON document (they all hold double quotes), an
escaping substitution per element, which stood out in py-spy profiles of
``benches/profile_throughput.py --dialect postgresql``. Hand-written because
psycopg has no faster path for a flat list of plain ints or strings: this one builds the same
literal with a join, every string quoted, and leaves anything else (NULL elements, nested lists,
other types, an encoding other than UTF-8) to psycopg's own.
"""

from __future__ import annotations

from typing import Any

from psycopg.abc import Buffer
from psycopg.types.array import ListDumper

__all__ = ["FlatListDumper"]


class FlatListDumper(ListDumper):
    """``ListDumper`` with a one-pass literal for flat lists of ints or of strings."""

    def dump(self, obj: list[Any]) -> Buffer | None:
        """The array literal of ``obj``: ``{1,2}``, ``{"a","b \\" c"}``."""
        kinds = set(map(type, obj))
        if self.delimiter == b",":
            if kinds == {int}:
                return ("{" + ",".join(map(str, obj)) + "}").encode()
            if kinds == {str} and self._utf8():
                # Quoted, a backslash and a double quote escaped: the literal's only specials.
                literal = (
                    '{"'
                    + '","'.join(s.replace("\\", "\\\\").replace('"', '\\"') for s in obj)
                    + '"}'
                )
                if "\x00" not in literal:  # psycopg's own refuses it with its error
                    return literal.encode()
        return super().dump(obj)

    def _utf8(self) -> bool:
        connection = self.connection
        return connection is not None and connection.info.encoding == "utf-8"
