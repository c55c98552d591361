"""Property tests: the carrier keeps arbitrary JSON exact, and changes always explain snapshot()."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dwarf.workflow._flow import Flow
from dwarf.workflow._json import dumps, loads

# Unicode beyond the BMP included; NUL and lone surrogates excluded (no database stores them).
texts = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8)
keys = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=4)
scalars = st.none() | st.booleans() | texts | st.floats(allow_nan=False, allow_infinity=False)
scalars = scalars | st.integers() | st.integers(min_value=-(2**200), max_value=2**200)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
json_states = st.dictionaries(keys, json_values, max_size=6)


def apply_changes(state: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Replace semantics; a None in changes removes the field."""
    merged = dict(state)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@given(json_states)
def test_arbitrary_json_state_survives_the_carrier_and_a_json_round_trip(
    state: dict[str, Any],
) -> None:
    flow = Flow(state=state)
    assert flow.snapshot() == state
    assert loads(dumps(flow.snapshot())) == state


@given(json_states)
def test_values_written_come_back_exactly_through_changes(state: dict[str, Any]) -> None:
    flow = Flow()
    for key, value in state.items():
        flow.set(key, value)
    assert loads(dumps(flow.changes)) == state
    assert flow.snapshot() == {k: v for k, v in state.items() if v is not None}


operations = st.one_of(
    st.tuples(st.just("set"), keys, json_values),
    st.tuples(st.just("delete"), st.lists(keys, max_size=3)),
    st.tuples(st.just("clear")),
    st.tuples(st.just("transform"), st.lists(st.tuples(keys, keys), max_size=3)),
)


@given(json_states, st.dictionaries(keys, json_values, max_size=3), st.lists(operations))
def test_input_state_merged_with_changes_equals_snapshot_after_any_edits(
    row_state: dict[str, Any], prior: dict[str, Any], ops: list[tuple[Any, ...]]
) -> None:
    # The engine hands the task the row state merged with earlier attempts' changes.
    input_state = apply_changes(row_state, prior)
    flow = Flow(state=input_state, changes=prior)
    for op in ops:
        if op[0] == "set":
            flow.set(op[1], op[2])
        elif op[0] == "delete":
            flow.delete(*op[1])
        elif op[0] == "clear":
            flow.clear()
        else:
            flow.transform(*[name for pair in op[1] for name in pair])
        assert apply_changes(input_state, flow.changes) == flow.snapshot()
        assert apply_changes(row_state, loads(dumps(flow.changes))) == flow.snapshot()
