"""A graph's JSON form: the contract a flow freezes its graph in.

``graph_to_json`` writes a fixed key order, omits empty optionals and sorts map keys, so equal
graphs give equal text; ``read_graph_document`` reads the same form strictly (unknown keys, wrong
types and unknown reducers are a ``BadRequestError`` naming the field, never a pydantic traceback),
and the pair round-trips exactly through ``Graph.to_json``/``Graph.from_json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dwarf.errors import BadRequestError
from dwarf.workflow._graph_elements import Node, Transition
from dwarf.workflow._json import dumps
from dwarf.workflow._reducers import Reducer

if TYPE_CHECKING:
    from dwarf.workflow._graph import Graph

__all__ = ["GraphDocument", "graph_to_json", "read_graph_document"]


class GraphDocument(BaseModel):
    """The JSON shape of a graph, read strictly: aliases only, no extra keys, exact types."""

    model_config = ConfigDict(
        extra="forbid", strict=True, validate_by_name=False, validate_by_alias=True
    )

    name: str
    entry_point: str = Field(default="", alias="entryPoint")
    tasks: list[Node] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)
    reducers: dict[str, Reducer] = Field(default_factory=dict)
    fan_out_to_fan_in: dict[str, str] = Field(default_factory=dict, alias="fanOutToFanIn")
    strict_routing: bool = Field(default=False, alias="strictRouting")


def graph_to_json(graph: Graph) -> str:
    """The graph as JSON text: fixed key order, empty optionals omitted, map keys sorted."""
    doc: dict[str, Any] = {
        "name": graph.name,
        "entryPoint": graph.entry_point,
        "tasks": [_node_dict(node) for node in graph.tasks],
        "transitions": [edge.to_dict() for edge in graph.edges],
    }
    if graph.field_reducers:
        doc["reducers"] = {k: str(graph.field_reducers[k]) for k in sorted(graph.field_reducers)}
    if graph.fan_out_to_fan_in:
        doc["fanOutToFanIn"] = {
            k: graph.fan_out_to_fan_in[k] for k in sorted(graph.fan_out_to_fan_in)
        }
    if graph.strict_routing:
        doc["strictRouting"] = True
    return dumps(doc)


def read_graph_document(text: str | bytes) -> GraphDocument:
    """Read the JSON form strictly; ``BadRequestError`` names the first offending field."""
    try:
        return GraphDocument.model_validate_json(text, strict=True, by_name=False)
    except ValidationError as exc:
        raise BadRequestError(f"graph JSON: {_describe(exc)}") from None


def _node_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.name, "url": node.url}
    if node.fan_in:
        out["fanIn"] = True
    if node.note:
        out["note"] = node.note
    return out


def _describe(exc: ValidationError) -> str:
    """One line naming the first problem of a failed JSON read (path, then what is wrong)."""
    error = exc.errors(include_url=False)[0]
    loc = error.get("loc", ())
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    kind = error.get("type", "")
    if kind == "json_invalid":
        return f"malformed JSON ({error.get('ctx', {}).get('error', error['msg'])})"
    if kind == "enum" and loc and loc[0] == "reducers":
        expected = ", ".join(r.value for r in Reducer)
        shown = repr(error.get("input"))[:60]
        return f"{path}: unknown reducer {shown} (expected one of {expected})"
    if kind == "extra_forbidden":
        return f"{path}: unknown key"
    if kind == "model_type" and not path:
        return "the graph must be a JSON object"
    message = str(error["msg"])
    return f"{path}: {message}" if path else message
