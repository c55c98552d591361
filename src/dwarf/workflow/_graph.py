"""The workflow graph: tasks, transitions and reducers, built by methods and frozen as JSON.

A ``Graph`` is what a host's graph loader returns and what the engine freezes onto a flow at
create, so three properties shape this module:

* The JSON form is the contract (docs/internals/routing.md#r1), written and read strictly by
  ``_graph_json``; the pair round-trips exactly.
* Builders check only what is local and cheap (empty names, empty expressions); everything that
  needs the whole graph is left to ``validate()`` (``_validate.py``), because a graph is built one
  call at a time and is legitimately incomplete in between. So ``set_fan_in``/``annotate`` may name
  a task before it is added: the mark is held and applied when the task appears, and ``validate``
  rejects a mark whose task never did.
* The engine reads the graph on its hot path (``outgoing``, ``is_fan_out_source``, ``fan_in_of``),
  so derived tables are memoised (``_graph_tables``). The memo is keyed on the identity of the
  immutable ``Node`` and ``Transition`` objects held, which every builder replaces rather than
  mutates, so no mutation path (builders, assignment, ``model_copy``) can leave it stale.

Transition endpoints name tasks. An endpoint that is not a task name but is the URL of exactly one
task resolves to that task (builders store the resolved name; a hand-written JSON graph may keep the
URL, which ``outgoing`` and ``validate`` resolve). An endpoint naming nothing auto-registers a task
whose URL is its name, as upstream does, so ``g.add_transition("a", "b")`` is a complete edge; the
graph remembers which tasks were born that way so that ``validate`` can tell a misspelt endpoint
from a deliberate implicit task (docs/internals/routing.md#r7).
"""

from __future__ import annotations

import itertools
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from dwarf.errors import BadRequestError
from dwarf.workflow._graph_elements import END, Node, Transition
from dwarf.workflow._graph_json import graph_to_json, read_graph_document
from dwarf.workflow._graph_tables import GraphTables, derive_tables, resolve_in
from dwarf.workflow._reducers import Reducer

__all__ = ["Graph"]

_DEFAULT_AS: Final = "item"


def _require(value: str, what: str) -> str:
    if not value:
        raise BadRequestError(f"{what} must not be empty")
    return value


class Graph(BaseModel):
    """A workflow definition: tasks, the transitions between them, and the reducers that merge
    state at fan-in. Build it with the ``add_*``/``set_*`` methods, check it with ``validate()``,
    freeze it with ``to_json()``.

    The fields mirror the JSON form (``tasks``, ``edges`` as ``"transitions"``, ``field_reducers``
    as ``"reducers"``); read them through ``nodes()``, ``transitions()`` and ``reducers()``, which
    return copies, and change them only through the builders."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    name: str
    entry_point: str = Field(default="", alias="entryPoint")
    tasks: list[Node] = Field(default_factory=list)
    edges: list[Transition] = Field(default_factory=list, alias="transitions")
    field_reducers: dict[str, Reducer] = Field(default_factory=dict, alias="reducers")
    fan_out_to_fan_in: dict[str, str] = Field(default_factory=dict, alias="fanOutToFanIn")
    strict_routing: bool = Field(default=False, alias="strictRouting")

    _pending_fan_in: set[str] = PrivateAttr(default_factory=set)
    _pending_notes: dict[str, str] = PrivateAttr(default_factory=dict)
    # Tasks that only a transition endpoint created (never ``add_task``): validate() checks them
    # for typos of an added task. Build provenance, not content, so equality and JSON ignore it.
    _implicit: set[str] = PrivateAttr(default_factory=set)
    _derived: GraphTables | None = PrivateAttr(default=None)
    _lineage_memo: tuple[GraphTables, dict[str, str]] | None = PrivateAttr(default=None)
    _frozen: bool = PrivateAttr(default=False)
    # A frozen graph's JSON text, written once: every flow created from it stores that text.
    _json: str | None = PrivateAttr(default=None)

    def __init__(self, name: str | None = None, /, **data: Any) -> None:
        """Create an empty graph: ``Graph("checkout")``."""
        # Pydantic re-enters __init__ with keyword data when it validates a Graph, so the
        # positional name is optional here and required by the field instead.
        if name is not None:
            data["name"] = name
        super().__init__(**data)

    def __eq__(self, other: object) -> bool:
        # The memo is a cache, not content: two graphs with the same contents are equal whether
        # or not either has been read by the engine yet.
        if not isinstance(other, Graph):
            return NotImplemented
        return (
            self.__dict__ == other.__dict__
            and self._pending_fan_in == other._pending_fan_in
            and self._pending_notes == other._pending_notes
        )

    # ----------------------------------------------------------------------------------------
    # Builders

    def add_task(self, name: str, url: str) -> None:
        """Register task ``name`` dispatched to ``url`` (an empty URL means the name itself).

        The first task added becomes the entry point. Re-adding a name updates its URL. One URL
        may serve several names: that is how a task is reused at two positions of a graph."""
        _require(name, "add_task: task name")
        if name == END:
            raise BadRequestError(f"add_task: {END!r} is reserved for the terminal pseudo-node")
        url = url or name
        self._implicit.discard(name)
        for i, node in enumerate(self.tasks):
            if node.name == name:
                if node.url != url:
                    self.tasks[i] = node.model_copy(update={"url": url})
                return
        self.tasks.append(
            Node(
                name=name,
                url=url,
                fan_in=name in self._pending_fan_in,
                note=self._pending_notes.pop(name, ""),
            )
        )
        self._pending_fan_in.discard(name)
        if not self.entry_point:
            self.entry_point = name

    def set_entry_point(self, name: str) -> None:
        """Make task ``name`` the entry point instead of the first task added."""
        self.entry_point = _require(name, "set_entry_point: task name")

    def add_transition(self, src: str, dst: str) -> None:
        """Add an unconditional edge ``src -> dst`` (``dst`` may be ``END``).

        Two unconditional edges out of one task make it a fan-out source: both run in parallel
        and must converge on a ``set_fan_in`` task."""
        self._add_edge("add_transition", src, dst)

    def add_transition_when(self, src: str, dst: str, when: str) -> None:
        """Add an edge taken iff ``when`` holds over the state after ``src`` ran.

        Every ``when`` edge of a task is evaluated independently, so two of them are a
        conditional parallel fan-out, not an if/else: use ``add_transition_switch`` for that."""
        _require(when, "add_transition_when: 'when'")
        self._add_edge("add_transition_when", src, dst, when=when)

    def add_transition_switch(self, src: str, dst: str, when: str) -> None:
        """Add a first-match-wins edge: ``src``'s switch edges are tried in the order added and
        only the first whose ``when`` holds is taken (use ``"true"`` for the default branch)."""
        _require(when, "add_transition_switch: 'when'")
        self._add_edge("add_transition_switch", src, dst, when=when, switch=True)

    def add_transition_goto(self, src: str, dst: str) -> None:
        """Add an edge taken only when ``src``'s task calls ``flow.goto(dst)``."""
        self._add_edge("add_transition_goto", src, dst, with_goto=True)

    def add_transition_for_each(
        self, src: str, dst: str, for_each: str, as_: str = _DEFAULT_AS
    ) -> None:
        """Add a dynamic fan-out: one ``dst`` branch per element of the state array ``for_each``.

        A branch sees the element as ``<as_>``, its position as ``<as_>Index`` and the array's
        length as ``<as_>Count`` (``as_`` defaults to ``"item"``); the branches must converge on a
        ``set_fan_in`` task."""
        _require(for_each, "add_transition_for_each: 'for_each'")
        self._add_edge(
            "add_transition_for_each", src, dst, for_each=for_each, as_=as_ or _DEFAULT_AS
        )

    def add_transition_on_error(self, src: str, dst: str) -> None:
        """Add the edge taken when ``src``'s task fails (any exception), instead of failing the
        flow. The handler reads the error from state field ``onErr``; the failed task's own
        writes are discarded."""
        self._add_edge("add_transition_on_error", src, dst, on_error=True)

    def add_transition_fan_out(self, src: str, *dsts: str) -> None:
        """Add an unconditional edge from ``src`` to each of ``dsts`` (a static fan-out)."""
        for dst in dsts:
            self._add_edge("add_transition_fan_out", src, dst)

    def add_transition_chain(self, *names: str) -> None:
        """Add unconditional edges between consecutive names: ``("a", "b", END)`` is ``a -> b``
        and ``b -> END``. Fewer than two names add nothing."""
        for src, dst in itertools.pairwise(names):
            self._add_edge("add_transition_chain", src, dst)

    def set_fan_in(self, name: str) -> None:
        """Mark task ``name`` as a fan-in: the node where a fan-out's branches converge and
        their changes are merged with the reducers. It may be called before the task exists."""
        _require(name, "set_fan_in: task name")
        if name == END:
            raise BadRequestError(f"set_fan_in: {END!r} cannot be a fan-in")
        index = self._index_of(name)
        if index is None:
            self._pending_fan_in.add(name)
            return
        node = self.tasks[index]
        if not node.fan_in:
            self.tasks[index] = node.model_copy(update={"fan_in": True})

    def set_strict_routing(self, strict: bool) -> None:
        """Make a step whose outgoing transitions exist but none matched fail, instead of
        ending the flow as completed with a "no transition matched" note in its history entry
        and a warning in the log (the default) (docs/internals/routing.md#r8)."""
        self.strict_routing = bool(strict)

    def set_reducer(self, field: str, reducer: Reducer) -> None:
        """Merge state field ``field`` with ``reducer`` at fan-in (the default is ``replace``)."""
        _require(field, "set_reducer: field")
        try:
            self.field_reducers[field] = Reducer(reducer)
        except ValueError:
            raise BadRequestError(
                f"set_reducer: unknown reducer {reducer!r} for field {field!r}"
            ) from None

    def annotate(self, name: str, note: str) -> None:
        """Attach a short note to task ``name`` (rendered under it by ``mermaid()``); an empty
        note removes it. It may be called before the task exists."""
        _require(name, "annotate: task name")
        index = self._index_of(name)
        if index is None:
            if note:
                self._pending_notes[name] = note
            else:
                self._pending_notes.pop(name, None)
            return
        node = self.tasks[index]
        if node.note != note:
            self.tasks[index] = node.model_copy(update={"note": note})

    # ----------------------------------------------------------------------------------------
    # Inspectors

    def nodes(self) -> list[Node]:
        """The tasks, in the order added (a copy)."""
        return list(self.tasks)

    def transitions(self) -> list[Transition]:
        """The transitions, in the order added (a copy)."""
        return list(self.edges)

    def reducers(self) -> dict[str, Reducer]:
        """The reducer of each field that has one (a copy)."""
        return dict(self.field_reducers)

    def url_of(self, name: str) -> str:
        """The dispatch URL of task ``name``; ``END`` for ``END``; ``""`` for an unknown name."""
        if name == END:
            return END
        node = self._tables().by_name.get(name)
        return node.url if node is not None else ""

    def names_for_url(self, url: str) -> list[str]:
        """The names of the tasks dispatched to ``url``, in the order added."""
        return list(self._tables().by_url.get(url, []))

    def is_fan_in(self, name: str) -> bool:
        """Whether task ``name`` is marked as a fan-in."""
        node = self._tables().by_name.get(name)
        if node is None:
            return name in self._pending_fan_in
        return node.fan_in

    def is_fan_out_source(self, name: str) -> bool:
        """Whether task ``name`` fans out: it has two or more outgoing edges that are not
        goto/onError/switch, or any forEach edge."""
        return name in self._tables().fan_out_sources

    def annotation(self, name: str) -> str:
        """The note attached to task ``name`` with ``annotate``, or ``""``."""
        node = self._tables().by_name.get(name)
        if node is None:
            return self._pending_notes.get(name, "")
        return node.note

    # ----------------------------------------------------------------------------------------
    # Engine-facing helpers

    def node(self, name: str) -> Node | None:
        """The task named ``name``, or ``None``."""
        return self._tables().by_name.get(name)

    def resolve(self, name_or_url: str) -> str | None:
        """The task a reference denotes: a task name as is, else the single task whose URL it
        is; ``END`` as is; ``None`` when it names no task or a URL several tasks share."""
        tables = self._tables()
        return resolve_in(name_or_url, tables.by_name, tables.by_url)

    def outgoing(self, name: str) -> list[Transition]:
        """The transitions leaving task ``name``, in declaration order, with both endpoints
        resolved to task names (or ``END``)."""
        return list(self._tables().outgoing.get(name, ()))

    def has_fan_out(self) -> bool:
        """Whether any node is a fan-out source (engine-facing; cached with the lookups)."""
        return bool(self._tables().fan_out_sources)

    def fan_in_of(self, source: str) -> str | None:
        """The fan-in the branches of fan-out source ``source`` converge on, or ``None``.

        Computed by the lineage walk of ``validate()``, so it is available whether or not
        ``validate()`` was called; on an invalid graph it reflects the walk up to the first
        problem."""
        found = self._lineage().get(source)
        if found is None:
            found = self.fan_out_to_fan_in.get(source)
        return found

    # ----------------------------------------------------------------------------------------
    # Validation, JSON, rendering

    # BaseModel.validate is pydantic v1's deprecated classmethod, unused by pydantic itself; the
    # public API fixes this name, so it is overridden with an instance method.
    def validate(self) -> None:  # type: ignore[override]
        """Check the whole graph; raise ``BadRequestError`` naming the first problem found.

        On success, record each fan-out source's fan-in (``fanOutToFanIn`` in the JSON)."""
        from dwarf.workflow._validate import validate_graph

        self._apply_pending_marks()
        for name in sorted(self._pending_fan_in):
            raise BadRequestError(
                f"graph {self.name!r}: set_fan_in names {name!r}, which is not a task"
            )
        for name in sorted(self._pending_notes):
            raise BadRequestError(
                f"graph {self.name!r}: annotate names {name!r}, which is not a task"
            )
        self.fan_out_to_fan_in = validate_graph(self, implicit=frozenset(self._implicit))

    def to_json(self) -> str:
        """The graph as JSON text (docs/internals/routing.md#r1): fixed key order, empty
        optionals omitted, map keys sorted, so equal graphs give equal text. Marks naming no task
        are not written."""
        private = self.__pydantic_private__
        assert private is not None  # a model with private attributes always has the dict
        if not private["_frozen"]:
            return graph_to_json(self)
        text: str | None = private["_json"]
        if text is None:
            text = private["_json"] = graph_to_json(self)
        return text

    @classmethod
    def from_json(cls, text: str | bytes) -> Graph:
        """Read a graph written by ``to_json`` (or by hand in the same form).

        Raises ``BadRequestError`` naming the offending field for malformed JSON, an unknown or
        misspelt key, a value of the wrong type, or an unknown reducer. It does not validate the
        graph's structure: call ``validate()`` for that."""
        doc = read_graph_document(text)
        graph = cls(doc.name)
        graph.entry_point = doc.entry_point
        graph.tasks = doc.tasks
        graph.edges = doc.transitions
        graph.field_reducers = doc.reducers
        graph.fan_out_to_fan_in = doc.fan_out_to_fan_in
        graph.strict_routing = doc.strict_routing
        return graph

    def mermaid(self) -> str:
        """The graph as Mermaid ``flowchart TD`` text (deterministic; renders invalid graphs
        too, since a diagram is how one finds out why a graph is invalid)."""
        from dwarf.workflow._mermaid import render_graph

        return render_graph(self)

    # ----------------------------------------------------------------------------------------
    # Internals

    def _index_of(self, name_or_url: str) -> int | None:
        target = self.resolve(name_or_url)
        if target is None or target == END:
            return None
        for i, node in enumerate(self.tasks):
            if node.name == target:
                return i
        return None  # pragma: no cover - resolve() only returns known names

    def _apply_pending_marks(self) -> None:
        # A mark made before its task existed may name the task by URL; now that the graph is
        # complete, resolve it the way transition endpoints are resolved.
        for name in sorted(self._pending_fan_in):
            if self._index_of(name) is not None:
                self._pending_fan_in.discard(name)
                self.set_fan_in(name)
        for name, note in sorted(self._pending_notes.items()):
            if self._index_of(name) is not None:
                del self._pending_notes[name]
                self.annotate(name, note)

    def _endpoint(self, method: str, role: str, ref: str) -> str:
        _require(ref, f"{method}: {role}")
        resolved = self.resolve(ref)
        if resolved is not None:
            return resolved
        self.add_task(ref, ref)
        self._implicit.add(ref)
        return ref

    def _add_edge(self, method: str, src: str, dst: str, **flags: Any) -> None:
        edge = Transition(
            from_=self._endpoint(method, "source", src),
            to=self._endpoint(method, "target", dst),
            **flags,
        )
        if edge not in self.edges:  # settled detail 9: an identical edge is a no-op
            self.edges.append(edge)

    def freeze(self) -> Graph:
        """Promise that this graph will not change again, and return it (engine-facing).

        The engine freezes the graphs it parses from flows (frozen at create by definition), so
        its lookups skip the per-call check that the graph was not edited since they were
        derived. Editing a frozen graph afterwards is a bug with undefined lookup results.
        """
        self._frozen = True
        return self

    def _tables(self) -> GraphTables:
        # Read the private values from their dict: pydantic's __getattr__ for a private
        # attribute costs about 1.5 us, and a step's routing asks for the tables a few times.
        private = self.__pydantic_private__
        assert private is not None  # a model with private attributes always has the dict
        cached: GraphTables | None = private["_derived"]
        if cached is not None and private["_frozen"]:
            return cached
        if cached is not None and cached.describes(self.entry_point, self.tasks, self.edges):
            return cached
        cached = derive_tables(self.entry_point, self.tasks, self.edges)
        self._derived = cached
        self._lineage_memo = None
        return cached

    def _lineage(self) -> dict[str, str]:
        tables = self._tables()
        memo = self._lineage_memo
        if memo is not None and memo[0] is tables:
            return memo[1]
        from dwarf.workflow._validate import walk_lineage

        mapping, _problem = walk_lineage(self)
        self._lineage_memo = (tables, mapping)
        return mapping
