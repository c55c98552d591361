"""Model-based test: random fan-out graphs end with the state the reference interpreter predicts.

Hypothesis builds DAG-shaped graphs with the public ``Graph`` builders: a trunk of items, each a
task, a static fan-out (2-4 branches, each edge optionally guarded by ``when``, at most one going
straight into the fan-in), a forEach fan-out (0-4 elements; the array may also be absent, vary in
length from branch to branch, or come from the initial state), a mixed fan-out (1-2 forEach
edges among 1-2 static ones, in a drawn order) or a switch (first-match routing on state or on a
branch's forEach position; always with a default inside a branch). Every fan-out closes at its
own fan-in, which may be the next fan-out's source; a branch is 1-3 items and may hold one more
(nested) fan-out, possibly reusing its parent's ``as`` name. Trunk items may be joined by
``when`` edges (false: the flow ends there). State fields carry reducers drawn per field (add,
append, union, max, min, concat, merge, replace, and, or). Graphs that ``validate()`` refuses
are discarded with ``assume``.

Every task is the same pure function of its node name and the forEach bindings in its input
(``Workload.delta``): it sets (or now and then deletes) a few fields with values derived from
that text, and a fan-out source writes its forEach array. The flow runs on the real engine
(``run_in_test``: SQLite in memory, concurrent workers) and through ``reference_interpreter``,
which executes the graph sequentially by the rules in docs/internals/ (its docstring names the rule
each rule comes from). The outcome must be ``completed`` with exactly the predicted final state,
and the engine must have run exactly the steps, with exactly the inputs' bindings, that the
interpreter ran (compared as multisets: the engine runs branches concurrently).

A failing example prints the scenario as a graph JSON plus the workload, which is enough to
rebuild it by hand as a deterministic regression test below.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from dwarf.engine import Engine, TestProxy
from dwarf.errors import BadRequestError
from dwarf.workflow import END, Flow, FlowOutcome, Graph, Reducer, Status
from dwarf.workflow._json import canonical
from tests.fixtures.databases import (
    create_mysql_database,
    create_postgres_database,
    database_name,
    drop_mysql_database,
    drop_postgres_database,
    unavailable,
)
from tests.property.reference_interpreter import ReferenceInterpreter

WORKFLOW = "model"
AS_NAMES = ("item", "el")
"""The forEach ``as`` names drawn from: two, so a nested forEach may reuse its parent's name."""
UNION_ALPHABET = ("a", "b", "c")
REDUCERS = (
    Reducer.ADD,
    Reducer.APPEND,
    Reducer.UNION,
    Reducer.MAX,
    Reducer.MIN,
    Reducer.CONCAT,
    Reducer.MERGE,
    Reducer.REPLACE,
    Reducer.AND,
    Reducer.OR,
)
NUMERIC = frozenset({Reducer.ADD, Reducer.MAX, Reducer.MIN})
RUN_TIMEOUT = 30.0
ABSENT = "absent"
"""A forEach array nobody writes: the field is missing, so the edge makes no branch."""
VARIES = "varies"
"""A forEach array whose length derives from the source step's tag (differs per branch)."""
INITIAL = "initial"
"""A forEach array given in the flow's initial state rather than written by its source."""


# --- the workload: what every task writes ---------------------------------------------------


@dataclass
class Workload:
    """What each task writes, as a pure function of its name and its input's forEach bindings."""

    reducers: dict[str, Reducer]
    writes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Per task: ``(field, "set" | "delete")`` in the order written."""
    lists: dict[str, list[tuple[str, int | str]]] = field(default_factory=dict)
    """Per forEach source: each array field it iterates and its length, or ``ABSENT``,
    ``VARIES`` or ``INITIAL``."""

    @staticmethod
    def tag(name: str, state: Mapping[str, Any]) -> str:
        """The text a step's writes derive from: its node and the bindings it sees."""
        parts = [name]
        for as_name in AS_NAMES:
            if as_name in state:
                element = canonical(state[as_name])
                parts.append(f"{as_name}={element}@{state.get(f'{as_name}Index')}")
        return "/".join(parts)

    def delta(self, name: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """The changes task ``name`` makes when it runs on ``state`` (``None``: deleted)."""
        tag = self.tag(name, state)
        changes: dict[str, Any] = {}
        for field_name, op in self.writes.get(name, []):
            if op == "delete":
                changes[field_name] = None
            else:
                changes[field_name] = value_for(self.reducers[field_name], tag, field_name, name)
        for array_field, spec in self.lists.get(name, []):
            length = _hash(f"{tag}|{array_field}") % 4 if spec == VARIES else spec
            if isinstance(length, int):
                changes[array_field] = array_of(array_field, length)
        return changes

    def initial_arrays(self) -> dict[str, Any]:
        """The ``INITIAL`` arrays, as the flow's initial state carries them."""
        return {
            array_field: array_of(array_field, _hash(array_field) % 5)
            for specs in self.lists.values()
            for array_field, spec in specs
            if spec == INITIAL
        }


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def value_for(reducer: Reducer, tag: str, field_name: str, name: str) -> Any:
    """A value of the JSON kind ``reducer`` combines, derived from ``tag`` (deterministic)."""
    h = _hash(f"{tag}|{field_name}")
    match reducer:
        case Reducer.ADD:
            # Quarters now and then: exact in binary, so int/float mixing is tested, not rounding.
            return h % 9 + 1 if h % 4 else (h % 9) / 4
        case Reducer.MAX | Reducer.MIN:
            return h % 50 if h % 5 else (h % 50) / 2
        case Reducer.APPEND:
            return [tag]
        case Reducer.UNION:
            return [UNION_ALPHABET[h % 3], UNION_ALPHABET[(h // 3) % 3]]
        case Reducer.CONCAT:
            return f"{tag};"
        case Reducer.MERGE:
            # Keyed by node: the branches of one forEach collide, so branch order decides.
            return {name: h % 5}
        case Reducer.AND | Reducer.OR:
            return h % 3 != 0
        case _:
            return tag


def array_of(array_field: str, length: int) -> list[Any]:
    """The forEach array stored in ``array_field``: strings, numbers or objects."""
    kind = _hash(array_field) % 3
    if kind == 0:
        return [f"{array_field}.{index}" for index in range(length)]
    if kind == 1:
        return [index * 10 for index in range(length)]
    return [{"array": array_field, "n": index} for index in range(length)]


# --- scenarios ------------------------------------------------------------------------------


@dataclass
class Scenario:
    """A graph, what its tasks write, and the flow's initial state."""

    graph: Graph
    workload: Workload
    initial_state: dict[str, Any]
    features: frozenset[str] = frozenset()
    """Shapes the scenario exercises, reported as Hypothesis events."""

    def __repr__(self) -> str:
        return (
            f"Scenario(\n  graph={self.graph.to_json()},\n"
            f"  writes={self.workload.writes!r},\n  lists={self.workload.lists!r},\n"
            f"  initial_state={self.initial_state!r})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How Hypothesis prints a falsifying example: the compact ``repr``."""
        del cycle
        printer.text(repr(self))


class _Builder:
    """Grows one graph from Hypothesis draws; see the module docstring for the shapes."""

    def __init__(self, draw: st.DrawFn, workload: Workload) -> None:
        self.draw = draw
        self.workload = workload
        self.graph = Graph(WORKFLOW)
        self.fields = sorted(workload.reducers)
        self.count = 0
        self.features: set[str] = set()
        self.as_stack: list[str] = []

    def task(self, prefix: str) -> str:
        self.count += 1
        name = f"{prefix}{self.count}"
        self.graph.add_task(name, name)
        written = self.draw(st.lists(st.sampled_from(self.fields), max_size=3, unique=True))
        ops = st.sampled_from(("set", "set", "delete"))
        self.workload.writes[name] = [(field_name, self.draw(ops)) for field_name in written]
        if any(op == "delete" for _, op in self.workload.writes[name]):
            self.features.add("delete")
        return name

    def chain(self, depth: int, low: int, high: int) -> tuple[str, str]:
        """A run of ``low..high`` items; returns its first and last node.

        Items are joined by plain edges, or on the trunk now and then by a ``when`` edge (false:
        the flow ends there). A fan-out may use the previous item's fan-in as its source."""
        first = last = ""
        for _ in range(self.draw(st.integers(low, high))):
            reusable = last if last and self.graph.is_fan_in(last) else ""
            entry, exit_ = self.item(depth, reusable)
            if not last:
                first = entry
            elif entry != last:
                when = self.draw(st.none() | self.conditions()) if depth == 0 else None
                if when is None:
                    self.graph.add_transition(last, entry)
                else:
                    self.features.add("guarded trunk edge")
                    self.graph.add_transition_when(last, entry, when)
            last = exit_
        return first, last

    def item(self, depth: int, reusable: str) -> tuple[str, str]:
        kinds = ["task", "switch"]
        if depth <= 1:
            kinds += ["static", "for_each", "mixed"]
        kind = self.draw(st.sampled_from(kinds))
        self.features.add(kind)
        if kind == "task":
            name = self.task("T")
            return name, name
        if depth >= 1:
            self.features.add(f"nested {kind}")
        if kind == "switch":
            return self.switch(default=depth > 0)
        if reusable and self.draw(st.booleans()):
            self.features.add("fan-in is the next source")
            return reusable, self.fan_out(depth, kind, reusable)
        source = self.task("S")
        return source, self.fan_out(depth, kind, source)

    def fan_out(self, depth: int, kind: str, source: str) -> str:
        """Branches out of ``source`` closing at a new fan-in, which is returned.

        Static edges and forEach edges (a mixed fan-out has 1-2 of each) come in a drawn order:
        declaration order is branch order, so it decides the fan-in's merge order."""
        fan_in = self.task("J")
        self.graph.set_fan_in(fan_in)
        statics = self.draw(st.integers(*{"static": (2, 4), "mixed": (1, 2)}.get(kind, (0, 0))))
        for_eaches = self.draw(
            st.integers(*{"static": (0, 0), "for_each": (1, 1)}.get(kind, (1, 2)))
        )
        if for_eaches > 1:
            self.features.add("two forEach edges")
        order = self.draw(st.permutations(["static"] * statics + ["for_each"] * for_eaches))
        # At most one branch goes straight from the source into the fan-in (an arrival with no
        # step): a second identical edge would be a no-op.
        direct_at = self.draw(st.integers(0, 4 * statics)) if statics >= 2 else -1
        static_index = 0
        for edge_kind in order:
            if edge_kind == "for_each":
                self.for_each_edge(source, fan_in, depth)
                continue
            if static_index == direct_at:
                self.features.add("source straight into fan-in")
                first = last = ""
            else:
                first, last = self.chain(depth + 1, 1, 3)
            when = self.draw(st.none() | self.conditions())
            static_index += 1
            target = first or fan_in
            if when is None:
                self.graph.add_transition(source, target)
            else:
                self.features.add("when edge")
                self.graph.add_transition_when(source, target, when)
            if last:
                self.graph.add_transition(last, fan_in)
        return fan_in

    def for_each_edge(self, source: str, fan_in: str, depth: int) -> None:
        array_field = f"list_{source}_{len(self.workload.lists.get(source, []))}"
        # Each special array as likely as each fixed length 0..4.
        specs: tuple[int | str, ...] = (0, 1, 2, 3, 4, ABSENT, VARIES, INITIAL)
        spec = self.draw(st.sampled_from(specs))
        self.workload.lists.setdefault(source, []).append((array_field, spec))
        if isinstance(spec, str):
            self.features.add(f"{spec} array")
        else:
            self.features.add("empty array" if spec == 0 else "array")
        as_name = self.draw(st.sampled_from(AS_NAMES))
        if as_name in self.as_stack:
            self.features.add("as name reused when nested")
        self.as_stack.append(as_name)
        first, last = self.chain(depth + 1, 1, 3)
        self.as_stack.pop()
        self.graph.add_transition_for_each(source, first, array_field, as_name)
        self.graph.add_transition(last, fan_in)

    def switch(self, *, default: bool) -> tuple[str, str]:
        """A first-match switch to detours or straight to a join node.

        Inside a cohort a switch always has a default: a branch step with no successor fails
        its step, which the reference does not model."""
        decide = self.task("D")
        join = self.task("N")
        cases = [self.draw(self.conditions()) for _ in range(self.draw(st.integers(1, 2)))]
        if default or self.draw(st.booleans()):
            cases.append("true")
        for when in cases:
            if self.draw(st.booleans()):
                detour = self.task("X")
                self.graph.add_transition_switch(decide, detour, when)
                self.graph.add_transition(detour, join)
            else:
                self.graph.add_transition_switch(decide, join, when)
        return decide, join

    def conditions(self) -> st.SearchStrategy[str]:
        """``when`` expressions over this graph's fields (or a constant)."""

        def on(field_name: str) -> st.SearchStrategy[str]:
            reducer = self.workload.reducers[field_name]
            if reducer in NUMERIC:
                ops = st.sampled_from((">=", "<"))
                return st.builds(lambda op, t: f"{field_name} {op} {t}", ops, st.integers(0, 20))
            if reducer is Reducer.UNION:
                member = st.sampled_from(UNION_ALPHABET).map(lambda v: f"{field_name}.{v}")
                return member | member.map(lambda text: f"!{text}")
            return st.sampled_from((field_name, f"!{field_name}"))

        options = st.sampled_from(("true", "false")) | st.sampled_from(self.fields).flatmap(on)
        if not self.as_stack:
            return options
        # Inside a forEach branch: route on the branch's position, so branches diverge.
        positions = st.builds(
            lambda name, op, bound: f"{name}Index {op} {bound}",
            st.sampled_from(self.as_stack),
            st.sampled_from((">=", "<", "==")),
            st.integers(0, 3),
        )
        return options | positions


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A validated random graph with its workload and initial state."""
    field_count = draw(st.integers(1, 4))
    reducers = {f"f{i}": draw(st.sampled_from(REDUCERS)) for i in range(field_count)}
    workload = Workload(reducers)
    builder = _Builder(draw, workload)
    first, last = builder.chain(0, 1, 4)
    graph = builder.graph
    graph.add_transition(last, END)
    graph.set_entry_point(first)
    for field_name, reducer in reducers.items():
        graph.set_reducer(field_name, reducer)
    try:
        graph.validate()
    except BadRequestError:
        assume(False)
    initial = {
        name: value_for(reducer, "init", name, "init")
        for name, reducer in reducers.items()
        if draw(st.booleans())
    }
    initial.update(workload.initial_arrays())
    return Scenario(graph, workload, initial, frozenset(builder.features))


# --- running --------------------------------------------------------------------------------


def predict(scenario: Scenario) -> tuple[dict[str, Any], Counter[str]]:
    """The reference interpreter's final state and the steps it ran (as tags)."""
    interpreter = ReferenceInterpreter(scenario.graph, scenario.workload.delta)
    final = interpreter.run(scenario.initial_state)
    return final, Counter(Workload.tag(entry.node, entry.state) for entry in interpreter.trace)


async def run_on_engine(
    scenario: Scenario, dsn: str | None = None
) -> tuple[FlowOutcome, Counter[str]]:
    """Run the scenario on a fresh engine (``run_in_test``, or on ``dsn``); outcome and steps."""
    proxy = TestProxy()
    proxy.handle_graph(WORKFLOW, scenario.graph)
    ran: Counter[str] = Counter()
    workload = scenario.workload
    for node in scenario.graph.nodes():

        async def handler(flow: Flow, name: str = node.name) -> None:
            state = flow.snapshot()
            ran[Workload.tag(name, state)] += 1
            for key, value in workload.delta(name, state).items():
                if value is None:
                    flow.delete(key)
                else:
                    flow.set(key, value)

        proxy.handle_task(node.url, handler)
    engine = Engine().with_graph_loader(proxy.load_graph).with_task_executor(proxy.execute_task)
    scope = engine.run_in_test() if dsn is None else engine.with_dsn(dsn)
    async with scope:
        outcome = await engine.run(WORKFLOW, scenario.initial_state, timeout=RUN_TIMEOUT)
    return outcome, ran


def check(scenario: Scenario, dsn: str | None = None) -> None:
    """Assert the engine ends where the reference interpreter says, having run the same steps."""
    expected, expected_steps = predict(scenario)
    outcome, ran = asyncio.run(run_on_engine(scenario, dsn))
    assert outcome.status is Status.COMPLETED, outcome.error
    assert outcome.state == expected
    assert ran == expected_steps


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(scenario=scenarios())
def test_random_fan_out_graph_ends_with_the_reference_final_state(scenario: Scenario) -> None:
    for feature in sorted(scenario.features):
        event(feature)
    check(scenario)


@pytest.mark.parametrize("server", ["postgresql", "mysql"])
def test_random_fan_out_graphs_on_the_servers_take_their_fast_paths_correctly(
    server: str, request: pytest.FixtureRequest
) -> None:
    """The same model check on PostgreSQL and MariaDB, whose fast paths (single-statement or
    two-table transitions, also for chains inside branches) SQLite never takes."""
    create, drop = {
        "postgresql": (create_postgres_database, drop_postgres_database),
        "mysql": (create_mysql_database, drop_mysql_database),
    }[server]
    name = database_name(request.node.nodeid)
    try:
        dsn = asyncio.run(create(name))
    except OSError as exc:
        unavailable(server, exc)
        raise

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        database=None,
    )
    @given(scenario=scenarios())
    def on_server(scenario: Scenario) -> None:
        check(scenario, dsn)

    try:
        on_server()
    finally:
        asyncio.run(drop(name))


# --- fixed scenarios ------------------------------------------------------------------------


def _fixed(graph: Graph, workload: Workload, initial: dict[str, Any]) -> Scenario:
    for field_name, reducer in workload.reducers.items():
        graph.set_reducer(field_name, reducer)
    graph.validate()
    return Scenario(graph, workload, initial)


def test_nested_for_each_fan_in_appends_inner_writes_in_branch_order() -> None:
    # S1 -forEach(item)-> S2 -forEach(el)-> T3 -> J4 -> J5 -> END: T3's appends from every inner
    # branch reach the outer fan-in, outer branch first, then inner element order.
    graph = Graph(WORKFLOW)
    for name in ("S1", "S2", "T3", "J4", "J5"):
        graph.add_task(name, name)
    graph.add_transition_for_each("S1", "S2", "list_S1", "item")
    graph.add_transition_for_each("S2", "T3", "list_S2", "el")
    graph.add_transition("T3", "J4")
    graph.add_transition("J4", "J5")
    graph.add_transition("J5", END)
    graph.set_fan_in("J4")
    graph.set_fan_in("J5")
    workload = Workload(
        {"log": Reducer.APPEND, "n": Reducer.ADD},
        writes={"T3": [("log", "set")]},
        lists={"S1": [("list_S1", 2)], "S2": [("list_S2", 2)]},
    )
    scenario = _fixed(graph, workload, {"n": 1})

    final, _ = predict(scenario)

    outer = array_of("list_S1", 2)
    inner = array_of("list_S2", 2)
    assert final["log"] == [
        f"T3/item={canonical(o)}@{i}/el={canonical(e)}@{j}"
        for i, o in enumerate(outer)
        for j, e in enumerate(inner)
    ]
    assert "item" not in final
    assert "el" not in final
    check(scenario)


def test_empty_for_each_fires_its_fan_in_with_the_source_delta_reduced() -> None:
    # S1 writes an empty array and adds 5 to n (initially 2): the fan-in runs once, on n = 7.
    graph = Graph(WORKFLOW)
    for name in ("S1", "T2", "J3"):
        graph.add_task(name, name)
    graph.add_transition_for_each("S1", "T2", "list_S1", "item")
    graph.add_transition("T2", "J3")
    graph.add_transition("J3", END)
    graph.set_fan_in("J3")
    workload = Workload(
        {"n": Reducer.ADD}, writes={"S1": [("n", "set")]}, lists={"S1": [("list_S1", 0)]}
    )
    scenario = _fixed(graph, workload, {"n": 2})
    source_delta = workload.delta("S1", {})["n"]

    final, steps = predict(scenario)

    assert final == {"n": 2 + source_delta, "list_S1": []}
    assert steps == Counter({"S1": 1, "J3": 1})
    check(scenario)


def test_a_write_after_deleting_a_reduced_field_lands_unreduced() -> None:
    # Found on PostgreSQL: T1 deletes the union field f1, T16 then writes it with a duplicate
    # element. T16's input is materialized (f1 absent, not null), so the final fold stores T16's
    # value as-is (docs/internals/state.md#c4: a key absent from the base takes the delta as is).
    graph = Graph(WORKFLOW)
    graph.add_transition_chain("T1", "T16", END)
    workload = Workload(
        {"f1": Reducer.UNION}, writes={"T1": [("f1", "delete")], "T16": [("f1", "set")]}
    )
    scenario = _fixed(graph, workload, {"f1": ["a"]})
    written = workload.delta("T16", {})["f1"]
    assert len(set(written)) < len(written), "the case needs a duplicate element"

    final, _ = predict(scenario)

    assert final == {"f1": written}
    check(scenario)


@pytest.mark.parametrize("default", [False, True])
def test_switch_without_a_match_ends_the_flow_at_the_switch(default: bool) -> None:
    graph = Graph(WORKFLOW)
    for name in ("D1", "X2", "N3"):
        graph.add_task(name, name)
    graph.add_transition_switch("D1", "X2", "n >= 100")
    if default:
        graph.add_transition_switch("D1", "N3", "true")
    graph.add_transition("X2", "N3")
    graph.add_transition("N3", END)
    workload = Workload({"n": Reducer.ADD}, writes={"D1": [("n", "set")], "N3": [("n", "set")]})
    scenario = _fixed(graph, workload, {"n": 1})

    _, steps = predict(scenario)

    assert steps == (Counter({"D1": 1, "N3": 1}) if default else Counter({"D1": 1}))
    check(scenario)


# --- engine bugs the model found (regressions) -----------------------------------------------


def _direct_only_scenario() -> Scenario:
    # S1 fans out to B3 (guarded by "false") and straight into its fan-in J2: only the direct
    # edge is taken, so S1's own arrival completes the cohort. J2 and T4 each write a field.
    graph = Graph(WORKFLOW)
    for name in ("S1", "J2", "B3", "T4"):
        graph.add_task(name, name)
    graph.add_transition("S1", "J2")
    graph.add_transition_when("S1", "B3", "false")
    graph.add_transition("B3", "J2")
    graph.add_transition("J2", "T4")
    graph.add_transition("T4", END)
    graph.set_fan_in("J2")
    workload = Workload(
        {"a": Reducer.REPLACE, "b": Reducer.REPLACE},
        writes={"J2": [("a", "set")], "T4": [("b", "set")]},
    )
    return _fixed(graph, workload, {})


def test_reference_keeps_fan_in_writes_after_a_direct_only_cohort() -> None:
    final, steps = predict(_direct_only_scenario())

    assert final == {"a": "J2", "b": "T4"}
    assert steps == Counter({"S1": 1, "J2": 1, "T4": 1})


def test_source_routed_only_into_its_fan_in_is_no_dag_tail() -> None:
    outcome, _ = asyncio.run(run_on_engine(_direct_only_scenario()))

    assert outcome.status is Status.COMPLETED
    assert outcome.state == {"a": "J2", "b": "T4"}
