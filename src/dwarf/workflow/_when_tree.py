"""The compiled form of a ``when`` expression: an immutable tree evaluated over JSON values.

Each node computes a JSON-ish value from the state and the root's value is read for its
truthiness. Evaluation is total: no input state makes it raise, so comparisons between mismatched
kinds are simply false, a missing path reads as ``null``, and a regular expression read from state
that does not compile matches nothing. The language's rules are in the ``_when`` module docstring;
this module is where they are implemented for values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "And",
    "Compare",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Path",
    "kind_mismatches",
    "literal_kind_mismatch",
    "truthy",
]


# ---------------------------------------------------------------------------------------------
# Values: the JSON kinds the language distinguishes


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_array(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def truthy(value: Any) -> bool:
    """The truth of a JSON value: null, false, 0, "", [] and {} are false; all else is true."""
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


class Node:
    """A node of the tree; ``value`` computes its JSON-ish value from ``state``."""

    __slots__ = ()

    def value(self, state: Mapping[str, Any]) -> Any:
        """This node's value over ``state``; never raises for JSON input."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A constant written in the expression."""

    constant: Any

    def value(self, state: Mapping[str, Any]) -> Any:
        return self.constant


@dataclass(frozen=True, slots=True)
class Path(Node):
    """A dotted path into the state, or a membership test on a list met at its last segment."""

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
class Not(Node):
    """``!``: the negated truth of the operand."""

    operand: Node

    def value(self, state: Mapping[str, Any]) -> Any:
        return not truthy(self.operand.value(state))


@dataclass(frozen=True, slots=True)
class And(Node):
    """``&&``: true when every operand is truthy (short-circuits)."""

    operands: tuple[Node, ...]

    def value(self, state: Mapping[str, Any]) -> Any:
        return all(truthy(operand.value(state)) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class Or(Node):
    """``||``: true when any operand is truthy (short-circuits)."""

    operands: tuple[Node, ...]

    def value(self, state: Mapping[str, Any]) -> Any:
        return any(truthy(operand.value(state)) for operand in self.operands)


@dataclass(frozen=True, slots=True)
class Compare(Node):
    """A comparison; false, never an error, between values it cannot compare."""

    op: str
    left: Node
    right: Node
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
# Mismatched kinds: a comparison between values of different JSON types is false (or, for
# ``!=``, true) by the rules above, which is almost always a bug in the expression or the state
# (``count > 'abc'``, a number stored as text). Routing reports these rather than raise, so the
# language stays total (docs/internals/routing.md#r8).


def _comparisons(root: Node) -> list[Compare]:
    found: list[Compare] = []
    pending: list[Node] = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, Compare):
            found.append(node)
        elif isinstance(node, Not):
            pending.append(node.operand)
        elif isinstance(node, And | Or):
            pending.extend(reversed(node.operands))
    return found


def _mismatched(op: str, left: Any, right: Any) -> bool:
    left_kind, right_kind = _kind(left), _kind(right)
    if left_kind == right_kind:
        return False
    # ``x == null`` / ``x != null`` is how a presence test is written, not a mismatch.
    return not (op in ("==", "!=") and "null" in (left_kind, right_kind))


def _operand(node: Node, value: Any) -> str:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    if isinstance(node, Path):
        return f"{'.'.join(node.segments)} ({_kind(value)} {shown})"
    return f"{_kind(value)} {shown}"


def kind_mismatches(root: Node, state: Mapping[str, Any]) -> list[str]:
    """Each comparison in ``root`` whose operands have different JSON kinds over ``state``,
    described as ``"count (number 5) > string 'abc'"``; every comparison is checked, including
    those an ``&&``/``||`` short-circuit skipped."""
    found = []
    for node in _comparisons(root):
        left, right = node.left.value(state), node.right.value(state)
        if _mismatched(node.op, left, right):
            found.append(f"{_operand(node.left, left)} {node.op} {_operand(node.right, right)}")
    return found


def literal_kind_mismatch(root: Node) -> str | None:
    """The first comparison of two literals of different JSON kinds (its result never depends
    on the state, so it is a mistake), described; ``None`` if there is none."""
    for node in _comparisons(root):
        if isinstance(node.left, Literal) and isinstance(node.right, Literal):
            left, right = node.left.constant, node.right.constant
            if _mismatched(node.op, left, right):
                return f"{_operand(node.left, left)} {node.op} {_operand(node.right, right)}"
    return None
