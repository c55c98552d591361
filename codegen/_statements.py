"""Schema files split into the statements the migrator runs, and the text sqlc is given.

A statement ends with ``;`` at the end of a line, outside literals and comments. On MySQL a
``DELIMITER $$`` line makes ``$$`` end the statements after it, until ``DELIMITER ;``, as in the
mysql client: a stored procedure's body holds ``;`` of its own. sqlc cannot parse a procedure,
so it gets MySQL's schema without those blocks.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from codegen._sqltext import Dialect, Token, lex

__all__ = ["split_statements", "without_delimiter_blocks"]

_DELIMITER = re.compile(r"^[ \t]*DELIMITER[ \t]+(\S+)[ \t]*$", re.IGNORECASE | re.MULTILINE)


def split_statements(sql: str, dialect: Dialect) -> list[str]:
    """Split a schema file on ``;`` that ends a line (outside literals and comments).

    Each statement is trimmed and keeps its inner text verbatim (comments included); statements
    that hold nothing but comments and whitespace are dropped. On MySQL, a ``DELIMITER $$`` line
    makes ``$$`` end the statements after it, until ``DELIMITER ;``, as in the mysql client:
    a stored procedure's body holds ``;`` of its own.
    """
    if dialect != "mysql":
        return _split_on(sql, dialect, ";")
    statements: list[str] = []
    delimiter, start = ";", 0
    for m in _DELIMITER.finditer(sql):
        statements.extend(_split_on(sql[start : m.start()], dialect, delimiter))
        delimiter, start = m.group(1), m.end()
    statements.extend(_split_on(sql[start:], dialect, delimiter))
    return statements


def without_delimiter_blocks(sql: str) -> str:
    """MySQL schema text without its ``DELIMITER`` blocks (each line kept, emptied).

    sqlc cannot parse a stored procedure; what it needs of a schema (tables and columns) is
    never inside one.
    """
    out: list[str] = []
    inside = False
    for line in sql.split("\n"):
        m = _DELIMITER.match(line)
        if m:
            inside = m.group(1) != ";"
        out.append("" if inside or m else line)
    return "\n".join(out)


def _split_on(sql: str, dialect: Dialect, delimiter: str) -> list[str]:
    """Statements of ``sql`` ended by ``delimiter`` at the end of a line, outside literals and
    comments (the lexer raises on a literal or comment left open, say by a misplaced
    ``DELIMITER`` line)."""
    tokens = lex(sql, dialect)
    statements: list[str] = []
    current: list[Token] = []
    index = 0
    while index < len(tokens):
        width = _delimiter_at(tokens, index, delimiter)
        if width and _ends_line(tokens, index + width):
            statements.append(_finish(current))
            current = []
            index += width
        else:
            current.append(tokens[index])
            index += 1
    statements.append(_finish(current))
    return [s for s in statements if s]


def _delimiter_at(tokens: Sequence[Token], index: int, delimiter: str) -> int:
    """How many tokens from ``index`` spell ``delimiter`` (0: they do not)."""
    text = ""
    for width, tok in enumerate(itertools.islice(tokens, index, None), start=1):
        if tok.kind in ("string", "comment", "ws"):
            return 0
        text += tok.text
        if text == delimiter:
            return width
        if not delimiter.startswith(text):
            return 0
    return 0


def _ends_line(tokens: Sequence[Token], start: int) -> bool:
    for tok in tokens[start:]:
        if tok.kind == "ws":
            if "\n" in tok.text:
                return True
            continue
        return tok.kind == "comment" and tok.text.startswith("--")
    return True


def _finish(tokens: Sequence[Token]) -> str:
    if all(t.kind in ("ws", "comment") for t in tokens):
        return ""
    return "".join(t.text for t in tokens).strip()
