"""Reducers and merge_state: the table of docs/internals/state.md#c4, case by case."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dwarf.workflow._reducers import Fold, Reducer, fold_changes, merge_state, strip_tombstones


def test_reducer_names_are_the_lowercase_wire_names() -> None:
    assert [r.value for r in Reducer] == [
        "replace",
        "append",
        "add",
        "min",
        "max",
        "union",
        "merge",
        "and",
        "or",
        "concat",
    ]
    assert Reducer("append") is Reducer.APPEND


# --- replace -------------------------------------------------------------------------------


def test_replace_returns_incoming_whatever_its_type() -> None:
    assert Reducer.REPLACE.reduce("old", 5) == 5
    assert Reducer.REPLACE.reduce([1], None) is None


def test_replace_result_does_not_alias_incoming() -> None:
    incoming = {"a": [1]}
    result = Reducer.REPLACE.reduce(None, incoming)
    result["a"].append(2)
    assert incoming == {"a": [1]}


# --- append --------------------------------------------------------------------------------


def test_append_concatenates_arrays_in_order() -> None:
    assert Reducer.APPEND.reduce([1, 2], [3, 4]) == [1, 2, 3, 4]
    assert Reducer.APPEND.reduce(["a", "b"], ["c"]) == ["a", "b", "c"]


def test_append_keeps_duplicates() -> None:
    assert Reducer.APPEND.reduce([1], [1]) == [1, 1]


@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [
        (None, [3], [3]),
        ([1, 2], None, [1, 2]),
        (None, None, []),
    ],
)
def test_append_treats_cleared_operand_as_empty_array(
    existing: Any, incoming: Any, expected: list[Any]
) -> None:
    assert Reducer.APPEND.reduce(existing, incoming) == expected


@pytest.mark.parametrize(
    ("existing", "incoming", "got"),
    [
        ("not an array", [1], "string"),
        ({"a": 1}, [1], "object"),
        ([1], 7, "number"),
        ([1], True, "bool"),
    ],
)
def test_append_rejects_non_arrays_naming_the_json_type(
    existing: Any, incoming: Any, got: str
) -> None:
    with pytest.raises(TypeError, match=f"^append reducer requires array, got {got}$"):
        Reducer.APPEND.reduce(existing, incoming)


# --- union ---------------------------------------------------------------------------------


def test_union_appends_only_unseen_elements() -> None:
    assert Reducer.UNION.reduce([1, 2, 3], [2, 3, 4]) == [1, 2, 3, 4]
    assert Reducer.UNION.reduce(["a", "b"], ["b", "c"]) == ["a", "b", "c"]
    assert Reducer.UNION.reduce([1], [2]) == [1, 2]


def test_union_dedups_within_incoming() -> None:
    assert Reducer.UNION.reduce([], ["x", "x", "y", "x"]) == ["x", "y"]


def test_union_keeps_duplicates_already_in_the_base() -> None:
    assert Reducer.UNION.reduce([1, 1], [1, 2]) == [1, 1, 2]


def test_union_compares_objects_by_canonical_json_ignoring_key_order() -> None:
    result = Reducer.UNION.reduce([{"a": 1, "b": 2}], [{"b": 2, "a": 1}, {"a": 2}])
    assert result == [{"a": 1, "b": 2}, {"a": 2}]


def test_union_tells_int_from_bool_and_string() -> None:
    # JSON text differs, so these are distinct elements even though 1 == True in Python.
    assert Reducer.UNION.reduce([1], [True, "1"]) == [1, True, "1"]


@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [(["a", "b"], None, ["a", "b"]), (None, ["a"], ["a"]), (None, None, [])],
)
def test_union_treats_cleared_operand_as_empty_array(
    existing: Any, incoming: Any, expected: list[Any]
) -> None:
    assert Reducer.UNION.reduce(existing, incoming) == expected


def test_union_rejects_non_arrays() -> None:
    with pytest.raises(TypeError, match=r"^union reducer requires array, got number$"):
        Reducer.UNION.reduce(42, [1])
    with pytest.raises(TypeError, match=r"^union reducer requires array, got string$"):
        Reducer.UNION.reduce([1], "x")


# --- add -----------------------------------------------------------------------------------


def test_add_sums_ints_exactly_beyond_float_precision() -> None:
    big = 2**53 + 1
    result = Reducer.ADD.reduce(big, 1)
    assert result == 2**53 + 2
    assert type(result) is int


def test_add_sums_ints_to_an_int() -> None:
    result = Reducer.ADD.reduce(10, 5)
    assert result == 15
    assert type(result) is int


def test_add_with_a_float_operand_gives_a_float() -> None:
    assert Reducer.ADD.reduce(1.5, 2.5) == 4.0
    result = Reducer.ADD.reduce(1, 0.5)
    assert result == 1.5
    assert type(result) is float


@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [(5, None, 5), (None, 7, 7), (None, None, 0), (None, 2.5, 2.5)],
)
def test_add_treats_cleared_operand_as_zero(existing: Any, incoming: Any, expected: Any) -> None:
    result = Reducer.ADD.reduce(existing, incoming)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("existing", "incoming", "got"),
    [
        ("hi", 1, "string"),
        (1, [1], "array"),
        (True, 1, "bool"),
        (1, False, "bool"),
        (1, {}, "object"),
    ],
)
def test_add_rejects_non_numbers_and_bools(existing: Any, incoming: Any, got: str) -> None:
    with pytest.raises(TypeError, match=f"^add reducer requires number, got {got}$"):
        Reducer.ADD.reduce(existing, incoming)


def test_add_refuses_a_sum_that_is_not_a_finite_number() -> None:
    with pytest.raises(ValueError, match="overflowed"):
        Reducer.ADD.reduce(1e308, 1e308)
    with pytest.raises(ValueError, match="overflowed"):
        Reducer.ADD.reduce(10**400, 0.5)


def test_add_refuses_non_finite_operands() -> None:
    with pytest.raises(ValueError, match="finite"):
        Reducer.ADD.reduce(float("inf"), 1)


# --- min / max -----------------------------------------------------------------------------


def test_min_and_max_pick_the_smaller_and_larger() -> None:
    assert Reducer.MIN.reduce(10, 5) == 5
    assert Reducer.MIN.reduce(3, 7) == 3
    assert Reducer.MAX.reduce(10, 5) == 10
    assert Reducer.MAX.reduce(3, 7) == 7
    assert Reducer.MIN.reduce(-2.5, -2.5) == -2.5
    assert Reducer.MAX.reduce(2**70, 2**70 + 1) == 2**70 + 1


def test_min_and_max_keep_the_existing_operand_on_a_tie() -> None:
    assert type(Reducer.MIN.reduce(1, 1.0)) is int
    assert type(Reducer.MAX.reduce(1.0, 1)) is float


@pytest.mark.parametrize("reducer", [Reducer.MIN, Reducer.MAX])
@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [(None, 4, 4), (9, None, 9), (None, None, None), (None, 0, 0), (-1.5, None, -1.5)],
)
def test_min_and_max_return_the_other_operand_when_one_is_cleared(
    reducer: Reducer, existing: Any, incoming: Any, expected: Any
) -> None:
    # A cleared slot must not collapse to 0 (min(0, 4) would wrongly be 0).
    assert reducer.reduce(existing, incoming) == expected


@pytest.mark.parametrize("reducer", [Reducer.MIN, Reducer.MAX])
def test_min_and_max_reject_non_numbers(reducer: Reducer) -> None:
    with pytest.raises(TypeError, match=f"^{reducer.value} reducer requires number, got string$"):
        reducer.reduce("not a number", 1)
    with pytest.raises(TypeError, match=f"^{reducer.value} reducer requires number, got bool$"):
        reducer.reduce(1, True)
    with pytest.raises(TypeError, match=f"^{reducer.value} reducer requires number, got string$"):
        reducer.reduce(None, "x")


# --- and / or ------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [(True, True), (True, False), (False, True), (False, False)])
def test_and_and_or_follow_the_truth_tables(a: bool, b: bool) -> None:
    assert Reducer.AND.reduce(a, b) is (a and b)
    assert Reducer.OR.reduce(a, b) is (a or b)


@pytest.mark.parametrize("reducer", [Reducer.AND, Reducer.OR])
@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [(True, None, True), (False, None, False), (None, True, True), (None, False, False)],
)
def test_and_and_or_defer_to_the_other_operand_when_one_is_cleared(
    reducer: Reducer, existing: Any, incoming: Any, expected: bool
) -> None:
    # AND must not fold a cleared slot in as false.
    assert reducer.reduce(existing, incoming) is expected


@pytest.mark.parametrize("reducer", [Reducer.AND, Reducer.OR])
def test_and_and_or_of_two_cleared_operands_stay_cleared(reducer: Reducer) -> None:
    assert reducer.reduce(None, None) is None


@pytest.mark.parametrize(
    ("reducer", "existing", "incoming", "got"),
    [
        (Reducer.AND, "true", True, "string"),
        (Reducer.AND, 1, True, "number"),
        (Reducer.OR, 0, True, "number"),
        (Reducer.OR, True, "yes", "string"),
        (Reducer.OR, None, [True], "array"),
    ],
)
def test_and_and_or_reject_non_booleans(
    reducer: Reducer, existing: Any, incoming: Any, got: str
) -> None:
    with pytest.raises(TypeError, match=f"^{reducer.value} reducer requires bool, got {got}$"):
        reducer.reduce(existing, incoming)


# --- concat --------------------------------------------------------------------------------


def test_concat_joins_strings() -> None:
    assert Reducer.CONCAT.reduce("hello ", "world") == "hello world"
    assert Reducer.CONCAT.reduce("", "x") == "x"
    assert Reducer.CONCAT.reduce("naïve ", "日本") == "naïve 日本"


@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [("hi", None, "hi"), (None, "bye", "bye"), (None, None, "")],
)
def test_concat_treats_cleared_operand_as_empty_string(
    existing: Any, incoming: Any, expected: str
) -> None:
    assert Reducer.CONCAT.reduce(existing, incoming) == expected


def test_concat_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match=r"^concat reducer requires string, got array$"):
        Reducer.CONCAT.reduce(["a"], "b")
    with pytest.raises(TypeError, match=r"^concat reducer requires string, got number$"):
        Reducer.CONCAT.reduce(42, "x")


# --- merge ---------------------------------------------------------------------------------


def test_merge_is_shallow_and_incoming_keys_win() -> None:
    result = Reducer.MERGE.reduce({"a": 1, "b": {"x": 1}}, {"b": {"y": 2}, "c": 4})
    assert result == {"a": 1, "b": {"y": 2}, "c": 4}


@pytest.mark.parametrize(
    ("existing", "incoming", "expected"),
    [({"k": 1}, None, {"k": 1}), (None, {"k": 2}, {"k": 2}), (None, None, {})],
)
def test_merge_treats_cleared_operand_as_empty_object(
    existing: Any, incoming: Any, expected: dict[str, Any]
) -> None:
    assert Reducer.MERGE.reduce(existing, incoming) == expected


def test_merge_rejects_non_objects() -> None:
    with pytest.raises(TypeError, match=r"^merge reducer requires object, got array$"):
        Reducer.MERGE.reduce([1, 2], {"a": 1})
    with pytest.raises(TypeError, match=r"^merge reducer requires object, got string$"):
        Reducer.MERGE.reduce({"a": 1}, "b")


@pytest.mark.parametrize(
    ("reducer", "existing", "incoming"),
    [
        (Reducer.APPEND, [{"n": [1]}], [{"n": [2]}]),
        (Reducer.UNION, [{"n": [1]}], [{"n": [2]}]),
        (Reducer.MERGE, {"a": {"n": [1]}}, {"b": {"n": [2]}}),
    ],
)
def test_container_reducers_never_share_nested_containers_with_inputs(
    reducer: Reducer, existing: Any, incoming: Any
) -> None:
    before = (copy.deepcopy(existing), copy.deepcopy(incoming))
    result = reducer.reduce(existing, incoming)
    items = result.values() if isinstance(result, dict) else result
    for item in items:
        item["n"].append(99)
    assert (existing, incoming) == before


# --- merge_state ---------------------------------------------------------------------------


def test_merge_state_without_reducers_is_last_write_wins() -> None:
    state = {"count": 10, "items": ["a", "b"], "name": "old", "kept": True}
    changes = {"count": 5, "items": ["c"], "name": "new"}
    assert merge_state(state, changes, {}) == {
        "count": 5,
        "items": ["c"],
        "name": "new",
        "kept": True,
    }


def test_merge_state_applies_the_field_reducers() -> None:
    state = {"count": 10, "items": [1, 2], "name": "old"}
    changes = {"count": 5, "items": [3], "name": "new"}
    reducers = {"count": Reducer.ADD, "items": Reducer.APPEND}
    assert merge_state(state, changes, reducers) == {"count": 15, "items": [1, 2, 3], "name": "new"}


def test_merge_state_accepts_reducer_names_as_strings() -> None:
    assert merge_state({"n": 1}, {"n": 2}, {"n": "add"}) == {"n": 3}


def test_merge_state_treats_an_empty_reducer_name_as_replace() -> None:
    assert merge_state({"n": 1}, {"n": 2}, {"n": ""}) == {"n": 2}


def test_merge_state_stores_a_field_absent_from_state_as_is_even_with_a_reducer() -> None:
    # The reducer only runs against an existing value; a new field is never coerced.
    assert merge_state({}, {"items": "first"}, {"items": Reducer.APPEND}) == {"items": "first"}


def test_merge_state_keeps_a_null_change_as_a_tombstone_under_replace() -> None:
    assert merge_state({"a": 1, "b": 2}, {"a": None}, {}) == {"a": None, "b": 2}
    assert merge_state({}, {"gone": None}, {}) == {"gone": None}


def test_merge_state_null_change_under_a_reducer_is_that_reducers_cleared_operand() -> None:
    reducers = {"n": Reducer.ADD, "xs": Reducer.APPEND, "lo": Reducer.MIN}
    merged = merge_state(
        {"n": 3, "xs": [1], "lo": 2}, {"n": None, "xs": None, "lo": None}, reducers
    )
    assert merged == {"n": 3, "xs": [1], "lo": 2}


def test_merge_state_reduces_onto_a_tombstoned_field_as_cleared() -> None:
    merged = merge_state({"xs": None, "n": None}, {"xs": [1], "n": 4}, {"xs": "append", "n": "add"})
    assert merged == {"xs": [1], "n": 4}


def test_merge_state_rejects_an_unknown_reducer_name_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"field 'score': unknown reducer 'sum'"):
        merge_state({"score": 1}, {"score": 2}, {"score": "sum"})


def test_merge_state_rejects_an_unknown_reducer_even_for_an_untouched_field() -> None:
    with pytest.raises(ValueError, match="unknown reducer 'bogus'"):
        merge_state({"a": 1}, {"b": 2}, {"a": "bogus"})


def test_merge_state_names_the_field_when_a_reducer_fails() -> None:
    with pytest.raises(
        TypeError, match=r"^field 'tags': append reducer requires array, got string$"
    ):
        merge_state({"tags": ["a"]}, {"tags": "b"}, {"tags": Reducer.APPEND})


def test_merge_state_accepts_missing_state_or_changes() -> None:
    assert merge_state(None, {"a": 1}, None) == {"a": 1}
    assert merge_state({"a": 1}, None, None) == {"a": 1}
    assert merge_state(None, None, None) == {}


def test_merge_state_does_not_mutate_or_alias_its_inputs() -> None:
    state = {"items": [{"id": 1}], "meta": {"tags": ["x"]}, "plain": {"n": [1]}}
    changes = {"items": [{"id": 2}], "meta": {"more": [1]}, "new": {"deep": [1]}}
    reducers = {"items": Reducer.APPEND, "meta": Reducer.MERGE}
    state_before, changes_before = copy.deepcopy(state), copy.deepcopy(changes)

    merged = merge_state(state, changes, reducers)
    assert (state, changes) == (state_before, changes_before)

    merged["items"][0]["id"] = 100
    merged["meta"]["tags"].append("leak")
    merged["meta"]["more"].append("leak")
    merged["plain"]["n"].append("leak")
    merged["new"]["deep"].append("leak")
    assert (state, changes) == (state_before, changes_before)


def test_merge_state_returns_a_new_dict_even_with_no_changes() -> None:
    state = {"a": [1]}
    merged = merge_state(state, {}, {})
    assert merged == state
    assert merged is not state
    assert merged["a"] is not state["a"]


# --- fold_changes / strip_tombstones -------------------------------------------------------


def test_fold_changes_merges_deltas_in_the_given_order() -> None:
    base = {"log": ["start"], "total": 1, "last": "base"}
    deltas = [{"log": ["b0"], "total": 2, "last": "b0"}, {"log": ["b1"], "total": 3, "last": "b1"}]
    reducers = {"log": Reducer.APPEND, "total": Reducer.ADD}
    assert fold_changes(base, deltas, reducers) == {
        "log": ["start", "b0", "b1"],
        "total": 6,
        "last": "b1",
    }
    assert fold_changes(base, list(reversed(deltas)), reducers)["log"] == ["start", "b1", "b0"]


def test_fold_changes_equals_chained_merge_state() -> None:
    base = {"xs": [0], "m": {"a": 1}}
    deltas: list[dict[str, Any]] = [{"xs": [1], "m": {"b": 2}}, {"xs": None, "m": {"a": 3}}, {}]
    reducers: dict[str, Reducer | str] = {"xs": "union", "m": "merge"}
    chained: dict[str, Any] = base
    for delta in deltas:
        chained = merge_state(chained, delta, reducers)
    assert fold_changes(base, deltas, reducers) == chained


def test_fold_changes_with_no_deltas_copies_the_base() -> None:
    base = {"a": {"b": [1]}}
    folded = fold_changes(base, [], {})
    folded["a"]["b"].append(2)
    assert base == {"a": {"b": [1]}}


def test_fold_changes_rejects_an_unknown_reducer() -> None:
    with pytest.raises(ValueError, match="unknown reducer"):
        fold_changes({}, [], {"x": "avg"})


def test_strip_tombstones_drops_only_top_level_nulls() -> None:
    state = {"gone": None, "kept": 0, "nested": {"inner": None}, "empty": "", "no": False}
    assert strip_tombstones(state) == {
        "kept": 0,
        "nested": {"inner": None},
        "empty": "",
        "no": False,
    }
    assert state["gone"] is None


def test_strip_tombstones_result_does_not_alias_the_input() -> None:
    state = {"xs": [1]}
    stripped = strip_tombstones(state)
    stripped["xs"].append(2)
    assert state == {"xs": [1]}


def test_a_fold_fed_in_slices_ends_where_one_fold_of_every_delta_ends() -> None:
    reducers = {"total": Reducer.ADD, "seen": Reducer.APPEND, "tags": Reducer.UNION}
    base = {"total": 1, "seen": ["base"], "tags": ["x"], "kept": {"a": [1]}}
    deltas = [{"total": i, "seen": [i], "tags": ["x", f"t{i % 3}"]} for i in range(10)]
    fold = Fold(base, reducers)
    for start in range(0, len(deltas), 3):
        fold.add(deltas[start : start + 3])
    assert fold.merged == fold_changes(base, deltas, reducers)
    # The caller's base is untouched, and nothing in the result is shared with it.
    assert base == {"total": 1, "seen": ["base"], "tags": ["x"], "kept": {"a": [1]}}
    assert fold.merged["kept"] is not base["kept"]


def test_an_owned_base_is_folded_into_in_place() -> None:
    base = {"seen": [0], "total": 0}
    fold = Fold(base, {"seen": Reducer.APPEND, "total": Reducer.ADD}, owned=True)
    fold.add([{"seen": [1], "total": 1}, {"seen": [2], "total": 2}])
    assert fold.merged is base
    assert base == {"seen": [0, 1, 2], "total": 3}
