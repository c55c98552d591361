"""A small SQL lexer: just enough to find placeholders, slices and select lists safely.

The generator never rewrites SQL semantics. It needs to (1) find parameter placeholders outside
string literals and comments, (2) drop comments and collapse whitespace so the emitted constants are
compact and deterministic, (3) lex migration files for ``_statements`` to split into statements,
and (4) name the items of a top-level select list (SQL Server has no sqlc, and the PostgreSQL
reference needs to see which result columns are computed expressions).

Quoting rules differ per dialect and matter: MySQL strings honour backslash escapes, SQL Server
brackets identifiers, PostgreSQL ``$1`` is a placeholder while ``?`` is an operator. A lexer that
ignored these would turn a ``?`` or ``%`` inside a literal into a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

Dialect = Literal["postgresql", "mysql", "sqlite", "sqlserver"]
TokenKind = Literal["string", "comment", "slice", "ws", "param", "word", "punct"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_SLICE = re.compile(r"/\*SLICE:([A-Za-z_][A-Za-z0-9_]*)\*/")


class SqlTextError(ValueError):
    """SQL text the generator cannot interpret (unterminated literal, stray placeholder...)."""


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical unit; ``text`` is the exact source text."""

    kind: TokenKind
    text: str


def _string_end(sql: str, start: int, quote: str, backslash: bool) -> int:
    """Index just past the literal that opens at ``start`` with ``quote``."""
    i = start + 1
    n = len(sql)
    closing = "]" if quote == "[" else quote
    while i < n:
        ch = sql[i]
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == closing:
            if i + 1 < n and sql[i + 1] == closing:
                i += 2  # a doubled closing quote (or ]]) is an escaped one
                continue
            return i + 1
        i += 1
    raise SqlTextError(f"unterminated {quote} literal starting at offset {start}")


def lex(sql: str, dialect: Dialect) -> list[Token]:
    """Split ``sql`` into tokens under ``dialect``'s quoting and placeholder rules."""
    tokens: list[Token] = []
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch.isspace():
            j = i + 1
            while j < n and sql[j].isspace():
                j += 1
            tokens.append(Token("ws", sql[i:j]))
            i = j
        elif ch == "-" and nxt == "-":
            j = sql.find("\n", i)
            j = n if j < 0 else j
            tokens.append(Token("comment", sql[i:j]))
            i = j
        elif ch == "/" and nxt == "*":
            m = _SLICE.match(sql, i)
            if m:
                tokens.append(Token("slice", m.group(1)))
                i = m.end()
                continue
            j = sql.find("*/", i + 2)
            if j < 0:
                raise SqlTextError(f"unterminated /* comment at offset {i}")
            tokens.append(Token("comment", sql[i : j + 2]))
            i = j + 2
        elif ch == "'" or (ch in "eEnN" and nxt == "'"):
            start = i if ch == "'" else i + 1
            backslash = dialect == "mysql" or (dialect == "postgresql" and ch in "eE")
            j = _string_end(sql, start, "'", backslash)
            tokens.append(Token("string", sql[i:j]))
            i = j
        elif ch == '"' or ch == "`" or (ch == "[" and dialect in ("sqlserver", "sqlite")):
            j = _string_end(sql, i, ch, dialect == "mysql" and ch == '"')
            tokens.append(Token("string", sql[i:j]))
            i = j
        elif dialect == "postgresql" and ch == "$" and nxt.isdigit():
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            tokens.append(Token("param", sql[i:j]))
            i = j
        elif dialect in ("mysql", "sqlite") and ch == "?":
            j = i + 1
            while dialect == "sqlite" and j < n and sql[j].isdigit():
                j += 1
            tokens.append(Token("param", sql[i:j]))
            i = j
        elif dialect == "sqlserver" and ch == "@" and nxt == "@":
            m = _WORD.match(sql, i + 2)
            j = m.end() if m else i + 2
            tokens.append(Token("word", sql[i:j]))  # @@ROWCOUNT & co. are functions
            i = j
        elif dialect == "sqlserver" and ch == "@":
            m = _WORD.match(sql, i + 1)
            if not m:
                raise SqlTextError(f"bare @ at offset {i}")
            tokens.append(Token("param", sql[i : m.end()]))
            i = m.end()
        else:
            m = _WORD.match(sql, i)
            if m:
                tokens.append(Token("word", m.group(0)))
                i = m.end()
            else:
                tokens.append(Token("punct", ch))
                i += 1
    return tokens


def compact(tokens: Sequence[Token]) -> list[Token]:
    """Drop comments and collapse whitespace to single spaces (none at the ends)."""
    out: list[Token] = []
    for tok in tokens:
        if tok.kind in ("comment", "ws"):
            if out and out[-1].kind != "ws":
                out.append(Token("ws", " "))
            continue
        out.append(tok)
    while out and out[-1].kind == "ws":
        out.pop()
    while out and out[0].kind == "ws":
        out.pop(0)
    return out


def strip_statement_terminator(tokens: list[Token]) -> list[Token]:
    """Remove a trailing ``;`` (sqlc strips it; hand-written SQL Server text keeps it)."""
    while tokens and (tokens[-1].kind == "ws" or tokens[-1].text == ";"):
        tokens = tokens[:-1]
    return tokens


# ----------------------------------------------------------------------------------------------
# Select lists


@dataclass(frozen=True, slots=True)
class SelectItem:
    """One result expression of a top-level SELECT / RETURNING / OUTPUT list."""

    expr: tuple[Token, ...]
    name: str | None

    @property
    def qualifier(self) -> str | None:
        """``s`` for ``s.task_name``; None for unqualified or computed expressions."""
        sig = [t for t in self.expr if t.kind != "ws"]
        if len(sig) == 3 and sig[1].text == "." and sig[0].kind in ("word", "string"):
            return unquote(sig[0].text).lower()
        return None

    @property
    def is_column(self) -> bool:
        """True when the expression is a (possibly qualified) bare column reference."""
        sig = [t for t in self.expr if t.kind != "ws"]
        if not sig or len(sig) % 2 == 0:
            return False
        for k, tok in enumerate(sig):
            if k % 2 == 1:
                if tok.text != ".":
                    return False
            elif not (_is_identifier(tok) or (tok.kind == "string" and tok.text[0] in '"`[')):
                return False
        return True


_ENDS_SELECT = {"from", "into", "where", "group", "order", "limit", "union", "having", "offset"}
_ENDS_OUTPUT = {"values", "from", "where", "select", "default", "into"}
_KEYWORDS = {
    "select",
    "from",
    "where",
    "as",
    "and",
    "or",
    "not",
    "null",
    "case",
    "when",
    "then",
    "else",
    "end",
    "distinct",
    "is",
    "in",
    "on",
}


def _is_identifier(tok: Token) -> bool:
    return tok.kind == "word" and not tok.text[0].isdigit() and tok.text.lower() not in _KEYWORDS


def unquote(text: str) -> str:
    """``"x"`` / ```x``` / ``[x]`` -> ``x``; anything else unchanged."""
    if len(text) >= 2 and text[0] in '"`[':
        return text[1:-1]
    return text


def _depth_zero(tokens: Sequence[Token]) -> Iterator[tuple[int, Token]]:
    depth = 0
    for index, tok in enumerate(tokens):
        if tok.kind == "punct" and tok.text == "(":
            depth += 1
        elif tok.kind == "punct" and tok.text == ")":
            depth -= 1
        elif depth == 0:
            yield index, tok


def select_items(tokens: Sequence[Token], dialect: Dialect) -> list[SelectItem] | None:
    """The result list of the statement, or None when it has none (plain DML)."""
    start: int | None = None
    stop_words: set[str] = _ENDS_SELECT
    for index, tok in _depth_zero(tokens):
        word = tok.text.lower() if tok.kind == "word" else ""
        if start is None:
            if word == "select":
                start = _skip_select_modifiers(tokens, index + 1)
                stop_words = _ENDS_SELECT
            elif word == "returning":
                start = index + 1
                stop_words = set()
            elif word == "output" and dialect == "sqlserver":
                start = index + 1
                stop_words = _ENDS_OUTPUT
            continue
        if index >= start and word in stop_words:
            return _items(tokens[start:index], dialect)
    if start is None:
        return None
    return _items(tokens[start:], dialect)


def _skip_select_modifiers(tokens: Sequence[Token], index: int) -> int:
    def skip_ws(i: int) -> int:
        while i < len(tokens) and tokens[i].kind == "ws":
            i += 1
        return i

    index = skip_ws(index)
    while index < len(tokens) and tokens[index].text.lower() in ("distinct", "all", "top"):
        top = tokens[index].text.lower() == "top"
        index = skip_ws(index + 1)
        if top and index < len(tokens):
            if tokens[index].text == "(":
                depth = 0
                while index < len(tokens):
                    depth += {"(": 1, ")": -1}.get(tokens[index].text, 0)
                    index += 1
                    if depth == 0:
                        break
            else:
                index += 1
            index = skip_ws(index)
    return index


def _items(tokens: Sequence[Token], dialect: Dialect) -> list[SelectItem]:
    items: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "punct" and tok.text in "()":
            depth += 1 if tok.text == "(" else -1
        if depth == 0 and tok.kind == "punct" and tok.text == ",":
            items.append([])
        else:
            items[-1].append(tok)
    return [_item(t, dialect) for t in items]


def _item(tokens: list[Token], dialect: Dialect) -> SelectItem:
    at = [i for i, t in enumerate(tokens) if t.kind != "ws"]
    sig = [tokens[i] for i in at]
    if len(sig) >= 3 and sig[-2].kind == "word" and sig[-2].text.lower() == "as":
        # ``expr AS name``
        return SelectItem(tuple(tokens[at[0] : at[-2]]), unquote(sig[-1].text))
    if dialect == "sqlserver" and len(sig) >= 3 and sig[1].text == "=" and _is_identifier(sig[0]):
        # SQL Server ``name = expr``
        return SelectItem(tuple(tokens[at[2] : at[-1] + 1]), unquote(sig[0].text))
    item = SelectItem(tuple(tokens[at[0] : at[-1] + 1]) if at else (), None)
    if item.is_column:
        return SelectItem(item.expr, unquote(sig[-1].text))
    return item


def left_joined_aliases(tokens: Sequence[Token]) -> set[str]:
    """Aliases (or table names) introduced by a top-level ``LEFT [OUTER] JOIN``."""
    sig = [(i, t) for i, t in _depth_zero(tokens) if t.kind != "ws"]
    found: set[str] = set()
    for k, (_, tok) in enumerate(sig):
        if tok.kind != "word" or tok.text.lower() != "left":
            continue
        j = k + 1
        if j < len(sig) and sig[j][1].text.lower() == "outer":
            j += 1
        if j >= len(sig) or sig[j][1].text.lower() != "join" or j + 1 >= len(sig):
            continue
        table = unquote(sig[j + 1][1].text).lower()
        alias = table
        j += 2
        if j < len(sig) and sig[j][1].text.lower() == "as":
            j += 1
        if j < len(sig) and _is_identifier(sig[j][1]) and sig[j][1].text.lower() != "on":
            alias = unquote(sig[j][1].text).lower()
        found.add(alias)
    return found


_AGGREGATES = {"max", "min", "sum", "avg"}
_NON_NULL_WRAPPERS = {"count", "coalesce", "ifnull", "isnull"}


def unwrap_casts(expr: Sequence[Token]) -> tuple[list[Token], bool]:
    """Strip outer parentheses and casts; also report whether a cast was present."""
    sig = [t for t in expr if t.kind != "ws"]
    cast = False
    changed = True
    while changed and sig:
        changed = False
        # expr::type (possibly ``::type[]`` or ``::double precision``)
        for k in range(len(sig) - 1, 0, -1):
            if sig[k].text == ":" and sig[k - 1].text == ":" and _at_depth_zero(sig, k):
                sig = sig[: k - 1]
                cast = changed = True
                break
        if changed:
            continue
        if _wraps(sig, 0):
            sig = sig[1:-1]
            changed = True
        elif len(sig) >= 4 and sig[0].text.lower() in ("cast", "convert") and _wraps(sig, 1):
            inner = sig[2:-1]
            if sig[0].text.lower() == "convert":
                comma = [
                    i for i, t in enumerate(inner) if t.text == "," and _at_depth_zero(inner, i)
                ]
                sig = inner[comma[0] + 1 :] if comma else inner
            else:
                as_at = [
                    i
                    for i, t in enumerate(inner)
                    if t.text.lower() == "as" and _at_depth_zero(inner, i)
                ]
                sig = inner[: as_at[-1]] if as_at else inner
            cast = changed = True
    return sig, cast


def _at_depth_zero(tokens: Sequence[Token], index: int) -> bool:
    depth = 0
    for tok in tokens[:index]:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
    return depth == 0


def _wraps(sig: Sequence[Token], open_at: int) -> bool:
    """True when sig[open_at] is ``(`` whose matching ``)`` is the last token."""
    if len(sig) <= open_at or sig[open_at].text != "(" or sig[-1].text != ")":
        return False
    depth = 0
    for k in range(open_at, len(sig)):
        depth += {"(": 1, ")": -1}.get(sig[k].text, 0)
        if depth == 0:
            return k == len(sig) - 1
    return False


def outer_function(sig: Sequence[Token]) -> str | None:
    """Lower-cased name of the function call that spans the whole expression, if any."""
    if len(sig) >= 3 and sig[0].kind == "word" and _wraps(sig, 1):
        return sig[0].text.lower()
    return None


def literal_kind(sig: Sequence[Token]) -> Literal["int", "float", "str"] | None:
    """The type of an expression that is a bare literal, if it is one."""
    if len(sig) == 2 and sig[0].text == "-":
        sig = sig[1:]
    if len(sig) != 1:
        return None
    text = sig[0].text
    if sig[0].kind == "string" and text[0] in "'nNeE":
        return "str"
    if sig[0].kind == "word" and text[0].isdigit():
        return "float" if any(c in text for c in ".eE") else "int"
    return None


def scalar_subquery(sig: Sequence[Token], dialect: Dialect) -> SelectItem | None:
    """The single result item of ``SELECT x FROM ...`` (``sig`` already unwrapped), if it is one."""
    if not sig or sig[0].text.lower() != "select":
        return None
    items = select_items(sig, dialect)
    return items[0] if items is not None and len(items) == 1 else None


def may_be_null(expr: Sequence[Token], dialect: Dialect) -> bool | None:
    """Nullability of a computed expression that sqlc cannot judge, or None to trust sqlc.

    Aggregates other than COUNT return NULL over an empty set and a scalar subquery returns NULL
    when it finds no row, yet sqlc reports them NOT NULL; COUNT / COALESCE / literals never are.
    """
    sig, _ = unwrap_casts(expr)
    inner = scalar_subquery(sig, dialect)
    if inner is not None:
        inner_sig, _ = unwrap_casts(inner.expr)
        grouped = any(t.text.lower() == "group" for _, t in _depth_zero(sig))
        return grouped or outer_function(inner_sig) != "count"
    if outer_function(sig) in _NON_NULL_WRAPPERS or literal_kind(sig) is not None:
        return False
    for k, tok in enumerate(sig[:-1]):
        following = sig[k + 1].text
        if tok.kind == "word" and tok.text.lower() in _AGGREGATES and following == "(":
            return True
        if tok.text == "(" and following.lower() == "select":
            return True
    return None
