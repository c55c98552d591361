"""The ``when`` expression language: syntax, semantics and error reporting."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dwarf.errors import BadRequestError
from dwarf.workflow._when import WhenExpression, compile_when, evaluate_when

STATE: dict[str, Any] = {
    "score": 60,
    "ratio": 2.5,
    "name": "alice",
    "guest": False,
    "admin": True,
    "nothing": None,
    "empty": "",
    "zero": 0,
    "zero_float": 0.0,
    "no_items": [],
    "no_fields": {},
    "tags": ["admin", "beta", 5, True, 2.5],
    "user": {"profile": {"age": 30, "email": "a@example.com"}, "roles": ["owner"]},
    "items": [{"id": 1}, {"id": 2}],
    "pattern": "^al",
    "bad_pattern": "[unclosed",
}


def when(text: str, state: dict[str, Any] | None = None) -> bool:
    return evaluate_when(text, STATE if state is None else state)


# --- upstream fixture examples -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "state", "expected"),
    [
        ("score >= 50", {"score": 50}, True),
        ("score >= 50", {"score": 49}, False),
        ("useSubgraph != true", {"useSubgraph": False}, True),
        ("useSubgraph != true", {"useSubgraph": True}, False),
        ("useSubgraph != true", {}, True),
        ("amount >= 10000", {"amount": 10000}, True),
        ("score > 5 && !guest", {"score": 6, "guest": False}, True),
        ("score > 5 && !guest", {"score": 6, "guest": True}, False),
        ("score > 5 && !guest", {"score": 6}, True),
        ("(i==5 || i==7) && s=='hello'", {"i": 7, "s": "hello"}, True),
        ("(i==5 || i==7) && s=='hello'", {"i": 6, "s": "hello"}, False),
        ("(i==5 || i==7) && s=='hello'", {"i": 5, "s": "hell"}, False),
        ("name =~ '^a'", {"name": "alice"}, True),
        ("name =~ '^a'", {"name": "bob"}, False),
        ("name =~ '^a'", {}, False),
    ],
)
def test_upstream_fixture_examples_route_as_upstream(
    text: str, state: dict[str, Any], expected: bool
) -> None:
    assert evaluate_when(text, state) is expected


# --- operators -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("score == 60", True),
        ("score == 61", False),
        ("score != 61", True),
        ("score != 60", False),
        ("score < 61", True),
        ("score < 60", False),
        ("score <= 60", True),
        ("score <= 59", False),
        ("score > 59", True),
        ("score > 60", False),
        ("score >= 60", True),
        ("score >= 61", False),
        ("name < 'bob'", True),
        ("name > 'bob'", False),
        ("name <= 'alice'", True),
        ("name >= 'alicf'", False),
        ("name =~ 'lic'", True),
        ("name =~ '^lic'", False),
        ("name !~ '^lic'", True),
        ("name !~ 'lic'", False),
        ("name =~ pattern", True),
        ("'xal' =~ pattern", False),
    ],
)
def test_each_comparison_operator_compares_its_operands(text: str, expected: bool) -> None:
    assert when(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true && true", True),
        ("true && false", False),
        ("false || true", True),
        ("false || false", False),
        ("true and true", True),
        ("true AND false", False),
        ("false or true", True),
        ("false Or false", False),
        ("!false", True),
        ("!true", False),
        ("not false", True),
        ("NOT true", False),
        ("!!true", True),
        ("! ! !true", False),
        ("not not not false", True),
        ("not !not true", False),
        ("admin && score > 10 && name == 'alice' && !guest", True),
        ("guest || zero || empty || nothing", False),
    ],
)
def test_logical_operators_and_their_word_forms(text: str, expected: bool) -> None:
    assert when(text) is expected


def test_word_operators_need_no_surrounding_symbols() -> None:
    assert when("not(guest)and(admin)") is True


# --- precedence ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # && binds tighter than ||
        ("true || false && false", True),
        ("(true || false) && false", False),
        ("false && false || true", True),
        ("false && (false || true)", False),
        # comparison binds tighter than && / ||
        ("score == 60 && name == 'alice'", True),
        ("score == 61 || name == 'alice'", True),
        # unary binds tighter than comparison: (!guest) == true
        ("!guest == true", True),
        ("!(guest == true)", True),
        ("!score == false", True),
        ("not score == 0", False),
        ("!admin || admin", True),
    ],
)
def test_precedence_is_unary_then_comparison_then_and_then_or(text: str, expected: bool) -> None:
    assert when(text) is expected


def test_a_logical_result_compares_as_a_bool() -> None:
    assert when("(score > 10 && admin) == true") is True
    assert when("(score > 10 && admin) == 1") is False


# --- literals, quoting and escapes ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["name == 'alice'", 'name == "alice"', "name == `alice`", "'alice' == name"],
)
def test_all_three_quote_styles_delimit_strings(text: str) -> None:
    assert when(text) is True


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        (r"'it\'s'", "it's"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"`tick \` tock`", "tick ` tock"),
        (r"'back\\slash'", "back\\slash"),
        (r"'line\nbreak'", "line\nbreak"),
        (r"'tab\there'", "tab\there"),
        (r"'keeps \d unknown escapes'", "keeps \\d unknown escapes"),
        ("'other \"quotes\" and `ticks` inside'", 'other "quotes" and `ticks` inside'),
        ("'&& || ( ) == inside a string'", "&& || ( ) == inside a string"),
        ("''", ""),
    ],
)
def test_string_escapes_decode_to_the_intended_text(literal: str, expected: str) -> None:
    assert evaluate_when(f"s == {literal}", {"s": expected}) is True
    assert evaluate_when(f"s != {literal}", {"s": expected + "x"}) is True


def test_unknown_escapes_let_regex_classes_be_written_with_one_backslash() -> None:
    assert evaluate_when(r"code =~ '^\d{3}$'", {"code": "123"}) is True
    assert evaluate_when(r"code =~ '^\d{3}$'", {"code": "12a"}) is False
    assert evaluate_when(r"dotted =~ 'a\\.b'", {"dotted": "axb"}) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n == 42", True),
        ("n == 42.0", True),
        ("n == 4.2e1", True),
        ("n == 420E-1", True),
        ("n > 41.5", True),
        ("neg == -3", True),
        ("neg < -2.5", True),
        ("neg > -3", False),
        ("tiny == 1e-400", False),
    ],
)
def test_number_literals(text: str, expected: bool) -> None:
    assert evaluate_when(text, {"n": 42, "neg": -3, "tiny": 1e-300}) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("false", False),
        ("FaLsE", False),
        ("null", False),
        ("NULL == null", True),
        ("nothing == Null", True),
    ],
)
def test_keyword_literals_are_case_insensitive(text: str, expected: bool) -> None:
    assert when(text) is expected


# --- paths and membership ------------------------------------------------------------------------


def test_dotted_paths_reach_into_nested_objects() -> None:
    assert when("user.profile.age == 30") is True
    assert when("user.profile.email =~ '@example\\.com$'") is True
    assert when("user.profile.age > 40") is False


@pytest.mark.parametrize(
    "path",
    ["missing", "user.missing", "user.profile.missing.deeper", "score.inner", "name.length"],
)
def test_a_path_that_does_not_resolve_is_null(path: str) -> None:
    assert when(f"{path} == null") is True
    assert when(path) is False
    assert when(f"!{path}") is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tags.admin", True),
        ("tags.beta", True),
        ("tags.gamma", False),
        ("tags.5", True),
        ("tags.6", False),
        ("tags.true", True),
        ("tags.false", False),
        ("user.roles.owner", True),
        ("user.roles.guest", False),
        ("tags.admin == true", True),
        ("tags.gamma == false", True),
        ("!tags.gamma", True),
    ],
)
def test_a_list_met_at_the_last_segment_is_a_membership_test(text: str, expected: bool) -> None:
    assert when(text) is expected


def test_membership_matches_numbers_by_value_and_strings_exactly() -> None:
    state = {"ids": [5.0, 2**64 + 1], "names": ["5", "Admin"]}
    assert evaluate_when("ids.5", state) is True
    assert evaluate_when(f"ids.{2**64 + 1}", state) is True
    assert evaluate_when(f"ids.{2**64}", state) is False
    assert evaluate_when("ids.05", state) is False  # not how the number is written
    assert evaluate_when("names.5", state) is True
    assert evaluate_when("names.admin", state) is False  # case matters


def test_membership_ignores_objects_and_nested_lists_in_the_list() -> None:
    assert evaluate_when("items.id", STATE) is False
    assert evaluate_when("nested.a", {"nested": [["a"], {"a": 1}]}) is False


def test_a_list_met_before_the_last_segment_is_null() -> None:
    assert when("items.0.id == null") is True
    assert when("tags.admin.x == null") is True


def test_a_whole_list_or_object_is_a_value() -> None:
    assert when("tags") is True
    assert when("user") is True
    assert evaluate_when("a == b", {"a": [1, {"x": "y"}], "b": [1.0, {"x": "y"}]}) is True
    assert evaluate_when("a == b", {"a": [1], "b": [True]}) is False
    assert evaluate_when("a == b", {"a": {"x": 1}, "b": {"x": 1, "y": 2}}) is False
    assert evaluate_when("a != b", {"a": [1, 2], "b": [2, 1]}) is True


# --- truthiness and null -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("nothing", False),
        ("guest", False),
        ("zero", False),
        ("zero_float", False),
        ("empty", False),
        ("no_items", False),
        ("no_fields", False),
        ("admin", True),
        ("score", True),
        ("ratio", True),
        ("name", True),
        ("tags", True),
        ("user", True),
    ],
)
def test_truthiness_of_a_lone_operand(field: str, expected: bool) -> None:
    assert when(field) is expected
    assert when(f"!{field}") is (not expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("null == null", True),
        ("nothing == null", True),
        ("nothing != null", False),
        ("nothing == 0", False),
        ("nothing == false", False),
        ("nothing == ''", False),
        ("zero != null", True),
        ("nothing < 1", False),
        ("nothing >= null", False),
        ("nothing =~ '.*'", False),
    ],
)
def test_null_equals_only_null_and_orders_against_nothing(text: str, expected: bool) -> None:
    assert when(text) is expected


# --- mixed types and numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "score == '60'",
        "'1' == 1",
        "true == 1",
        "false == 0",
        "admin == 1",
        "score < '100'",
        "score >= '0'",
        "'a' > 1",
        "admin > false",
        "tags < user",
        "tags <= tags",
        "score =~ '6'",
        "score !~ '6'",
        "name =~ 5",
        "name !~ 5",
        "name =~ bad_pattern",
        "name !~ bad_pattern",
    ],
)
def test_mismatched_types_compare_false_rather_than_fail(text: str) -> None:
    assert when(text) is False


def test_mismatched_types_are_unequal() -> None:
    assert when("score != '60'") is True
    assert when("true != 1") is True


def test_ints_and_floats_are_one_number_type() -> None:
    assert evaluate_when("a == b", {"a": 3, "b": 3.0}) is True
    assert evaluate_when("a < b", {"a": 3, "b": 3.5}) is True
    assert evaluate_when("a >= 2.9999", {"a": 3}) is True


def test_integers_beyond_two_to_the_53_compare_exactly() -> None:
    big = 2**53 + 1
    state = {"id": 1234567890123456789, "other": 1234567890123456788, "big": big}
    assert evaluate_when("id == 1234567890123456789", state) is True
    assert evaluate_when("id == 1234567890123456788", state) is False
    assert evaluate_when("id == other", state) is False
    assert evaluate_when("id > other", state) is True
    assert evaluate_when("id > 1234567890123456788 && id < 1234567890123456790", state) is True
    # A float cannot hold 2**53 + 1; the comparison must not round the integer onto it.
    assert evaluate_when("big == 9007199254740992.0", state) is False
    assert evaluate_when("big > 9007199254740992.0", state) is True
    huge = 10**40
    assert evaluate_when(f"h == {huge}", {"h": huge}) is True
    assert evaluate_when(f"h == {huge + 1}", {"h": huge}) is False


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid when expression '': the expression is empty"),
        ("  \t\n ", "the expression is empty"),
        ("a >", "invalid when expression 'a >': expected an operand at position 4"),
        ("== ==", "expected an operand at position 1, found '=='"),
        ("a > > b", "expected an operand at position 5, found '>'"),
        ("valid ==", "expected an operand at position 9"),
        ("a ||", "expected an operand at position 5"),
        ("a and", "expected an operand at position 6"),
        ("!", "expected an operand at position 2"),
        ("not", "expected an operand at position 4"),
        ("()", "expected an operand at position 2, found ')'"),
        ("(", "expected an operand at position 2"),
        ("(a", "'(' at position 1 is not closed: expected ')' at position 3"),
        ("(true && (false) && (true)", "'(' at position 1 is not closed"),
        (")", "expected an operand at position 1, found ')'"),
        (")(", "expected an operand at position 1, found ')'"),
        ("a)(b", "unexpected ')' at position 2 with no matching '('"),
        ("(true))", "unexpected ')' at position 7"),
        ("a b", "expected an operator or the end at position 3, found 'b'"),
        ("'x' 'y'", "expected an operator or the end at position 5, found \"'y'\""),
        ("a < b < c", "comparisons cannot be chained: '<' at position 7 follows '<' at position 3"),
        ("a == b != c", "comparisons cannot be chained"),
        ("a & b", "unexpected character '&' at position 3 (did you mean '&&'?)"),
        ("a | b", "unexpected character '|' at position 3 (did you mean '||'?)"),
        ("a = b", "unexpected character '=' at position 3 (did you mean '=='?)"),
        ("aa++bb || false", "unexpected character '+' at position 3"),
        ("a # b", "unexpected character '#' at position 3"),
        ("caf\u00e9", "unexpected character '\u00e9' at position 4"),
        ("a || b.", "invalid path 'b.' at position 6"),
        ("a..b", "invalid path 'a.' at position 1"),
        ("'open", "unterminated string starting at position 1"),
        ('x == "open\\"', "unterminated string starting at position 6"),
        ("x == 'ends in backslash\\", "unterminated string starting at position 6"),
        ("5abc", "invalid number '5abc' at position 1"),
        ("n == 1.", "invalid number '1.' at position 6"),
        ("n == 1.2.3", "invalid number '1.2.3' at position 6"),
        ("n == - 1", "'-' must be followed by a digit at position 6"),
        ("n == 1e999", "number '1e999' at position 6 is out of range"),
        ("a =~ '[invalid'", "invalid regular expression '[invalid' at position 6:"),
        ("a !~ '(unclosed'", "invalid regular expression '(unclosed' at position 6:"),
    ],
)
def test_malformed_text_is_a_bad_request_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        compile_when(text)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"invalid when expression {text!r}")
    assert caught.value.status_code == 400


def test_evaluate_when_rejects_malformed_text_too() -> None:
    with pytest.raises(BadRequestError, match="expected an operand"):
        evaluate_when("a >", {"a": 1})


@pytest.mark.parametrize(
    "text",
    [
        "(" * 10_000 + "true" + ")" * 10_000,
        "(" * 10_000,
        ")" * 10_000,
        "!(" * 5_000 + "x",
        "1" * 10_000,
        "a =~ '" + "(" * 5_000 + "'",
        "a =~ 'x{99999999999999999999}'",
    ],
)
def test_pathological_text_is_a_bad_request_not_a_crash(text: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        compile_when(text)
    assert len(str(caught.value)) < 400  # the expression is cut, not echoed in full


def test_long_runs_of_negation_and_operands_are_accepted() -> None:
    assert evaluate_when("!" * 10_001 + "x", {"x": False}) is True
    assert evaluate_when(" && ".join(["x"] * 5_000), {"x": 1}) is True
    assert evaluate_when(" || ".join(["x"] * 5_000) + " || y", {"y": 1}) is True


def test_a_path_segment_too_long_for_an_int_is_an_ordinary_segment() -> None:
    segment = "7" * 10_000
    assert evaluate_when(f"ids.{segment}", {"ids": [7]}) is False
    assert evaluate_when(f"ids.{segment}", {"ids": [7, segment]}) is True
    assert evaluate_when(f"codes.{segment}", {"codes": {segment: True}}) is True


def test_nesting_within_the_limit_is_accepted() -> None:
    assert evaluate_when("(" * 64 + "x" + ")" * 64, {"x": True}) is True
    with pytest.raises(BadRequestError, match="nested more than 64 deep"):
        compile_when("(" * 65 + "x" + ")" * 65)


def test_a_non_string_expression_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="must be a string"):
        compile_when(None)  # type: ignore[arg-type]


# --- the compiled object -------------------------------------------------------------------------


def test_compiling_the_same_text_reuses_the_compiled_expression() -> None:
    assert compile_when("score > 1") is compile_when("score > 1")


def test_a_compiled_expression_is_immutable_and_compares_by_source() -> None:
    expression = compile_when("score > 1")
    assert isinstance(expression, WhenExpression)
    assert expression.source == "score > 1"
    assert expression == compile_when("score > 1")
    assert hash(expression) == hash(compile_when("score > 1"))
    assert expression != compile_when("score > 2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        expression.source = "true"  # type: ignore[misc]


def test_one_compiled_expression_evaluates_against_many_states() -> None:
    expression = compile_when("tier == 'gold' || spend >= 1000")
    assert expression.evaluate({"tier": "gold"}) is True
    assert expression.evaluate({"spend": 1000}) is True
    assert expression.evaluate({"tier": "silver", "spend": 999.99}) is False
    assert expression.evaluate({}) is False


def test_evaluate_tolerates_deeply_nested_state() -> None:
    deep: Any = 1
    other: Any = 1
    for _ in range(5_000):
        deep = [deep]
        other = {"k": other}
    state = {"a": deep, "b": deep, "c": other}
    assert evaluate_when("a == b", state) is True
    assert evaluate_when("a == c", state) is False
    assert evaluate_when("c.k.k.k == null", state) is False


def test_an_invalid_pattern_from_state_never_matches_either_way() -> None:
    state = {"s": "abc", "p": "(", "q": "x{99999999999999999999}"}
    for text in ("s =~ p", "s !~ p", "s =~ q", "s !~ q"):
        assert evaluate_when(text, state) is False
