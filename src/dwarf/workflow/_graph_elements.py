"""The elements a graph is made of: its tasks (``Node``), its edges (``Transition``) and ``END``.

They are frozen pydantic models: a builder replaces one rather than mutating it, which is what lets
``Graph`` memoise its lookup tables on the identity of the objects it holds. Field aliases are the
JSON keys of the graph form (``fanIn``, ``from``, ``withGoto``...); Python names are accepted too.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["END", "Node", "Transition", "TransitionKind"]

END: Final = "END"
"""The terminal pseudo-node: a transition to ``END`` ends the path; it is never a task."""

TransitionKind = Literal["plain", "when", "switch", "goto", "for_each", "on_error"]


class Node(BaseModel):
    """A task of the graph: its ``name`` (its identity in the graph and on step rows) and the
    ``url`` the engine dispatches it to. ``fan_in`` marks a convergence node; ``note`` is a short
    annotation rendered under the node in Mermaid. An empty ``url`` means the name is the URL."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    name: str
    url: str = ""
    fan_in: bool = Field(default=False, alias="fanIn")
    note: str = ""

    @model_validator(mode="after")
    def _url_defaults_to_name(self) -> Node:
        if not self.url:
            # Frozen: write through object.__setattr__, the documented way for after-validators.
            object.__setattr__(self, "url", self.name)
        return self


class Transition(BaseModel):
    """An edge of the graph. ``from_``/``to`` are task names (``to`` may be ``END``).

    At most one flavour applies: ``when`` (taken iff the expression holds), ``switch`` (first match
    wins among the source's switch edges), ``with_goto`` (taken only by ``flow.goto``),
    ``for_each``/``as_`` (one branch per element of a state array) or ``on_error`` (taken when the
    source task fails). None of them is a plain, unconditional edge."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True
    )

    from_: str = Field(alias="from")
    to: str
    when: str = ""
    with_goto: bool = Field(default=False, alias="withGoto")
    for_each: str = Field(default="", alias="forEach")
    as_: str = Field(default="", alias="as")
    on_error: bool = Field(default=False, alias="onError")
    switch: bool = False

    @property
    def kind(self) -> TransitionKind:
        """The edge's flavour, for routing and rendering.

        A hand-written edge may carry several flags (``validate`` rejects the bad mixes); the
        order here is the order in which the engine lets them pre-empt each other."""
        if self.on_error:
            return "on_error"
        if self.with_goto:
            return "goto"
        if self.switch:
            return "switch"
        if self.for_each:
            return "for_each"
        if self.when:
            return "when"
        return "plain"

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this edge, in the fixed key order, empty optionals omitted."""
        out: dict[str, Any] = {"from": self.from_, "to": self.to}
        if self.when:
            out["when"] = self.when
        if self.with_goto:
            out["withGoto"] = True
        if self.for_each:
            out["forEach"] = self.for_each
        if self.as_:
            out["as"] = self.as_
        if self.on_error:
            out["onError"] = True
        if self.switch:
            out["switch"] = True
        return out
