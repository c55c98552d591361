"""The ``when`` expression language: a small boolean language over a flow's JSON state.

A transition's ``when`` text is compiled once (tokenizer, then a recursive-descent parser to an
immutable tree) and evaluated on the hot transition path against the merged state. Nothing here
uses ``eval``/``exec``; the text is data. This module is the language's interface; the tokenizer
and parser are in ``_when_parser``, the tree and how it evaluates values in ``_when_tree``.

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
  is capped (``_MAX_NESTING`` in ``_when_parser``) so deep nesting is a clear error, not a
  ``RecursionError``; ``!``/``not`` runs and ``&&``/``||`` chains are parsed by loops, so their
  length is unbounded.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dwarf.errors import BadRequestError
from dwarf.workflow._when_parser import Malformed, parse, quoted
from dwarf.workflow._when_tree import Node, kind_mismatches, literal_kind_mismatch, truthy

__all__ = ["WhenExpression", "compile_when", "evaluate_when"]


@dataclass(frozen=True, slots=True)
class WhenExpression:
    """A compiled ``when`` expression: immutable, and safe to share across tasks and threads.

    Obtain one from :func:`compile_when`. Two expressions are equal when their source text is.
    """

    source: str
    _root: Node = field(repr=False, compare=False)

    def evaluate(self, state: Mapping[str, Any]) -> bool:
        """Evaluate against a JSON ``state`` object; never raises for JSON input.

        Missing fields read as ``null``; comparisons between mismatched types are false.
        """
        if not isinstance(state, Mapping):
            state = {}
        return truthy(self._root.value(state))

    def kind_mismatches(self, state: Mapping[str, Any]) -> list[str]:
        """The comparisons that met operands of different JSON types over ``state`` (each
        described with its operands' kinds and values), which made them false, or true for
        ``!=``. A presence test against ``null`` with ``==``/``!=`` is not a mismatch."""
        if not isinstance(state, Mapping):
            state = {}
        return kind_mismatches(self._root, state)

    def literal_kind_mismatch(self) -> str | None:
        """The first comparison of two literals of different JSON types, described, or
        ``None``: such a comparison never depends on the state, so ``validate()`` refuses it."""
        return literal_kind_mismatch(self._root)


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
        root = parse(text)
    except Malformed as exc:
        raise BadRequestError(f"invalid when expression {quoted(text)}: {exc.detail}") from None
    except RecursionError:  # unreachable under the nesting cap; kept so the contract holds anyway
        raise BadRequestError(
            f"invalid when expression {quoted(text)}: nested too deeply"
        ) from None
    return WhenExpression(text, root)


def evaluate_when(text: str, state: Mapping[str, Any]) -> bool:
    """Compile ``text`` (cached) and evaluate it against ``state``.

    Raises ``BadRequestError`` if ``text`` is malformed.
    """
    return compile_when(text).evaluate(state)
