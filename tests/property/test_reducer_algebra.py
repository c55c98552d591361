"""Algebraic laws of the reducers, and merge/fold guarantees, over generated JSON values.

The fan-in folds branch deltas one after another; these laws are what make that fold sensible:
a cleared slot changes nothing (identity), regrouping the fold changes nothing (associativity),
and for the order-free reducers neither does the branch order (commutativity).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dwarf.workflow._json import canonical
from dwarf.workflow._reducers import Reducer, fold_changes, merge_state

big_ints = st.integers(min_value=-(2**130), max_value=2**130)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
numbers = big_ints | finite_floats
# Unicode throughout: keys and strings draw from the full code-point range (no NUL, like state).
text = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=12)
scalars = st.none() | st.booleans() | big_ints | finite_floats | text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
arrays = st.lists(json_values, max_size=5)
objects = st.dictionaries(text, json_values, max_size=5)
unique_arrays = st.lists(json_values, max_size=5, unique_by=canonical)

# Values each reducer accepts, not counting the cleared operand (None).
OPERANDS: dict[Reducer, st.SearchStrategy[Any]] = {
    Reducer.APPEND: arrays,
    Reducer.UNION: unique_arrays,
    Reducer.ADD: numbers,
    Reducer.MIN: numbers,
    Reducer.MAX: numbers,
    Reducer.AND: st.booleans(),
    Reducer.OR: st.booleans(),
    Reducer.CONCAT: text,
    Reducer.MERGE: objects,
}


def same(a: Any, b: Any) -> bool:
    """Equal as JSON text: stricter than ==, which confuses 1, 1.0 and True."""
    return canonical(a) == canonical(b)


@st.composite
def reducer_and_operand(draw: st.DrawFn) -> tuple[Reducer, Any]:
    reducer = draw(st.sampled_from(sorted(OPERANDS)))
    return reducer, draw(OPERANDS[reducer])


@given(reducer_and_operand())
def test_cleared_operand_is_an_identity_for_every_reducer(case: tuple[Reducer, Any]) -> None:
    reducer, value = case
    assert same(reducer.reduce(None, value), value)
    assert same(reducer.reduce(value, None), value)


@st.composite
def reducer_and_three(draw: st.DrawFn, reducers: list[Reducer]) -> tuple[Reducer, Any, Any, Any]:
    reducer = draw(st.sampled_from(reducers))
    operand = st.none() | (big_ints if reducer is Reducer.ADD else OPERANDS[reducer])
    if reducer is Reducer.UNION:
        operand = st.none() | arrays  # duplicates in any operand must not break the law
    return reducer, draw(operand), draw(operand), draw(operand)


ASSOCIATIVE = [
    Reducer.ADD,
    Reducer.APPEND,
    Reducer.CONCAT,
    Reducer.MERGE,
    Reducer.UNION,
    Reducer.MIN,
    Reducer.MAX,
    Reducer.AND,
    Reducer.OR,
]


@given(reducer_and_three(ASSOCIATIVE))
def test_reducers_are_associative(case: tuple[Reducer, Any, Any, Any]) -> None:
    reducer, a, b, c = case
    left = reducer.reduce(reducer.reduce(a, b), c)
    right = reducer.reduce(a, reducer.reduce(b, c))
    assert left == right
    if reducer is not Reducer.MIN and reducer is not Reducer.MAX:
        assert same(left, right)


@given(
    st.sampled_from([Reducer.ADD, Reducer.MIN, Reducer.MAX]),
    st.none() | numbers,
    st.none() | numbers,
)
def test_numeric_reducers_are_commutative(reducer: Reducer, a: Any, b: Any) -> None:
    # min/max keep the existing operand on a tie, so 1 vs 1.0 may swap: equal as numbers.
    # A sum past the float range is refused, in either order alike.
    try:
        forward = reducer.reduce(a, b)
    except ValueError:
        with pytest.raises(ValueError, match="overflowed"):
            reducer.reduce(b, a)
        return
    assert forward == reducer.reduce(b, a)


@given(
    st.sampled_from([Reducer.AND, Reducer.OR]), st.none() | st.booleans(), st.none() | st.booleans()
)
def test_boolean_reducers_are_commutative(reducer: Reducer, a: Any, b: Any) -> None:
    assert reducer.reduce(a, b) is reducer.reduce(b, a)


@given(big_ints, big_ints)
def test_add_of_ints_is_the_exact_integer_sum(a: int, b: int) -> None:
    result = Reducer.ADD.reduce(a, b)
    assert type(result) is int
    assert result == a + b


@given(unique_arrays, arrays)
def test_union_result_has_no_duplicates_when_the_base_has_none(
    base: list[Any], inc: list[Any]
) -> None:
    result = Reducer.UNION.reduce(base, inc)
    texts = [canonical(item) for item in result]
    assert len(texts) == len(set(texts))
    assert set(texts) == {canonical(item) for item in base + inc}


# --- merge_state and fold_changes ----------------------------------------------------------

field_names = st.sampled_from(["a", "b", "c", "ü", "日本", "x.y", ""])
states = st.dictionaries(field_names, json_values, max_size=6)
reducer_maps = st.dictionaries(field_names, st.sampled_from(list(Reducer)), max_size=6)


def reordered(mapping: dict[str, Any]) -> dict[str, Any]:
    """The same mapping with its keys inserted in reverse order."""
    return dict(reversed(list(mapping.items())))


def try_fold(base: Any, deltas: Any, reducers: Any) -> Any:
    try:
        return fold_changes(base, deltas, reducers)
    except (TypeError, ValueError) as exc:
        return ("error", type(exc).__name__, str(exc))


@given(states, st.lists(states, max_size=4), reducer_maps)
def test_fold_changes_is_deterministic_and_ignores_key_insertion_order(
    base: dict[str, Any], deltas: list[dict[str, Any]], reducers: dict[str, Reducer]
) -> None:
    first = try_fold(base, deltas, reducers)
    again = try_fold(copy.deepcopy(base), copy.deepcopy(deltas), dict(reducers))
    shuffled = try_fold(reordered(base), [reordered(d) for d in deltas], reordered(reducers))
    if isinstance(first, tuple):
        assert again == first
        # Which field fails first may follow key order; that it fails must not.
        assert isinstance(shuffled, tuple)
        return
    assert same(again, first)
    assert same(shuffled, first)


@given(states, st.lists(states, max_size=4), reducer_maps)
def test_fold_changes_equals_merge_state_applied_in_turn(
    base: dict[str, Any], deltas: list[dict[str, Any]], reducers: dict[str, Reducer]
) -> None:
    def chained() -> Any:
        state: dict[str, Any] = base
        for delta in deltas:
            state = merge_state(state, delta, reducers)
        return state

    try:
        expected = chained()
    except (TypeError, ValueError):
        expected = None
    folded = try_fold(base, deltas, reducers)
    if expected is None:
        assert isinstance(folded, tuple)
    else:
        assert same(folded, expected)


array_states = st.dictionaries(st.sampled_from(["a", "b"]), st.none() | arrays, max_size=2)


@given(
    array_states,
    st.lists(array_states, max_size=8),
    st.fixed_dictionaries({"a": st.just(Reducer.APPEND), "b": st.just(Reducer.UNION)}),
)
def test_a_fold_growing_arrays_in_place_equals_merging_in_turn(
    base: dict[str, Any], deltas: list[dict[str, Any]], reducers: dict[str, Reducer]
) -> None:
    # fold_changes extends append/union arrays in place (the O(N) fan-in): same result, and
    # neither the base nor a delta is touched.
    before = copy.deepcopy((base, deltas))
    state: dict[str, Any] = base
    for delta in deltas:
        state = merge_state(state, delta, reducers)
    assert same(fold_changes(base, deltas, reducers), state)
    assert same((base, deltas), before)


def scribble(value: Any) -> None:
    """Mutate every container reachable from value, in place."""
    if isinstance(value, dict):
        for item in list(value.values()):
            scribble(item)
        value["scribbled"] = True
    elif isinstance(value, list):
        for item in value:
            scribble(item)
        value.append("scribbled")


@given(states, states, reducer_maps)
def test_merge_state_never_mutates_or_shares_its_inputs(
    state: dict[str, Any], changes: dict[str, Any], reducers: dict[str, Reducer]
) -> None:
    state_before, changes_before = copy.deepcopy(state), copy.deepcopy(changes)
    reducers_before = dict(reducers)
    try:
        merged = merge_state(state, changes, reducers)
    except (TypeError, ValueError):
        merged = None
    assert same(state, state_before)
    assert same(changes, changes_before)
    assert reducers == reducers_before
    if merged is not None:
        scribble(merged)
        assert same(state, state_before)
        assert same(changes, changes_before)


@given(states, states)
def test_merge_state_without_reducers_is_a_dict_update(
    state: dict[str, Any], changes: dict[str, Any]
) -> None:
    assert same(merge_state(state, changes, {}), {**state, **changes})
