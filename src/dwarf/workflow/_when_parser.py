"""Text to tree for the ``when`` language: the tokenizer and the recursive-descent parser.

Both are total over any text: a problem is reported as ``Malformed`` naming the 1-based position,
which ``compile_when`` turns into one ``BadRequestError``. The grammar and the constraints behind
it are in the ``_when`` module docstring.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

from dwarf.workflow._when_tree import And, Compare, Literal, Node, Not, Or, Path

__all__ = ["Malformed", "parse", "quoted"]

# Each '(' costs about five parser frames; 64 levels stays far below Python's default recursion
# limit even when the caller is already deep in an asyncio stack. Real expressions use a few.
_MAX_NESTING: Final = 64
# Longer expressions are cut in error messages so a huge input cannot flood a log line.
_MAX_SHOWN: Final = 100

_PATH_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
_NUMBER_RE: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")
_CANONICAL_INT_RE: Final = re.compile(r"0|[1-9][0-9]*")

_COMPARISONS: Final = frozenset({"==", "!=", "<", "<=", ">", ">=", "=~", "!~"})
_TWO_CHAR_OPS: Final = frozenset({"==", "!=", "<=", ">=", "=~", "!~", "&&", "||"})
_ONE_CHAR_OPS: Final = frozenset({"<", ">", "!", "(", ")"})
# Keyword spellings map to the canonical operator; literals map to their value.
_WORD_OPS: Final = {"and": "&&", "or": "||", "not": "!"}
_WORD_LITERALS: Final[dict[str, bool | None]] = {"true": True, "false": False, "null": None}
_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "`": "`", "n": "\n", "t": "\t"}
_QUOTES: Final = frozenset("'\"`")
_HINTS: Final = {"=": "==", "&": "&&", "|": "||"}


class Malformed(Exception):
    """Internal: a syntax error; ``compile_when`` turns it into one ``BadRequestError``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# ---------------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "literal", "path", "op", "end"
    text: str  # as written (for messages); for "op" the canonical operator
    pos: int  # 0-based offset into the source
    value: Any = None  # the literal's value
    written: str = ""  # for "op": the spelling used ("and", "&&", ...)

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the expression"
        return quoted(self.written or self.text)


def _at(pos: int) -> str:
    return f"at position {pos + 1}"


def quoted(text: str) -> str:
    """Quote ``text`` for a message, cut short so a huge input cannot flood a log line."""
    if len(text) > _MAX_SHOWN:
        return repr(text[:_MAX_SHOWN]) + "..."
    return repr(text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _QUOTES:
            string, end = _read_string(text, i)
            tokens.append(_Token("literal", text[i:end], i, string))
            i = end
            continue
        if ch == "-" or (ch.isascii() and ch.isdigit()):
            number, end = _read_number(text, i)
            tokens.append(_Token("literal", text[i:end], i, number))
            i = end
            continue
        match = _PATH_RE.match(text, i)
        if match:
            word, end = match.group(), match.end()
            if end < n and text[end] == ".":
                raise Malformed(f"invalid path {quoted(text[i : end + 1])} {_at(i)}")
            lower = word.lower()
            if lower in _WORD_OPS:
                tokens.append(_Token("op", _WORD_OPS[lower], i, written=word))
            elif lower in _WORD_LITERALS:
                tokens.append(_Token("literal", word, i, _WORD_LITERALS[lower]))
            else:
                tokens.append(_Token("path", word, i, tuple(word.split("."))))
            i = end
            continue
        pair = text[i : i + 2]
        if pair in _TWO_CHAR_OPS:
            tokens.append(_Token("op", pair, i, written=pair))
            i += 2
            continue
        if ch in _ONE_CHAR_OPS:
            tokens.append(_Token("op", ch, i, written=ch))
            i += 1
            continue
        hint = f" (did you mean {_HINTS[ch]!r}?)" if ch in _HINTS else ""
        raise Malformed(f"unexpected character {ch!r} {_at(i)}{hint}")
    tokens.append(_Token("end", "", n))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i, n = start + 1, len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            # An unknown escape keeps its backslash so regex classes like '\d' need no doubling.
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    raise Malformed(f"unterminated string starting {_at(start)}")


def _read_number(text: str, start: int) -> tuple[int | float, int]:
    match = _NUMBER_RE.match(text, start)
    if match is None:  # a '-' not followed by a digit
        raise Malformed(f"'-' must be followed by a digit {_at(start)}")
    end = match.end()
    if end < len(text) and text[end] in _WORD_CHARS:
        stop = end
        while stop < len(text) and text[stop] in _WORD_CHARS:
            stop += 1
        raise Malformed(f"invalid number {quoted(text[start:stop])} {_at(start)}")
    literal = match.group()
    if "." not in literal and "e" not in literal and "E" not in literal:
        try:
            return int(literal), end
        except ValueError:  # beyond sys.get_int_max_str_digits()
            raise Malformed(f"integer with too many digits {_at(start)}") from None
    number = float(literal)
    if not math.isfinite(number):
        raise Malformed(f"number {quoted(literal)} {_at(start)} is out of range")
    return number, end


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0

    def parse(self) -> Node:
        if self._peek().kind == "end":
            raise Malformed("the expression is empty")
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            if token.text == ")":
                raise Malformed(f"unexpected ')' {_at(token.pos)} with no matching '('")
            raise Malformed(
                f"expected an operator or the end {_at(token.pos)}, found {token.describe()}"
            )
        return node

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        self._index += 1
        return token

    def _at_op(self, *ops: str) -> bool:
        token = self._peek()
        return token.kind == "op" and token.text in ops

    def _or(self) -> Node:
        operands = [self._and()]
        while self._at_op("||"):
            self._next()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self) -> Node:
        operands = [self._comparison()]
        while self._at_op("&&"):
            self._next()
            operands.append(self._comparison())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _comparison(self) -> Node:
        left = self._unary()
        if not self._at_op(*_COMPARISONS):
            return left
        op = self._next()
        right_start = self._peek()
        right = self._unary()
        if self._at_op(*_COMPARISONS):
            second = self._peek()
            raise Malformed(
                f"comparisons cannot be chained: {second.text!r} {_at(second.pos)} follows "
                f"{op.text!r} {_at(op.pos)}; join them with '&&'"
            )
        pattern = None
        is_regex = op.text in ("=~", "!~")
        if is_regex and isinstance(right, Literal) and isinstance(right.constant, str):
            pattern = _compile_literal_pattern(right.constant, right_start.pos)
        return Compare(op.text, left, right, pattern)

    def _unary(self) -> Node:
        negations = 0
        while self._at_op("!"):
            self._next()
            negations += 1
        operand = self._primary()
        if negations == 0:
            return operand
        # Only the parity matters; '!!x' keeps one extra '!' so the result is still a bool.
        return Not(operand) if negations % 2 else Not(Not(operand))

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "literal":
            return Literal(token.value)
        if token.kind == "path":
            segments: tuple[str, ...] = token.value
            return Path(segments, _canonical_int(segments[-1]))
        if token.kind == "op" and token.text == "(":
            self._depth += 1
            if self._depth > _MAX_NESTING:
                raise Malformed(
                    f"parentheses nested more than {_MAX_NESTING} deep {_at(token.pos)}"
                )
            inner = self._or()
            closing = self._next()
            if closing.kind != "op" or closing.text != ")":
                raise Malformed(
                    f"'(' {_at(token.pos)} is not closed: expected ')' {_at(closing.pos)}, "
                    f"found {closing.describe()}"
                )
            self._depth -= 1
            return inner
        if token.kind == "end":
            raise Malformed(f"expected an operand {_at(token.pos)}")
        raise Malformed(f"expected an operand {_at(token.pos)}, found {token.describe()}")


def _canonical_int(segment: str) -> int | None:
    if not _CANONICAL_INT_RE.fullmatch(segment):
        return None
    try:
        return int(segment)
    except ValueError:  # beyond sys.get_int_max_str_digits(): no JSON number is written so
        return None


def _compile_literal_pattern(pattern: str, pos: int) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        # exc.msg leaves out re's own 0-based offset, which would clash with ours.
        raise Malformed(
            f"invalid regular expression {quoted(pattern)} {_at(pos)}: {exc.msg}"
        ) from None
    except Exception as exc:  # OverflowError, RecursionError, a warning turned error...
        reason = str(exc) or type(exc).__name__
        raise Malformed(
            f"invalid regular expression {quoted(pattern)} {_at(pos)}: {reason}"
        ) from None


def parse(text: str) -> Node:
    """The tree of ``text``; raises ``Malformed`` naming the first problem."""
    return _Parser(_tokenize(text)).parse()
