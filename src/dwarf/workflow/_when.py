"""The ``when`` expression language: a small boolean language over a flow's JSON state.

A transition's ``when`` text is compiled once (tokenizer, then a recursive-descent parser to an
immutable tree) and evaluated on the hot transition path against the merged state. Nothing here
uses ``eval``/``exec``; the text is data.

Grammar, loosest binding first (so precedence runs unary > comparison > and > or)::

    or          := and (("||" | "or") and)*
    and         := comparison (("&&" | "and") comparison)*
    comparison  := unary [("==" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~") unary]
    unary       := ("!" | "not")* primary
    primary     := string | number | "true" | "false" | "null" | path | "(" or ")"

Constraints that shape the code, and where this differs from upstream's ``boolexp``:

* Totality. ``compile_when`` raises only ``BadRequestError`` on any text, and ``evaluate`` never
  raises on any JSON state. Upstream split the text on ``||``/``&&`` without regard to quotes and
  once looped forever on ``")("``; a real tokenizer removes both classes of bug. Parenthesis nesting
  is capped at ``_MAX_NESTING`` so deep nesting is a clear error, not a ``RecursionError``;
  ``!``/``not`` runs and ``&&``/``||`` chains are parsed by loops, so their length is unbounded.
* Comparisons do not chain (``a < b < c`` is rejected): upstream had no meaning for it either.
* Numbers: an integer literal stays an exact Python ``int`` of any size, so 64-bit ids compare
  exactly (upstream's later fix); int and float are one number type, compared exactly by Python.
  ``bool`` is never a number. A float literal that overflows to infinity is rejected.
* Paths resolve into the state object by key. A list met at the *last* segment is a membership
  test (``tags.admin``, ``ids.5``, ``flags.true``) that yields ``true``/``false``; a list met
  earlier, or a missing key, yields ``null``. Upstream flattened the whole state into a dot-keyed
  symbol table per evaluation; walking the path costs only what the expression reads.
* ``[]`` and ``{}`` are falsy (upstream treated them as truthy).
* Regular expressions are Python ``re.search`` (upstream used Go's RE2 syntax). A literal pattern
  is compiled with the expression, so a bad one fails validation; a pattern read from state that
  does not compile makes the comparison false instead of failing the step.
* Identifiers are ASCII (``[A-Za-z_][A-Za-z0-9_]*`` then ``.[A-Za-z0-9_]+`` segments), as in
  upstream. ``true false null and or not`` are keywords in any letter case, so a top-level state
  field with one of those names is reachable only through a longer path.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from dwarf.errors import BadRequestError

__all__ = ["WhenExpression", "compile_when", "evaluate_when"]

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


class _Malformed(Exception):
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
        return _quoted(self.written or self.text)


def _at(pos: int) -> str:
    return f"at position {pos + 1}"


def _quoted(text: str) -> str:
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
                raise _Malformed(f"invalid path {_quoted(text[i : end + 1])} {_at(i)}")
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
        raise _Malformed(f"unexpected character {ch!r} {_at(i)}{hint}")
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
    raise _Malformed(f"unterminated string starting {_at(start)}")


def _read_number(text: str, start: int) -> tuple[int | float, int]:
    match = _NUMBER_RE.match(text, start)
    if match is None:  # a '-' not followed by a digit
        raise _Malformed(f"'-' must be followed by a digit {_at(start)}")
    end = match.end()
    if end < len(text) and text[end] in _WORD_CHARS:
        stop = end
        while stop < len(text) and text[stop] in _WORD_CHARS:
            stop += 1
        raise _Malformed(f"invalid number {_quoted(text[start:stop])} {_at(start)}")
    literal = match.group()
    if "." not in literal and "e" not in literal and "E" not in literal:
        try:
            return int(literal), end
        except ValueError:  # beyond sys.get_int_max_str_digits()
            raise _Malformed(f"integer with too many digits {_at(start)}") from None
    number = float(literal)
    if not math.isfinite(number):
        raise _Malformed(f"number {_quoted(literal)} {_at(start)} is out of range")
    return number, end


# ---------------------------------------------------------------------------------------------
# Values: the JSON kinds the language distinguishes


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_array(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _truthy(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return value is True
    if _is_number(value):
        return bool(value != 0)
    if isinstance(value, str | Mapping) or _is_array(value):
        return len(value) > 0
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if _is_array(value):
        return "array"
    return "other"


def _json_equal(left: Any, right: Any) -> bool:
    """Same JSON kind and equal, all the way down (iterative: state depth is unbounded)."""
    pending = [(left, right)]
    while pending:
        a, b = pending.pop()
        kind = _kind(a)
        if kind != _kind(b):
            return False
        if kind == "object":
            if a.keys() != b.keys():
                return False
            pending.extend((a[key], b[key]) for key in a)
        elif kind == "array":
            if len(a) != len(b):
                return False
            pending.extend(zip(a, b, strict=True))
        elif kind == "other":
            if a is not b:
                return False
        elif a != b:  # null, bool, number (int/float compare exactly), string
            return False
    return True


def _less(left: Any, right: Any) -> bool | None:
    """``left < right`` for two numbers or two strings; ``None`` when they are not comparable."""
    if _is_number(left) and _is_number(right):
        return bool(left < right)
    if isinstance(left, str) and isinstance(right, str):
        return left < right
    return None


@functools.lru_cache(maxsize=256)
def _pattern_from_state(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except Exception:  # re raises error, OverflowError, RecursionError... all mean "no match"
        return None


def _member(items: Any, text: str, number: int | None) -> bool:
    for item in items:
        if isinstance(item, str):
            if item == text:
                return True
        elif isinstance(item, bool):
            if text == ("true" if item else "false"):
                return True
        elif number is not None and _is_number(item) and item == number:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# The tree. Each node computes a JSON-ish value; the root's value is read for its truthiness.


class _Node:
    __slots__ = ()

    def value(self, state: Mapping[str, Any]) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _Literal(_Node):
    constant: Any

    def value(self, state: Mapping[str, Any]) -> Any:
        return self.constant


@dataclass(frozen=True, slots=True)
class _Path(_Node):
    segments: tuple[str, ...]
    # The last segment as an exact integer, when it is written canonically ("5", not "05"), so a
    # membership test can match numbers in a list without parsing on every evaluation.
    last_as_int: int | None

    def value(self, state: Mapping[str, Any]) -> Any:
        current: Any = state
        last = len(self.segments) - 1
        for index, segment in enumerate(self.segments):
            if isinstance(current, Mapping):
                current = current.get(segment)
            elif index == last and _is_array(current):
                return _member(current, segment, self.last_as_int)
            else:
                return None
        return current


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    operand: _Node

    def value(self, state: Mapping[str, Any]) -> Any:
        return not _truthy(self.operand.value(state))


@dataclass(frozen=True, slots=True)
class _And(_Node):
    operands: tuple[_Node, ...]

    def value(self, state: Mapping[str, Any]) -> Any:
        return all(_truthy(operand.value(state)) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class _Or(_Node):
    operands: tuple[_Node, ...]

    def value(self, state: Mapping[str, Any]) -> Any:
        return any(_truthy(operand.value(state)) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class _Compare(_Node):
    op: str
    left: _Node
    right: _Node
    pattern: re.Pattern[str] | None = None  # precompiled when the right side is a literal string

    def value(self, state: Mapping[str, Any]) -> Any:
        left = self.left.value(state)
        right = self.right.value(state)
        op = self.op
        if op == "==":
            return _json_equal(left, right)
        if op == "!=":
            return not _json_equal(left, right)
        if op in ("=~", "!~"):
            if not isinstance(left, str) or not isinstance(right, str):
                return False
            pattern = self.pattern if self.pattern is not None else _pattern_from_state(right)
            if pattern is None:
                return False
            return (pattern.search(left) is not None) == (op == "=~")
        if op == "<":
            return _less(left, right) is True
        if op == ">":
            return _less(right, left) is True
        if _less(left, right) is None:  # <= and >= only between two numbers or two strings
            return False
        if op == "<=":
            return not _less(right, left)
        return not _less(left, right)


# ---------------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._index = 0
        self._depth = 0

    def parse(self) -> _Node:
        if self._peek().kind == "end":
            raise _Malformed("the expression is empty")
        node = self._or()
        token = self._peek()
        if token.kind != "end":
            if token.text == ")":
                raise _Malformed(f"unexpected ')' {_at(token.pos)} with no matching '('")
            raise _Malformed(
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

    def _or(self) -> _Node:
        operands = [self._and()]
        while self._at_op("||"):
            self._next()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else _Or(tuple(operands))

    def _and(self) -> _Node:
        operands = [self._comparison()]
        while self._at_op("&&"):
            self._next()
            operands.append(self._comparison())
        return operands[0] if len(operands) == 1 else _And(tuple(operands))

    def _comparison(self) -> _Node:
        left = self._unary()
        if not self._at_op(*_COMPARISONS):
            return left
        op = self._next()
        right_start = self._peek()
        right = self._unary()
        if self._at_op(*_COMPARISONS):
            second = self._peek()
            raise _Malformed(
                f"comparisons cannot be chained: {second.text!r} {_at(second.pos)} follows "
                f"{op.text!r} {_at(op.pos)}; join them with '&&'"
            )
        pattern = None
        is_regex = op.text in ("=~", "!~")
        if is_regex and isinstance(right, _Literal) and isinstance(right.constant, str):
            pattern = _compile_literal_pattern(right.constant, right_start.pos)
        return _Compare(op.text, left, right, pattern)

    def _unary(self) -> _Node:
        negations = 0
        while self._at_op("!"):
            self._next()
            negations += 1
        operand = self._primary()
        if negations == 0:
            return operand
        # Only the parity matters; '!!x' keeps one extra '!' so the result is still a bool.
        return _Not(operand) if negations % 2 else _Not(_Not(operand))

    def _primary(self) -> _Node:
        token = self._next()
        if token.kind == "literal":
            return _Literal(token.value)
        if token.kind == "path":
            segments: tuple[str, ...] = token.value
            return _Path(segments, _canonical_int(segments[-1]))
        if token.kind == "op" and token.text == "(":
            self._depth += 1
            if self._depth > _MAX_NESTING:
                raise _Malformed(
                    f"parentheses nested more than {_MAX_NESTING} deep {_at(token.pos)}"
                )
            inner = self._or()
            closing = self._next()
            if closing.kind != "op" or closing.text != ")":
                raise _Malformed(
                    f"'(' {_at(token.pos)} is not closed: expected ')' {_at(closing.pos)}, "
                    f"found {closing.describe()}"
                )
            self._depth -= 1
            return inner
        if token.kind == "end":
            raise _Malformed(f"expected an operand {_at(token.pos)}")
        raise _Malformed(f"expected an operand {_at(token.pos)}, found {token.describe()}")


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
        raise _Malformed(
            f"invalid regular expression {_quoted(pattern)} {_at(pos)}: {exc.msg}"
        ) from None
    except Exception as exc:  # OverflowError, RecursionError, a warning turned error...
        reason = str(exc) or type(exc).__name__
        raise _Malformed(
            f"invalid regular expression {_quoted(pattern)} {_at(pos)}: {reason}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Public interface


@dataclass(frozen=True, slots=True)
class WhenExpression:
    """A compiled ``when`` expression: immutable, and safe to share across tasks and threads.

    Obtain one from :func:`compile_when`. Two expressions are equal when their source text is.
    """

    source: str
    _root: _Node = field(repr=False, compare=False)

    def evaluate(self, state: Mapping[str, Any]) -> bool:
        """Evaluate against a JSON ``state`` object; never raises for JSON input.

        Missing fields read as ``null``; comparisons between mismatched types are false.
        """
        if not isinstance(state, Mapping):
            state = {}
        return _truthy(self._root.value(state))


def compile_when(text: str) -> WhenExpression:
    """Parse ``text`` into a :class:`WhenExpression`; results are cached per text.

    Raises ``BadRequestError`` naming the expression and the position of the problem if ``text``
    is not a well-formed expression (including empty or blank text), and for nothing else.
    """
    if not isinstance(text, str):
        raise BadRequestError(f"a when expression must be a string, got {type(text).__name__}")
    return _compile_cached(text)


@functools.lru_cache(maxsize=1024)
def _compile_cached(text: str) -> WhenExpression:
    try:
        root = _Parser(_tokenize(text)).parse()
    except _Malformed as exc:
        raise BadRequestError(f"invalid when expression {_quoted(text)}: {exc.detail}") from None
    except RecursionError:  # unreachable with _MAX_NESTING; kept so the contract holds regardless
        raise BadRequestError(
            f"invalid when expression {_quoted(text)}: nested too deeply"
        ) from None
    return WhenExpression(text, root)


def evaluate_when(text: str, state: Mapping[str, Any]) -> bool:
    """Compile ``text`` (cached) and evaluate it against ``state``.

    Raises ``BadRequestError`` if ``text`` is malformed.
    """
    return compile_when(text).evaluate(state)
