"""Properties of the ``when`` language, checked against an independent model.

Expressions are generated as small test-side trees, rendered to text, compiled by the real parser
and evaluated by the real evaluator; the expected answer comes from a reference evaluator written
here directly over the generated tree. A parser that mis-nests precedence, a tokenizer that
mangles a literal or an evaluator that gets a type rule wrong shows up as a disagreement.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dwarf.errors import BadRequestError
from dwarf.workflow._when import compile_when

# --- the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    value: Any  # None, bool, int, float or str


@dataclass(frozen=True)
class Ref:
    segments: tuple[str, ...]


@dataclass(frozen=True)
class Neg:
    operand: Expr
    count: int


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Both:
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Either:
    operands: tuple[Expr, ...]


Expr = Lit | Ref | Neg | Cmp | Both | Either


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def model_truthy(value: Any) -> bool:
    kind = kind_of(value)
    if kind == "null":
        return False
    if kind in ("bool", "number"):
        return bool(value)
    return len(value) > 0


def model_equal(a: Any, b: Any) -> bool:
    if kind_of(a) != kind_of(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(model_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return set(a) == set(b) and all(model_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def model_member(items: list[Any], segment: str) -> bool:
    for item in items:
        kind = kind_of(item)
        if kind == "string" and item == segment:
            return True
        if kind == "bool" and segment == str(item).lower():
            return True
        canonical = segment.isdigit() and segment == str(int(segment))
        if kind == "number" and canonical and item == int(segment):
            return True
    return False


def model_lookup(segments: tuple[str, ...], state: dict[str, Any]) -> Any:
    current: Any = state
    for position, segment in enumerate(segments):
        if isinstance(current, dict):
            current = current.get(segment)
        elif isinstance(current, list) and position == len(segments) - 1:
            return model_member(current, segment)
        else:
            return None
    return current


def model_regex(subject: Any, pattern: Any) -> bool | None:
    if not isinstance(subject, str) or not isinstance(pattern, str):
        return None
    try:
        compiled = re.compile(pattern)
    except Exception:
        return None
    return compiled.search(subject) is not None


def model_value(expr: Expr, state: dict[str, Any]) -> Any:
    if isinstance(expr, Lit):
        return expr.value
    if isinstance(expr, Ref):
        return model_lookup(expr.segments, state)
    if isinstance(expr, Neg):
        truth = model_truthy(model_value(expr.operand, state))
        return truth if expr.count % 2 == 0 else not truth
    if isinstance(expr, Both):
        return all(model_truthy(model_value(op, state)) for op in expr.operands)
    if isinstance(expr, Either):
        return any(model_truthy(model_value(op, state)) for op in expr.operands)
    left, right = model_value(expr.left, state), model_value(expr.right, state)
    if expr.op == "==":
        return model_equal(left, right)
    if expr.op == "!=":
        return not model_equal(left, right)
    if expr.op in ("=~", "!~"):
        matched = model_regex(left, right)
        return matched is not None and matched == (expr.op == "=~")
    ordered = kind_of(left) == kind_of(right) and kind_of(left) in ("number", "string")
    if not ordered:
        return False
    return bool(
        {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[expr.op]
    )


def model_evaluate(expr: Expr, state: dict[str, Any]) -> bool:
    return model_truthy(model_value(expr, state))


# --- rendering ------------------------------------------------------------------------------------

LEVEL: dict[type[Any], int] = {Either: 1, Both: 2, Cmp: 3, Neg: 4, Lit: 5, Ref: 5}
WORDISH = re.compile(r"[A-Za-z0-9_]")
ESCAPED = {"\\": "\\\\", "\n": "\\n", "\t": "\\t"}


class Renderer:
    """Renders a tree to tokens; with ``fancy`` it varies spelling, spacing and parentheses."""

    def __init__(self, rnd: random.Random | None) -> None:
        self.rnd = rnd

    def pick(self, plain: str, *others: str) -> str:
        return self.rnd.choice((plain, *others)) if self.rnd else plain

    def text(self, expr: Expr) -> str:
        tokens = self.tokens(expr)
        out = tokens[0]
        for token in tokens[1:]:
            gap = self.pick(" ", "", "  ", "\t", "\n", "\r\n", "\u00a0")
            if not gap and WORDISH.match(out[-1]) and WORDISH.match(token[0]):
                gap = " "
            out += gap + token
        return out

    def child(self, expr: Expr, minimum: int) -> list[str]:
        tokens = self.tokens(expr)
        if LEVEL[type(expr)] < minimum:
            tokens = ["(", *tokens, ")"]
        if self.rnd:
            for _ in range(self.rnd.choice((0, 0, 0, 1, 2))):
                tokens = ["(", *tokens, ")"]
        return tokens

    def tokens(self, expr: Expr) -> list[str]:
        if isinstance(expr, Lit):
            return [self.literal(expr.value)]
        if isinstance(expr, Ref):
            return [".".join(expr.segments)]
        if isinstance(expr, Neg):
            signs = [self.pick("!", "not", "NOT", "Not") for _ in range(expr.count)]
            return [*signs, *self.child(expr.operand, 4)]
        if isinstance(expr, Cmp):
            return [*self.child(expr.left, 4), expr.op, *self.child(expr.right, 4)]
        spellings, minimum = (
            (("&&", "and", "AND"), 3) if isinstance(expr, Both) else (("||", "or", "OR"), 2)
        )
        out = self.child(expr.operands[0], minimum)
        for operand in expr.operands[1:]:
            out += [self.pick(*spellings), *self.child(operand, minimum)]
        return out

    def literal(self, value: Any) -> str:
        if value is None:
            return self.pick("null", "NULL", "Null")
        if value is True:
            return self.pick("true", "TRUE", "True")
        if value is False:
            return self.pick("false", "FALSE", "False")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return repr(value)
        quote = self.pick("'", '"', "`")
        body = []
        for index, char in enumerate(value):
            if char == quote:
                body.append("\\" + char)
            elif char == "\\" and self.rnd and self.single_backslash_is_literal(value, index):
                body.append(char)  # '\d' keeps its backslash: no need to double it
            else:
                body.append(ESCAPED.get(char, char))
        return quote + "".join(body) + quote

    @staticmethod
    def single_backslash_is_literal(value: str, index: int) -> bool:
        following = value[index + 1 : index + 2]
        # A following character that renders as an escape (a newline becomes "\\n") would
        # start with a backslash too, and "\\" + "\\n" reads as an escaped backslash and "n".
        return following not in ("", "\\", "'", '"', "`", "n", "t", *ESCAPED)


def plain(expr: Expr) -> str:
    return Renderer(None).text(expr)


# --- strategies -----------------------------------------------------------------------------------

FIRST_SEGMENTS = ["a", "b", "c", "x_1", "Flag", "nested"]
LATER_SEGMENTS = ["a", "b", "x_1", "0", "5", "12", "05", "true", "false"]
PATTERNS = ["^a", "a|b", "^$", ".", "[0-9]", r"\d+", r"^\w+$", "b$", r"\.", "(?i)A", "x*"]

small_text = st.one_of(
    st.sampled_from(["", *FIRST_SEGMENTS, *LATER_SEGMENTS, "1", "A", " a"]),
    st.text(max_size=6),
)
numbers = st.one_of(
    st.integers(-3, 12),
    st.sampled_from([2**53, 2**53 + 1, 2**64, -(2**63), 10**30]),
    st.integers(),
    st.sampled_from([0.0, -0.0, 5.0, 2.5, 9007199254740992.0, 1e30]),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, small_text)
state_keys = st.sampled_from(LATER_SEGMENTS)
# Lists of values that a path segment can name, so membership tests often hit.
member_lists: st.SearchStrategy[list[Any]] = st.lists(
    st.sampled_from([*LATER_SEGMENTS, 0, 5, 12, 5.0, True, False, None, [], {}]), max_size=4
)
json_values = st.recursive(
    st.one_of(scalars, member_lists, st.just([]), st.just({})),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(state_keys, inner, max_size=4)
    ),
    max_leaves=12,
)
# Top-level keys are the names paths start with, so most paths resolve to something.
states = st.dictionaries(st.sampled_from(FIRST_SEGMENTS), json_values, min_size=2, max_size=6)

refs = st.builds(
    lambda first, rest: Ref((first, *rest)),
    st.sampled_from(FIRST_SEGMENTS),
    st.lists(st.sampled_from(LATER_SEGMENTS), max_size=2),
)
literals = st.builds(Lit, scalars)
leaves = st.one_of(refs, refs, literals)


def not_a_string_literal(expr: Expr) -> bool:
    return not (isinstance(expr, Lit) and isinstance(expr.value, str))


def extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    operands = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        st.builds(Neg, children, st.integers(1, 3)),
        st.builds(Cmp, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), children, children),
        st.builds(
            Cmp,
            st.sampled_from(["=~", "!~"]),
            children,
            st.one_of(
                st.sampled_from(PATTERNS).map(Lit), refs, children.filter(not_a_string_literal)
            ),
        ),
        operands.map(Both),
        operands.map(Either),
    )


expressions = st.recursive(leaves, extend, max_leaves=10)

token_soup = st.lists(
    st.sampled_from(
        [
            "a",
            "b.c",
            "ids.5",
            "not",
            "and",
            "OR",
            "true",
            "null",
            "5",
            "-1",
            "2.5e3",
            "'s'",
            '"q\\"',
            "`",
            "'",
            "\\",
            "(",
            ")",
            "!",
            "==",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "=~",
            "!~",
            "&&",
            "||",
            "&",
            "|",
            "=",
            "-",
            ".",
            "..",
            " ",
            "\t",
            "1.",
            "'[x'",
            "'(a'",
            "é",
        ]
    ),
    max_size=12,
).map("".join)


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), token_soup), states)
def test_any_text_compiles_or_is_a_bad_request_and_evaluation_never_raises(
    text: str, state: dict[str, Any]
) -> None:
    try:
        expression = compile_when(text)
    except BadRequestError as exc:
        message = str(exc)
    else:
        assert expression.evaluate(state) in (True, False)
        return
    assert message.startswith("invalid when expression ")


@settings(max_examples=300, deadline=None)
@given(expressions, states)
def test_the_parser_and_evaluator_agree_with_the_reference_model(
    expr: Expr, state: dict[str, Any]
) -> None:
    text = plain(expr)
    assert compile_when(text).evaluate(state) is model_evaluate(expr, state), text


@settings(max_examples=200, deadline=None)
@given(expressions, states, st.randoms(use_true_random=False))
def test_spelling_spacing_and_redundant_parentheses_do_not_change_the_result(
    expr: Expr, state: dict[str, Any], rnd: random.Random
) -> None:
    fancy = Renderer(rnd).text(expr)
    expected = compile_when(plain(expr)).evaluate(state)
    assert compile_when(fancy).evaluate(state) is expected, fancy


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.randoms(use_true_random=False))
def test_a_string_literal_reads_back_as_the_text_it_encodes(text: str, rnd: random.Random) -> None:
    for renderer in (Renderer(None), Renderer(rnd)):
        literal = renderer.literal(text)
        assert compile_when(f"x == {literal}").evaluate({"x": text}) is True, literal
        assert compile_when(f"{literal} != x").evaluate({"x": text}) is False, literal


neighbours = st.one_of(
    numbers,
    st.integers(-2, 2).map(lambda d: 2**53 + d),
    st.integers(-2, 2).map(lambda d: float(2**53 + d)),
    st.integers(-2, 2).map(lambda d: 2**64 + d),
)


@settings(max_examples=300, deadline=None)
@given(neighbours, neighbours)
def test_numbers_compare_exactly_whether_from_state_or_literal(
    a: int | float, b: int | float
) -> None:
    expected = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
    for op, truth in expected.items():
        assert compile_when(f"x {op} y").evaluate({"x": a, "y": b}) is truth, (a, op, b)
        assert compile_when(f"x {op} {b!r}").evaluate({"x": a}) is truth, (a, op, b)


@settings(max_examples=300, deadline=None)
@given(refs, states)
def test_paths_resolve_like_the_model(ref: Ref, state: dict[str, Any]) -> None:
    path = plain(ref)
    for expr in (ref, Cmp("==", ref, Lit(None)), Cmp("==", ref, Lit(True))):
        assert compile_when(plain(expr)).evaluate(state) is model_evaluate(expr, state), path
