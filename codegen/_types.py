"""SQL type names -> Python types, the JSON column list, and the per-column override table.

Rules (docs/internals/codegen.md): integers -> int, floating/numeric -> float, text kinds and
JSON -> str (JSON travels as text both ways: the engine parses once, drivers do no magic),
timestamps -> timezone-aware UTC datetime. A name sqlc reports but this table does not know is an
error, never ``Any``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from codegen._model import GenerationError, PyBase, PyType

# Columns (and params) that hold JSON text. On PostgreSQL/MySQL they are JSON/JSONB; on SQLite and
# SQL Server they are TEXT/NVARCHAR, so the name is the only portable marker.
JSON_COLUMNS: Final = frozenset(
    {
        "graph",
        "baggage",
        "breakpoints",
        "state",
        "changes",
        "interrupt_payload",
        "resume_data",
        "subgraph_result",
        "final_state",
        # ClaimStepsWithFlows returns its flow's JSON columns beside the step's, prefixed.
        "flow_graph",
        "flow_baggage",
        "flow_breakpoints",
        "flow_final_state",
    }
)

# Computed result columns whose type sqlc cannot infer, keyed by (query, column): "int",
# "float | None", ... Applied in every dialect. Prefer a cast in the SQL; use this when a cast
# would cost something (e.g. defeat an index) or the dialects cannot agree on one.
COLUMN_OVERRIDES: Final[Mapping[tuple[str, str], str]] = {}

_INT = {
    "bigint",
    "int8",
    "bigserial",
    "serial8",
    "int",
    "int4",
    "integer",
    "serial",
    "serial4",
    "smallint",
    "int2",
    "smallserial",
    "serial2",
    "tinyint",
    "mediumint",
    "signed",
    "unsigned",
}
_FLOAT = {
    "double",
    "double precision",
    "float8",
    "float4",
    "float",
    "real",
    "numeric",
    "decimal",
}
_STR = {
    "text",
    "varchar",
    "character varying",
    "char",
    "character",
    "bpchar",
    "nvarchar",
    "nchar",
    "tinytext",
    "mediumtext",
    "longtext",
    "citext",
    "var_string",
    "json",
    "jsonb",
}
_DATETIME = {
    "timestamptz",
    "timestamp with time zone",
    "timestamp",
    "timestamp without time zone",
    "datetime",
    "datetime2",
}
_BOOL = {"bool", "boolean"}
UNKNOWN: Final = frozenset({"any", "anyarray", "anyelement", ""})
JSON_TYPES: Final = frozenset({"json", "jsonb"})


def normalize(type_name: str) -> str:
    """``pg_catalog.INT8`` -> ``int8``; ``bigint signed`` -> ``bigint``; ``varchar(16)`` ->
    ``varchar``; ``bigint[]`` -> ``bigint``."""
    name = type_name.strip().lower()
    if name.startswith("pg_catalog."):
        name = name[len("pg_catalog.") :]
    name = re.sub(r"\(.*?\)", "", name).replace("[]", "").strip()
    for suffix in (" signed", " unsigned"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def python_base(type_name: str) -> PyBase | None:
    """The Python base type of a SQL type name; None when it is unknown (sqlc's ``any``)."""
    name = normalize(type_name)
    if name in UNKNOWN:
        return None
    base = _BY_NAME.get(name)
    if base is None:
        raise GenerationError(f"unsupported SQL type {type_name!r}: map it in codegen/_types.py")
    return base


def _by_name() -> dict[str, PyBase]:
    table: dict[str, PyBase] = {}
    for name in _INT:
        table[name] = "int"
    for name in _FLOAT:
        table[name] = "float"
    for name in _STR:
        table[name] = "str"
    for name in _DATETIME:
        table[name] = "datetime"
    for name in _BOOL:
        table[name] = "bool"
    return table


_BY_NAME: Final = _by_name()
_PY_BASES: Final[dict[str, PyBase]] = {
    "int": "int",
    "float": "float",
    "str": "str",
    "datetime": "datetime",
    "bool": "bool",
}


def parse_annotation(text: str, where: str) -> PyType:
    """Parse an override like ``int | None``."""
    parts = [p.strip() for p in text.split("|")]
    nullable = "None" in parts
    bases = [p for p in parts if p != "None"]
    if len(bases) != 1 or bases[0] not in _PY_BASES:
        raise GenerationError(f"{where}: bad override type {text!r}")
    return PyType(_PY_BASES[bases[0]], nullable)
