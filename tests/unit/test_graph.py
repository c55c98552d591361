"""Graph builders, inspectors, engine-facing helpers and the JSON form."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from dwarf.errors import BadRequestError
from dwarf.workflow._graph import Graph
from dwarf.workflow._graph_elements import END, Node, Transition
from dwarf.workflow._reducers import Reducer


def fan_out_graph() -> Graph:
    g = Graph("fan")
    g.add_transition_fan_out("split", "a", "b")
    g.add_transition("a", "join")
    g.add_transition("b", "join")
    g.set_fan_in("join")
    g.add_transition("join", END)
    return g


# --- construction and tasks -------------------------------------------------------------------


def test_graph_takes_its_name_positionally() -> None:
    g = Graph("checkout")
    assert g.name == "checkout"
    assert g.entry_point == ""
    assert g.nodes() == []
    assert g.transitions() == []
    assert g.reducers() == {}


def test_first_task_added_is_the_entry_point() -> None:
    g = Graph("g")
    g.add_task("first", "svc/first")
    g.add_task("second", "svc/second")
    assert g.entry_point == "first"


def test_set_entry_point_overrides_the_first_task() -> None:
    g = Graph("g")
    g.add_task("first", "svc/first")
    g.add_task("second", "svc/second")
    g.set_entry_point("second")
    assert g.entry_point == "second"


def test_re_adding_a_task_updates_its_url_and_keeps_its_position() -> None:
    g = Graph("g")
    g.add_task("a", "svc/old")
    g.add_task("b", "svc/b")
    g.add_task("a", "svc/new")
    assert [(n.name, n.url) for n in g.nodes()] == [("a", "svc/new"), ("b", "svc/b")]
    assert g.url_of("a") == "svc/new"


def test_add_task_with_empty_url_dispatches_to_its_name() -> None:
    g = Graph("g")
    g.add_task("hello", "")
    assert g.url_of("hello") == "hello"


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda g: g.add_task("", "url"), "add_task: task name"),
        (lambda g: g.add_task(END, "url"), "'END' is reserved"),
        (lambda g: g.set_entry_point(""), "set_entry_point"),
        (lambda g: g.add_transition("", "b"), "add_transition: source"),
        (lambda g: g.add_transition("a", ""), "add_transition: target"),
        (lambda g: g.add_transition_when("a", "b", ""), "'when'"),
        (lambda g: g.add_transition_switch("a", "b", ""), "'when'"),
        (lambda g: g.add_transition_for_each("a", "b", "", "x"), "'for_each'"),
        (lambda g: g.add_transition_chain("a", "", "c"), "add_transition_chain: target"),
        (lambda g: g.add_transition_fan_out("a", "b", ""), "add_transition_fan_out: target"),
        (lambda g: g.set_fan_in(""), "set_fan_in"),
        (lambda g: g.set_fan_in(END), "cannot be a fan-in"),
        (lambda g: g.set_reducer("", Reducer.ADD), "set_reducer: field"),
        (lambda g: g.annotate("", "note"), "annotate"),
    ],
)
def test_builders_reject_empty_or_reserved_names(
    call: Callable[[Graph], object], needle: str
) -> None:
    g = Graph("g")
    with pytest.raises(BadRequestError) as info:
        call(g)
    assert needle in str(info.value)
    assert info.value.status_code == 400


def test_set_reducer_rejects_an_unknown_reducer_name() -> None:
    g = Graph("g")
    with pytest.raises(BadRequestError, match="unknown reducer 'sum' for field 'total'"):
        g.set_reducer("total", "sum")  # type: ignore[arg-type]


def test_set_reducer_accepts_the_reducer_value_as_text() -> None:
    g = Graph("g")
    g.set_reducer("total", "add")  # type: ignore[arg-type]
    assert g.reducers() == {"total": Reducer.ADD}


# --- transitions ----------------------------------------------------------------------------


def test_transition_endpoints_auto_register_tasks_named_as_their_url() -> None:
    g = Graph("g")
    g.add_transition("svc/a", "svc/b")
    g.add_transition_when("svc/b", "svc/c", "done == true")
    assert [(n.name, n.url) for n in g.nodes()] == [
        ("svc/a", "svc/a"),
        ("svc/b", "svc/b"),
        ("svc/c", "svc/c"),
    ]
    assert g.entry_point == "svc/a"


def test_end_is_never_registered_as_a_task() -> None:
    g = Graph("g")
    g.add_transition("a", END)
    assert [n.name for n in g.nodes()] == ["a"]
    assert g.url_of(END) == END


def test_an_endpoint_naming_a_tasks_url_resolves_to_that_task() -> None:
    g = Graph("g")
    g.add_task("charge", "billing/charge")
    g.add_transition("billing/charge", END)
    assert g.transitions() == [Transition(from_="charge", to=END)]
    assert [n.name for n in g.nodes()] == ["charge"]


def test_an_endpoint_matching_a_shared_url_registers_a_new_task() -> None:
    g = Graph("g")
    g.add_task("one", "svc/work")
    g.add_task("two", "svc/work")
    g.add_transition("one", "svc/work")
    assert g.transitions() == [Transition(from_="one", to="svc/work")]
    assert g.names_for_url("svc/work") == ["one", "two", "svc/work"]


def test_each_builder_records_its_transition_kind() -> None:
    g = Graph("g")
    g.add_transition("a", "b")
    g.add_transition_when("a", "c", "x > 1")
    g.add_transition_switch("b", "d", "true")
    g.add_transition_goto("c", "a")
    g.add_transition_for_each("c", "e", "items", "item")
    g.add_transition_on_error("d", "f")
    kinds = [(t.from_, t.to, t.kind) for t in g.transitions()]
    assert kinds == [
        ("a", "b", "plain"),
        ("a", "c", "when"),
        ("b", "d", "switch"),
        ("c", "a", "goto"),
        ("c", "e", "for_each"),
        ("d", "f", "on_error"),
    ]


def test_for_each_alias_defaults_to_item() -> None:
    g = Graph("g")
    g.add_transition_for_each("a", "b", "items", "")
    assert g.transitions()[0].as_ == "item"


def test_an_identical_transition_added_twice_is_kept_once() -> None:
    g = Graph("g")
    g.add_transition("a", "b")
    g.add_transition("a", "b")
    g.add_transition_when("a", "c", "x > 1")
    g.add_transition_when("a", "c", "x > 1")
    assert len(g.transitions()) == 2


def test_transitions_differing_in_kind_or_expression_are_both_kept() -> None:
    g = Graph("g")
    g.add_transition_when("a", "b", "gate == 1")
    g.add_transition_when("a", "b", "gate > 0")
    g.add_transition("a", "b")
    g.add_transition_goto("a", "b")
    assert len(g.transitions()) == 4


def test_fan_out_adds_one_plain_edge_per_destination() -> None:
    g = Graph("g")
    g.add_transition_fan_out("a", "b", "c", "d")
    assert [(t.from_, t.to) for t in g.transitions()] == [("a", "b"), ("a", "c"), ("a", "d")]
    g.add_transition_fan_out("solo")
    assert len(g.transitions()) == 3


def test_chain_links_consecutive_names() -> None:
    g = Graph("g")
    g.add_transition_chain("a", "b", "c", END)
    assert [(t.from_, t.to) for t in g.transitions()] == [("a", "b"), ("b", "c"), ("c", END)]
    g.add_transition_chain("solo")
    assert len(g.transitions()) == 3


def test_inspector_results_are_copies() -> None:
    g = fan_out_graph()
    g.set_reducer("total", Reducer.ADD)
    g.nodes().clear()
    g.transitions().clear()
    g.reducers().clear()
    assert len(g.nodes()) == 4
    assert len(g.transitions()) == 5
    assert g.reducers() == {"total": Reducer.ADD}


# --- fan-in, fan-out, notes -----------------------------------------------------------------


def test_set_fan_in_marks_the_task() -> None:
    g = fan_out_graph()
    assert g.is_fan_in("join")
    assert not g.is_fan_in("a")
    assert g.node("join") == Node(name="join", url="join", fan_in=True)


def test_set_fan_in_before_the_task_exists_applies_when_it_is_added() -> None:
    g = Graph("g")
    g.set_fan_in("join")
    assert g.is_fan_in("join")
    g.add_transition_fan_out("s", "a", "b")
    g.add_transition_chain("a", "join", END)
    g.add_transition("b", "join")
    assert g.entry_point == "s"
    node = g.node("join")
    assert node is not None
    assert node.fan_in


def test_fan_out_source_needs_two_plain_edges_or_a_for_each() -> None:
    g = Graph("g")
    g.add_transition_fan_out("static", "a", "b")
    g.add_transition_for_each("dynamic", "c", "items", "item")
    g.add_transition_when("conditional", "a", "x > 1")
    g.add_transition_when("conditional", "b", "x > 2")
    g.add_transition("single", "a")
    assert g.is_fan_out_source("static")
    assert g.is_fan_out_source("dynamic")
    assert g.is_fan_out_source("conditional")
    assert not g.is_fan_out_source("single")
    assert not g.is_fan_out_source("a")


def test_goto_on_error_and_switch_edges_do_not_make_a_fan_out() -> None:
    g = Graph("g")
    g.add_transition("a", "b")
    g.add_transition_goto("a", "c")
    g.add_transition_on_error("a", "d")
    g.add_transition_switch("s", "b", "x > 1")
    g.add_transition_switch("s", "c", "true")
    assert not g.is_fan_out_source("a")
    assert not g.is_fan_out_source("s")


def test_annotate_attaches_and_removes_a_note() -> None:
    g = Graph("g")
    g.add_task("a", "svc/a")
    g.annotate("a", "charges the card")
    assert g.annotation("a") == "charges the card"
    g.annotate("a", "")
    assert g.annotation("a") == ""
    assert g.annotation("missing") == ""


def test_annotate_before_the_task_exists_applies_when_it_is_added() -> None:
    g = Graph("g")
    g.annotate("later", "added after its note")
    g.add_task("later", "svc/later")
    assert g.annotation("later") == "added after its note"


# --- engine-facing helpers ------------------------------------------------------------------


def test_url_of_and_names_for_url() -> None:
    g = Graph("g")
    g.add_task("b", "svc/work")
    g.add_task("b_prime", "svc/work")
    assert g.url_of("b") == "svc/work"
    assert g.url_of("missing") == ""
    assert g.names_for_url("svc/work") == ["b", "b_prime"]
    assert g.names_for_url("svc/none") == []


def test_resolve_takes_a_name_or_an_unambiguous_url() -> None:
    g = Graph("g")
    g.add_task("charge", "billing/charge")
    g.add_task("b", "svc/work")
    g.add_task("b_prime", "svc/work")
    assert g.resolve("charge") == "charge"
    assert g.resolve("billing/charge") == "charge"
    assert g.resolve(END) == END
    assert g.resolve("svc/work") is None
    assert g.resolve("nothing") is None


def test_node_returns_the_task_or_none() -> None:
    g = Graph("g")
    g.add_task("a", "svc/a")
    assert g.node("a") == Node(name="a", url="svc/a")
    assert g.node("b") is None


def test_outgoing_lists_a_tasks_edges_in_declaration_order() -> None:
    g = Graph("g")
    g.add_transition_when("a", "c", "x > 1")
    g.add_transition("b", END)
    g.add_transition("a", "b")
    g.add_transition_on_error("a", "h")
    assert [(t.to, t.kind) for t in g.outgoing("a")] == [
        ("c", "when"),
        ("b", "plain"),
        ("h", "on_error"),
    ]
    assert g.outgoing("h") == []


def test_outgoing_resolves_url_endpoints_of_a_hand_written_graph() -> None:
    text = json.dumps(
        {
            "name": "g",
            "entryPoint": "a",
            "tasks": [{"name": "a", "url": "svc/a"}, {"name": "b", "url": "svc/b"}],
            "transitions": [{"from": "svc/a", "to": "svc/b"}, {"from": "b", "to": "END"}],
        }
    )
    g = Graph.from_json(text)
    assert g.outgoing("a") == [Transition(from_="a", to="b")]


def test_outgoing_reflects_later_builder_calls() -> None:
    g = Graph("g")
    g.add_transition("a", "b")
    assert len(g.outgoing("a")) == 1
    g.add_transition("a", "c")
    assert [t.to for t in g.outgoing("a")] == ["b", "c"]
    assert g.is_fan_out_source("a")


def test_fan_in_of_is_available_without_validate() -> None:
    g = fan_out_graph()
    assert g.fan_in_of("split") == "join"
    assert g.fan_in_of("a") is None
    assert g.fan_out_to_fan_in == {}


def test_fan_in_of_pairs_nested_fan_outs_with_their_own_fan_ins() -> None:
    g = Graph("nested")
    g.add_transition_for_each("outer", "inner", "tenants", "tenant")
    g.add_transition_for_each("inner", "leaf", "docs", "doc")
    g.add_transition_chain("leaf", "inner_join", "outer_join", END)
    g.set_fan_in("inner_join")
    g.set_fan_in("outer_join")
    assert g.fan_in_of("outer") == "outer_join"
    assert g.fan_in_of("inner") == "inner_join"


def test_validate_records_each_fan_outs_fan_in() -> None:
    g = fan_out_graph()
    g.validate()
    assert g.fan_out_to_fan_in == {"split": "join"}
    assert '"fanOutToFanIn":{"split":"join"}' in g.to_json()


# --- JSON -----------------------------------------------------------------------------------


def test_to_json_writes_the_engine_form_with_fixed_key_order() -> None:
    g = Graph("order")
    g.add_task("validate", "order/validate")
    g.add_transition_for_each("validate", "line", "lines", "ln")
    g.add_transition_chain("line", "join", END)
    g.set_fan_in("join")
    g.add_transition_on_error("validate", "reject")
    g.add_transition_goto("join", "validate")
    g.add_transition_switch("reject", END, "true")
    g.annotate("reject", "tells the customer")
    g.set_reducer("total", Reducer.ADD)
    g.set_reducer("lines_done", Reducer.APPEND)
    assert g.to_json() == (
        '{"name":"order","entryPoint":"validate","tasks":['
        '{"name":"validate","url":"order/validate"},'
        '{"name":"line","url":"line"},'
        '{"name":"join","url":"join","fanIn":true},'
        '{"name":"reject","url":"reject","note":"tells the customer"}],'
        '"transitions":['
        '{"from":"validate","to":"line","forEach":"lines","as":"ln"},'
        '{"from":"line","to":"join"},'
        '{"from":"join","to":"END"},'
        '{"from":"validate","to":"reject","onError":true},'
        '{"from":"join","to":"validate","withGoto":true},'
        '{"from":"reject","to":"END","when":"true","switch":true}],'
        '"reducers":{"lines_done":"append","total":"add"}}'
    )


def test_to_json_keeps_empty_task_and_transition_lists() -> None:
    assert Graph("empty").to_json() == (
        '{"name":"empty","entryPoint":"","tasks":[],"transitions":[]}'
    )


def test_to_json_keeps_non_ascii_text_as_is() -> None:
    g = Graph("grüße")
    g.add_transition("ünïcødé ✓", END)
    assert "ünïcødé ✓" in g.to_json()


def test_json_round_trip_is_exact() -> None:
    g = Graph("fan")
    g.add_transition_fan_out("split", "a", "b")
    g.add_transition_chain("a", "join")
    g.add_transition("b", "join")
    g.set_fan_in("join")
    g.add_transition_on_error("a", "recover")
    g.add_transition("recover", "join")
    g.add_transition_switch("join", "again", "retries < 3")
    g.add_transition_switch("join", END, "true")
    g.add_transition_goto("again", "split")
    g.add_transition("again", END)
    g.annotate("split", 'says "hi"')
    g.set_reducer("items", Reducer.UNION)
    g.validate()
    text = g.to_json()
    back = Graph.from_json(text)
    assert back == g
    assert back.to_json() == text


def test_from_json_reads_aliases_into_snake_case_fields() -> None:
    text = json.dumps(
        {
            "name": "g",
            "entryPoint": "s",
            "tasks": [{"name": "s", "url": "svc/s"}, {"name": "j", "url": "j", "fanIn": True}],
            "transitions": [
                {"from": "s", "to": "w", "forEach": "xs", "as": "x"},
                {"from": "w", "to": "j", "withGoto": True},
                {"from": "j", "to": "h", "onError": True},
                {"from": "j", "to": "END", "when": "true", "switch": True},
            ],
            "reducers": {"total": "add"},
            "fanOutToFanIn": {"s": "j"},
        }
    )
    g = Graph.from_json(text)
    assert g.entry_point == "s"
    assert g.is_fan_in("j")
    first, second, third, fourth = g.transitions()
    assert (first.for_each, first.as_) == ("xs", "x")
    assert second.with_goto
    assert third.on_error
    assert fourth.switch
    assert fourth.when == "true"
    assert g.reducers() == {"total": Reducer.ADD}
    assert g.fan_out_to_fan_in == {"s": "j"}


def test_from_json_gives_a_task_without_url_its_name() -> None:
    g = Graph.from_json('{"name":"g","entryPoint":"a","tasks":[{"name":"a"}],"transitions":[]}')
    assert g.url_of("a") == "a"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"entryPoint":"a"}', "name: Field required"),
        ('{"name":"g","tasks":[{"url":"u"}]}', "tasks[0].name: Field required"),
        ('{"name":"g","tasks":[{"name":"a","fanIn":"yes"}]}', "tasks[0].fanIn"),
        ('{"name":"g","transitions":[{"from":"a","to":"b","withGoto":1}]}', "withGoto"),
        ('{"name":"g","transitions":[{"from":"a"}]}', "transitions[0].to: Field required"),
        ('{"name":"g","transitions":[{"from":"a","to":"b","onerror":true}]}', "onerror: unknown"),
        ('{"name":"g","entry_point":"a"}', "entry_point: unknown key"),
        ('{"name":"g","reducers":{"total":"sum"}}', "reducers.total: unknown reducer 'sum'"),
        ('{"name":7}', "name: Input should be a valid string"),
    ],
)
def test_from_json_rejects_bad_input_naming_the_field(text: str, needle: str) -> None:
    with pytest.raises(BadRequestError) as info:
        Graph.from_json(text)
    message = str(info.value)
    assert needle in message
    assert "pydantic" not in message
    assert "\n" not in message


def test_graphs_with_the_same_contents_are_equal() -> None:
    one, two = fan_out_graph(), fan_out_graph()
    one.outgoing("split")  # warms one graph's memo only
    assert one == two
    two.add_transition("join", "extra")
    assert one != two


def test_a_graph_writes_its_current_contents_until_it_is_frozen() -> None:
    graph = Graph("g")
    graph.add_transition_chain("a", "b", END)
    before = graph.to_json()
    graph.add_transition("b", "a")
    assert graph.to_json() != before  # an edited graph writes its edit
    frozen = Graph.from_json(graph.to_json()).freeze()
    assert frozen.to_json() == graph.to_json()
    # Frozen: the text is written once and handed out again (every flow created stores it).
    assert frozen.to_json() is frozen.to_json()
    assert Graph.from_json(frozen.to_json()) == frozen
