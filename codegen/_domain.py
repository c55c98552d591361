"""The domain view of the generated interface: exact types for flags and statuses, row names.

SQL stores a flag as a 0/1 integer and a status as text in every dialect, and parity compares
those SQL-level types. ``narrow`` then gives them their Python types, the same in every dialect
because every dialect takes the reference's types by then:

- a param or result column named in ``FLAG_COLUMNS`` is ``bool`` (it must be an integer in SQL);
- a param or result column named in ``STATUS_COLUMNS`` is ``dwarf.workflow.Status`` (it must be
  text), except a status param of a read (a statement that opens with SELECT): there it is a
  user's filter, where ``''`` switches the filter off, so it stays ``str``.

The accessors convert at the driver boundary (``_emit``): ``int(flag)`` and ``status.value``
when binding, ``bool(...)`` and ``Status(...)`` when reading, so the database sees exactly the
values it saw before.

``ROW_NAMES`` gives a row shape a domain name (``FlowRow``) instead of the automatic one
(``GetFlowRow``, after the shortest query returning it); ``row_classes`` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from codegen._model import Column, GenerationError, Param, PyType, Query, Ref
from codegen._sqltext import Dialect

# Columns and params holding a 0/1 flag: the flag columns of the schema (SMALLINT / TINYINT /
# INTEGER, which differ per dialect, so the name is the only portable marker), the fast paths'
# computed 0/1 results (COUNT over a write to one row by primary key) and their ``started`` switch,
# and the flow flag a claim returns with each claimed step (ClaimStepsWithFlows).
FLAG_COLUMNS: Final = frozenset(
    {
        "breakpoint_hit",
        "completed",
        "delete_on_completion",
        "finished",
        "flow_delete_on_completion",
        "interrupt_done",
        "started",
        "subgraph_done",
        "touched",
    }
)

# Columns and params holding a flow or step status (``dwarf.workflow.Status``); ``flow_`` names
# are a claimed step's flow, returned with it (ClaimStepsWithFlows).
STATUS_COLUMNS: Final = frozenset({"status", "flow_status"})

# Query name -> the name of its row class. The name covers every query of the same result shape,
# so one entry per shape suffices; queries not covered keep the automatic name.
ROW_NAMES: Final[Mapping[str, str]] = {
    "GetCohort": "CohortRow",
    "ListLeasedSteps": "LeasedStepRow",
    "GetStepInput": "StepInputRow",
    "GetEntrySchedule": "EntryScheduleRow",
    "GetFlow": "FlowRow",
    "GetInterruptedSteps": "InterruptedStepRow",
    "GetStep": "StepRow",
    "GetStepSchedule": "StepScheduleRow",
    "ListChildFlowsOf": "ChildFlowRow",
    "ListCohortPage": "CohortPageRow",
    "ListStepChanges": "StepChangesRow",
    "ListFlows": "FlowSummaryRow",
    "ListStepDAG": "StepNodeRow",
    "ListStepsForCopy": "StepCopyRow",
    "ListStepsOfFlows": "StepSummaryRow",
    "ListSubgraphLinks": "SubgraphLinkRow",
    "SelectClaimedSteps": "ClaimedStepRow",
    "SelectDueBand": "DueStepRow",
    "SelectPurgeCandidates": "PurgeCandidateRow",
    "SelectTailSteps": "TailStepRow",
}


def narrow(
    resolved: Mapping[Dialect, Mapping[str, Query]], reference: Mapping[str, Query]
) -> dict[Dialect, dict[str, Query]]:
    """Every query with flags as ``bool`` and statuses as ``Status`` (see the module doc)."""
    errors: list[str] = []
    out: dict[Dialect, dict[str, Query]] = {}
    for dialect, queries in resolved.items():
        out[dialect] = {}
        for name, query in queries.items():
            reads = _is_read(reference[name])
            where = f"{dialect}: {name}"
            params = tuple(_param(p, reads, where, errors) for p in query.params)
            columns = tuple(_column(c, where, errors) for c in query.columns)
            out[dialect][name] = replace(query, params=params, columns=columns)
    if errors:
        raise GenerationError("\n".join(sorted(set(errors))))
    return out


def _is_read(query: Query) -> bool:
    first = next((s for s in query.template if not isinstance(s, Ref)), "")
    words = first.split()
    return bool(words) and words[0].lower() == "select"


def _narrowed(ptype: PyType | None, name: str, what: str, errors: list[str]) -> PyType | None:
    if ptype is None:
        return None
    if name in FLAG_COLUMNS:
        if ptype.base not in ("int", "bool"):
            errors.append(f"{what} {name} is a flag (FLAG_COLUMNS) but {ptype.base} in SQL")
        return PyType("bool", ptype.nullable)
    if name in STATUS_COLUMNS:
        if ptype.base != "str":
            errors.append(f"{what} {name} is a status (STATUS_COLUMNS) but {ptype.base} in SQL")
        return PyType("Status", ptype.nullable)
    return ptype


def _param(param: Param, reads: bool, where: str, errors: list[str]) -> Param:
    if reads and param.name in STATUS_COLUMNS:
        return param  # a user's filter: '' switches it off
    ptype = _narrowed(param.type, param.name, f"{where}: param", errors)
    if ptype != param.type and param.is_list:
        errors.append(f"{where}: list param {param.name} cannot be a {ptype and ptype.base}")
    return replace(param, type=ptype)


def _column(column: Column, where: str, errors: list[str]) -> Column:
    return replace(column, type=_narrowed(column.type, column.name, f"{where}: column", errors))


def row_classes(reference: Mapping[str, Query]) -> dict[str, str]:
    """Query name -> row class name for queries returning rows (one class per distinct shape).

    A shape takes the name ``ROW_NAMES`` gives any of its queries, else the shortest query's name
    plus ``Row``. Two names for one shape, one name for two shapes, or a name for a query that
    returns no row class is an error.
    """
    shapes: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for name in sorted(reference):
        query = reference[name]
        if _has_row_class(query):
            shapes.setdefault(_shape(query), []).append(name)
    names = ROW_NAMES  # a module global, looked up per call: the generator's tests swap it
    errors: list[str] = []
    for name in sorted(names):
        if name not in reference or not _has_row_class(reference[name]):
            errors.append(f"row name {names[name]}: query {name} returns no row class")
    out: dict[str, str] = {}
    owners: dict[str, list[str]] = {}
    for queries in shapes.values():
        given = sorted({names[n] for n in queries if n in names})
        if len(given) > 1:
            errors.append(f"queries {', '.join(queries)} share one row shape named {given}")
        cls = given[0] if given else f"{min(queries, key=lambda n: (len(n), n))}Row"
        if cls in owners:
            errors.append(
                f"row {cls} has different columns in {', '.join(owners[cls])}"
                f" and {', '.join(queries)}"
            )
        owners[cls] = queries
        for name in queries:
            out[name] = cls
    if errors:
        raise GenerationError("\n".join(errors))
    return out


def _has_row_class(query: Query) -> bool:
    if query.kind == ":many":
        return True
    return query.kind == ":one" and not query.returns_insert_id and len(query.columns) > 1


def _shape(query: Query) -> tuple[tuple[str, str], ...]:
    for column in query.columns:
        if column.type is None:
            raise GenerationError(f"{query.name}: column {column.name} has no type")
    return tuple((c.name, c.type.annotation) for c in query.columns if c.type is not None)
